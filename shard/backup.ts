/**
 * Backup and restore: `exportStore` streams every live key as checksummed NDJSON and
 * `importStore` verifies such a stream and loads it into any backend.
 *
 * Format (UTF-8, one JSON object per `\n`-terminated line, version 1):
 * - header: `{"format":"shardkv-backup","version":1,"exportedAt":<ms>,"crc":"<hex>"}`
 * - one line per key, in key order:
 *   `{"n":<1-based record number>,"k":<key>,"v":<value, base64>,"e":<expiry ms or null>,"crc":"<hex>"}`
 *   where `e` is the absolute expiry time on the exporter's clock;
 * - trailer: `{"end":true,"records":<count>,"stream":"<hex>","crc":"<hex>"}`.
 *
 * Every line ends in `,"crc":"xxxxxxxx"}`: the CRC-32 (IEEE) of the line's bytes before that
 * suffix. `stream` is the CRC-32 of every byte before the trailer line. A stream with no
 * trailer is truncated and is refused like any other corruption.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { describe } from "../core/validate.ts";
import { readManifest } from "./manifest.ts";
import { openStore, type StoreOptions } from "./open_store.ts";
import {
  copyRecords,
  type LiveRecord,
  liveRecords,
  recoverReshard,
  replaceLayout,
} from "./reshard.ts";
import type { Store } from "../core/engine.ts";

/** Options of {@linkcode exportStore}. */
export interface ExportOptions {
  /** Called after every page of records with the number written so far. */
  onProgress?: (records: number) => void;
  /** Clock used to turn remaining TTLs into expiry times (default `Date.now`). */
  now?: () => number;
}

/** Options of {@linkcode importStore}: the options of a new store, plus progress. */
export interface ImportOptions extends StoreOptions {
  /** Called after every page of loaded records with the number loaded so far. */
  onProgress?: (records: number) => void;
}

/**
 * A backup stream failed verification: bad JSON, a checksum mismatch, a record out of order,
 * a missing trailer. Nothing from it was made visible.
 *
 * @example
 * ```ts
 * import { CorruptBackupError } from "@shardkv/shardkv";
 * new CorruptBackupError(3, "checksum mismatch").record; // 3
 * ```
 */
export class CorruptBackupError extends Error {
  /** Always `"CorruptBackupError"`. */
  override readonly name = "CorruptBackupError";
  /** Position of the offending line: 0 for the header, n for record n, count + 1 for the trailer. */
  readonly record: number;
  /** Creates the error for the line at position `record`. */
  constructor(record: number, problem: string, options?: ErrorOptions) {
    super(`Backup is corrupt at record ${record} (line ${record + 1}): ${problem}`, options);
    this.record = record;
  }
}

const FORMAT = "shardkv-backup";
const VERSION = 1;
/** Records are written in chunks of about this many bytes. */
const CHUNK = 64 * 1024;
/** A line longer than this (a 16 MiB value in base64 is ~22.4 MB) cannot be valid. */
const MAX_LINE = 32 * 1024 * 1024;
const CRC_SUFFIX = 18; // ,"crc":"xxxxxxxx"}

/**
 * Streams every live key, value and expiry of the store at `path` (or of an open `Store`) to
 * `writable` as checksummed NDJSON, then closes `writable`. A path is opened and closed here.
 *
 * @example
 * ```ts
 * import { exportStore } from "@shardkv/shardkv";
 * const chunks: Uint8Array[] = [];
 * const { records } = await exportStore("./data", new WritableStream({ write: (c) => { chunks.push(c); } }));
 * ```
 */
export async function exportStore(
  path: string | Store,
  writable: WritableStream<Uint8Array>,
  options: ExportOptions = {},
): Promise<{ records: number }> {
  if (!(writable instanceof WritableStream)) {
    throw new TypeError(`writable must be a WritableStream, received ${describe(writable)}`);
  }
  const { onProgress, now = Date.now } = checkOptions(options);
  const store = await storeAt(path);
  const writer = writable.getWriter();
  try {
    const out = new LineWriter(writer);
    await out.line(`{"format":"${FORMAT}","version":${VERSION},"exportedAt":${now()}`);
    let n = 0;
    for await (const r of liveRecords(store, now)) {
      n++;
      await out.line(
        `{"n":${n},"k":${JSON.stringify(r.key)},"v":"${
          Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength).toString("base64")
        }","e":${r.expiresAt}`,
      );
      if (n % 256 === 0) onProgress?.(n);
    }
    await out.line(`{"end":true,"records":${n},"stream":"${hex(out.crc)}"`);
    await out.flush();
    onProgress?.(n);
    await writer.close();
    return { records: n };
  } catch (e) {
    await writer.abort(e).catch(() => {});
    throw e;
  } finally {
    if (typeof path === "string") await store.close();
  }
}

/**
 * Verifies a stream written by {@linkcode exportStore} and loads it into the store at `path`
 * (or into an open `Store`). Records already expired are verified but not loaded.
 *
 * Nothing becomes visible before the whole stream has verified: records are staged in a
 * build directory inside `path` (in memory for a `Store` target). A missing or empty store at
 * `path` is then switched in atomically (crash-safe, like `reshard`); an existing store, or a
 * `Store` target, then receives the records key by key (last write wins per key). A corrupt
 * stream throws {@linkcode CorruptBackupError} and leaves the target unchanged.
 *
 * @example
 * ```ts
 * import { importStore } from "@shardkv/shardkv";
 * import { Readable } from "node:stream";
 * import { createReadStream } from "node:fs";
 * const stream = Readable.toWeb(createReadStream("backup.ndjson")) as ReadableStream<Uint8Array>;
 * await importStore("./restored", stream, { shards: 16 });
 * ```
 */
export async function importStore(
  path: string | Store,
  readable: ReadableStream<Uint8Array>,
  options: ImportOptions = {},
): Promise<{ records: number }> {
  if (!(readable instanceof ReadableStream)) {
    throw new TypeError(`readable must be a ReadableStream, received ${describe(readable)}`);
  }
  const { onProgress, ...storeOptions } = checkOptions(options);
  const now = storeOptions.now ?? Date.now;
  if (typeof path !== "string") {
    checkStore(path);
    const staging = await openStore("", { backend: "memory", shards: 1, now });
    try {
      const records = await copyRecords(readBackup(readable), staging, { now });
      await copyRecords(liveRecords(staging, now), path, { now, onProgress });
      return { records };
    } finally {
      await staging.close();
    }
  }
  if (storeOptions.backend === "memory") {
    throw new TypeError(
      `A memory store keeps nothing at a path; open it first and pass the Store to importStore`,
    );
  }
  if (path === "") throw new TypeError(`path must be a non-empty directory path, received ""`);
  await recoverReshard(path);
  const manifest = await readManifest(path);
  let records = 0;
  if (manifest === undefined) {
    await replaceLayout(path, storeOptions, {
      fill: async (staging) => {
        records = await copyRecords(readBackup(readable), staging, { now, onProgress });
        return true;
      },
    });
    return { records };
  }
  const target = await openStore(path, storeOptions);
  try {
    // An existing store keeps its layout: the build directory is only a staging area.
    await replaceLayout(path, { shards: 1, backend: "sqlite", now }, {
      fill: async (staging) => {
        records = await copyRecords(readBackup(readable), staging, { now });
        await copyRecords(liveRecords(staging, now), target, { now, onProgress });
        return false;
      },
    });
  } finally {
    await target.close();
  }
  return { records };
}

function checkOptions<T extends ExportOptions>(options: T): T {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Options must be an object, received ${describe(options)}`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw new TypeError(`onProgress must be a function, received ${describe(options.onProgress)}`);
  }
  if (options.now !== undefined && typeof options.now !== "function") {
    throw new TypeError(`now must be a function, received ${describe(options.now)}`);
  }
  return options;
}

async function storeAt(path: string | Store): Promise<Store> {
  if (typeof path === "string") {
    if (path === "") throw new TypeError(`path must be a non-empty directory path, received ""`);
    if ((await readManifest(path)) === undefined) {
      throw new Error(`No shardkv store at "${path}"; nothing to export`);
    }
    return await openStore(path);
  }
  return checkStore(path);
}

function checkStore(store: Store): Store {
  if (typeof store !== "object" || store === null || typeof store.entries !== "function") {
    throw new TypeError(`Expected a store path or a Store, received ${describe(store)}`);
  }
  return store;
}

/** Appends the CRC suffix to each line, buffers lines into chunks and tracks the stream CRC. */
class LineWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #encoder = new TextEncoder();
  #parts: Uint8Array[] = [];
  #size = 0;
  crc = 0;

  constructor(writer: WritableStreamDefaultWriter<Uint8Array>) {
    this.#writer = writer;
  }

  async line(body: string): Promise<void> {
    const head = this.#encoder.encode(body);
    const tail = this.#encoder.encode(`,"crc":"${hex(crc32(head))}"}\n`);
    this.crc = crc32(tail, crc32(head, this.crc));
    this.#parts.push(head, tail);
    this.#size += head.length + tail.length;
    if (this.#size >= CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#size === 0) return;
    const chunk = new Uint8Array(this.#size);
    let at = 0;
    for (const p of this.#parts) {
      chunk.set(p, at);
      at += p.length;
    }
    this.#parts = [];
    this.#size = 0;
    await this.#writer.write(chunk);
  }
}

/** Parses and verifies a backup stream, yielding its records; throws on the first problem. */
async function* readBackup(readable: ReadableStream<Uint8Array>): AsyncGenerator<LiveRecord> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let position = 0;
  let streamCrc = 0;
  let ended = false;
  for await (const line of lines(readable)) {
    if (ended) throw new CorruptBackupError(position, "data after the trailer");
    const fields = verifyLine(line, position, decoder);
    if (position === 0) {
      if (fields.format !== FORMAT || fields.version !== VERSION) {
        throw new CorruptBackupError(
          0,
          `not a ${FORMAT} version ${VERSION} header, received ${
            JSON.stringify(fields).slice(0, 100)
          }`,
        );
      }
    } else if (fields.end === true) {
      if (fields.records !== position - 1) {
        throw new CorruptBackupError(
          position,
          `trailer counts ${fields.records} records, the stream holds ${position - 1}`,
        );
      }
      if (fields.stream !== hex(streamCrc)) {
        throw new CorruptBackupError(
          position,
          `stream checksum ${fields.stream} does not match the data (${hex(streamCrc)})`,
        );
      }
      ended = true;
    } else {
      yield toRecord(fields, position);
    }
    streamCrc = crc32(line.newline, crc32(line.bytes, streamCrc));
    position++;
  }
  if (!ended) {
    throw new CorruptBackupError(position, "the stream ends without a trailer (truncated)");
  }
}

const NEWLINE = new Uint8Array([10]);

/** The lines of a byte stream (without their `\n`); a last line without `\n` is still yielded. */
async function* lines(
  readable: ReadableStream<Uint8Array>,
): AsyncGenerator<{ bytes: Uint8Array; newline: Uint8Array }> {
  let pending = new Uint8Array(0);
  for await (const chunk of readable as unknown as AsyncIterable<Uint8Array>) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`readable must yield Uint8Array chunks, received ${describe(chunk)}`);
    }
    let buf = chunk;
    if (pending.length > 0) {
      buf = new Uint8Array(pending.length + chunk.length);
      buf.set(pending);
      buf.set(chunk, pending.length);
    }
    let start = 0;
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, start)) {
      yield { bytes: buf.subarray(start, nl), newline: NEWLINE };
      start = nl + 1;
    }
    pending = buf.slice(start);
    if (pending.length > MAX_LINE) pending = new Uint8Array(0); // verifyLine refuses it below
  }
  if (pending.length > 0) yield { bytes: pending, newline: new Uint8Array(0) };
}

/** Checks a line's CRC suffix and parses it. */
function verifyLine(
  line: { bytes: Uint8Array },
  position: number,
  decoder: TextDecoder,
): Record<string, unknown> {
  const bytes = line.bytes;
  if (bytes.length <= CRC_SUFFIX || bytes.length > MAX_LINE) {
    throw new CorruptBackupError(position, `line of ${bytes.length} bytes is not a record`);
  }
  const body = bytes.subarray(0, bytes.length - CRC_SUFFIX);
  let suffix: string;
  let text: string;
  try {
    suffix = decoder.decode(bytes.subarray(bytes.length - CRC_SUFFIX));
    text = decoder.decode(body);
  } catch (e) {
    throw new CorruptBackupError(position, "line is not valid UTF-8", { cause: e });
  }
  const m = /^,"crc":"([0-9a-f]{8})"\}$/.exec(suffix);
  if (m === null) throw new CorruptBackupError(position, `line does not end in a checksum`);
  if (m[1] !== hex(crc32(body))) {
    throw new CorruptBackupError(
      position,
      `checksum mismatch (line says ${m[1]}, data gives ${hex(crc32(body))})`,
    );
  }
  try {
    const fields = JSON.parse(text + "}");
    if (typeof fields === "object" && fields !== null) return fields;
  } catch (e) {
    throw new CorruptBackupError(position, "line is not a JSON object", { cause: e });
  }
  throw new CorruptBackupError(position, "line is not a JSON object");
}

function toRecord(fields: Record<string, unknown>, position: number): LiveRecord {
  const { n, k, v, e } = fields;
  if (n !== position) {
    throw new CorruptBackupError(position, `expected record number ${position}, received ${n}`);
  }
  if (typeof k !== "string" || k === "" || !k.isWellFormed()) {
    throw new CorruptBackupError(position, `key is not a valid key, received ${describe(k)}`);
  }
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw new CorruptBackupError(position, `value is not base64`);
  }
  if (e !== null && !Number.isSafeInteger(e)) {
    throw new CorruptBackupError(position, `expiry must be null or an integer, received ${e}`);
  }
  const b = Buffer.from(v, "base64");
  return {
    key: k,
    value: new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
    expiresAt: e as number | null,
  };
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3) of `bytes`, continuing from `crc` (0 to start). */
function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
