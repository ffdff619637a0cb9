/**
 * The `"deno-kv"` backend: one Deno KV database file per shard, through `Deno.openKv` on Deno
 * and the npm package `@deno/kv` on Bun. Keys are stored as their UTF-8 bytes, so Deno KV's
 * order is the store's order. Values up to 16 MiB are split into chunks behind a head record
 * that only changes once every chunk is written; TTLs, entry versions and a CRC-32 of key and
 * value (checked on every read: a mismatch is a `CorruptStoreError` naming the key) are kept in
 * the head. Deno KV's failures become `StorageFullError`, `StorageError` or `CorruptStoreError`
 * with the shard and file, the same on every runtime; a shard found damaged refuses writes.
 * Deno KV's own background task aborts the whole process (Deno 2.9; `@deno/kv` on Bun and Node)
 * when a statement it runs right after opening a file fails: before Deno KV opens an existing
 * file, those statements run through a read-only SQLite connection, so damage on their pages is
 * a `CorruptStoreError` instead. The task runs them again about every minute: damage that
 * appears there while the shard is open still aborts the process. Keep backups and run
 * `verifyStore`.
 *
 * @module
 */
import { stat } from "node:fs/promises";
import type { Driver } from "../core/driver.ts";
import { Engine } from "../core/engine.ts";
import type { StorageBackend } from "../core/types.ts";
import { type DenoKv, openKv } from "./_deno_kv_api.ts";
import { kvErrorOf } from "./_deno_kv_errors.ts";
import { createDenoKvBackend } from "./_deno_kv_backend.ts";
import { checkBeforeDenoKv } from "./_deno_kv_open_check.ts";

/** Options of {@linkcode openDenoKvBackend}. */
export interface DenoKvBackendOptions {
  /** Clock in ms used for TTLs (default `Date.now`). */
  now?: () => number;
  /**
   * The index of this shard in its store, named (with the file) by the storage errors it
   * throws: `StorageFullError`, `StorageError`, `CorruptStoreError` (default 0).
   */
  shard?: number;
}

/**
 * Opens (creating if needed) one Deno KV shard file. On Deno this needs the `kv` unstable
 * feature; on Bun it needs the npm package `@deno/kv`.
 *
 * @example
 * ```ts
 * import { openDenoKvBackend } from "@shardkv/shardkv/deno-kv";
 * const shard = await openDenoKvBackend("./one-shard.kv");
 * await shard.set("a", new Uint8Array([1]));
 * await shard.close();
 * ```
 */
export async function openDenoKvBackend(
  path: string,
  options: DenoKvBackendOptions = {},
): Promise<StorageBackend> {
  const now = options.now ?? Date.now;
  const driver = await openDenoKvDriver(path, { now, shard: options.shard });
  return new Engine({ path: "", backend: "deno-kv", drivers: [driver], now });
}

/**
 * Opens (creating if needed) the driver of one Deno KV shard file, for `openStore`'s `backend`
 * factory or a wrapper around it.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { openDenoKvDriver } from "@shardkv/shardkv/deno-kv";
 * const store = await openStore("./wrapped-kv", {
 *   backend: (shardPath) => openDenoKvDriver(`${shardPath}.denokv`),
 * });
 * ```
 */
export async function openDenoKvDriver(
  path: string,
  options: DenoKvBackendOptions = {},
): Promise<Driver> {
  const where = { shard: options.shard ?? 0, path };
  let kv: DenoKv;
  try {
    // An existing file: the pages Deno KV's background task reads first are checked here, where
    // damage is an error instead of a process abort.
    if ((await stat(path).catch(() => undefined))?.size) await checkBeforeDenoKv(where);
    kv = await openKv(path);
  } catch (e) {
    throw kvErrorOf(e, where);
  }
  try {
    return await createDenoKvBackend(kv, { now: options.now ?? Date.now, where });
  } catch (e) {
    kv.close();
    throw e;
  }
}
