/**
 * The backup record format (version 1, see `backup.ts`): NDJSON lines each ending in a CRC-32
 * suffix, written by {@linkcode LineWriter} and parsed and verified by {@linkcode readBackup}.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { describe } from "../core/validate.ts";
import { crc32, hex } from "./_backup_crc.ts";
import type { LiveRecord } from "./reshard.ts";

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

export const FORMAT = "shardkv-backup";
export const VERSION = 1;
/** Records are written in chunks of about this many bytes. */
const CHUNK = 64 * 1024;
/** A line longer than this (a 16 MiB value in base64 is ~22.4 MB) cannot be valid. */
const MAX_LINE = 32 * 1024 * 1024;
const CRC_SUFFIX = 18; // ,"crc":"xxxxxxxx"}

/** Appends the CRC suffix to each line, buffers lines into chunks and tracks the stream CRC. */
export class LineWriter {
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
export async function* readBackup(
  readable: ReadableStream<Uint8Array>,
): AsyncGenerator<LiveRecord> {
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
