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
import { hex } from "./_backup_crc.ts";
import { CorruptBackupError, FORMAT, LineWriter, readBackup, VERSION } from "./_backup_format.ts";
import { describe } from "../core/validate.ts";
import { readManifest } from "./manifest.ts";
import { openStore, type StoreOptions } from "./open_store.ts";
import { copyRecords, liveRecords, recoverReshard, replaceLayout } from "./reshard.ts";
import type { Store } from "../core/engine.ts";

export { CorruptBackupError };

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
