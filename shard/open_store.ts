/**
 * `openStore`: opens (or creates) a sharded store directory.
 *
 * @module
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  BackendMismatchError,
  CorruptStoreError,
  MissingManifestError,
  ShardCountMismatchError,
  StorageError,
} from "../core/errors.ts";
import { checkLruCacheOptions, type LruCacheOptions } from "../core/lru_cache.ts";
import { isShardBackend, type ShardBackend } from "../core/_shard_backend.ts";
import type { Durability, StorageBackend } from "../core/types.ts";
import { describe } from "../core/validate.ts";
import { checkSqliteFile, hasSqliteCode } from "../backends/_sqlite_driver.ts";
import { CustomShard } from "./_custom_backend.ts";
import {
  CREATING_FILE,
  FORMAT_VERSION,
  HASH_NAME,
  readManifest,
  writeManifest,
} from "./manifest.ts";
import { unrefScheduler } from "./_scheduler.ts";
import {
  type BackendName,
  BUILTIN_BACKENDS,
  isBackendName,
  SHARD_FILE_EXTENSION,
} from "./_builtin_backends.ts";
import type { RedisBackendOptions } from "../backends/_redis_client.ts";
import { ShardedStore, type Store } from "./sharded_store.ts";
import { recoverReshard } from "./reshard.ts";

export type { BackendName };

/** Opens the backend of one shard: a user-supplied adapter. */
export type BackendFactory = (shardPath: string, shardIndex: number) => Promise<StorageBackend>;

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /**
   * Shard count, 1..256. New store: default {@linkcode DEFAULT_SHARDS}. Existing store: taken
   * from its manifest; a different value throws `ShardCountMismatchError`.
   */
  shards?: number;
  /** `"sqlite"` (default for new stores), `"deno-kv"`, `"memory"`, or a factory. */
  backend?: BackendName | BackendFactory;
  /** `false` (default) or the limits of an LRU cache of read results. */
  cache?: false | LruCacheOptions;
  /** `"normal"` (default), `"relaxed"` or `"full"`; see the README for what each survives. */
  durability?: Durability;
  /** Clock in ms used for TTLs (default `Date.now`). */
  now?: () => number;
  /**
   * `"sqlite"` only: host the shards in this many worker threads (0..64, default 0: in the
   * calling thread). Calls of one event-loop turn cross to a worker as one message.
   */
  workers?: number;
  /**
   * Where the `"redis"` backend connects (`{ url }` or cluster `{ nodes }`). Its store keeps
   * the manifest in Redis, and `path` names the store there.
   */
  redis?: RedisBackendOptions;
}

/** Shard count of a new store when `shards` is not given. */
export const DEFAULT_SHARDS = 16;

/**
 * Opens the store at `path`, creating it when missing. The directory holds a manifest
 * (`shardkv.json`) and one file per shard; the memory backend uses neither.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * const store = await openStore("./data", { shards: 16 });
 * await store.set("user:1", new TextEncoder().encode("Ada"));
 * await store.close();
 * ```
 */
export async function openStore(path: string, options: StoreOptions = {}): Promise<Store> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Options must be an object, received ${describe(options)}`);
  }
  const { shards, backend, cache = false, durability = "normal", now = Date.now } = options;
  if (shards !== undefined && (!Number.isInteger(shards) || shards < 1 || shards > 256)) {
    throw new RangeError(`shards must be an integer from 1 to 256, received ${describe(shards)}`);
  }
  if (
    backend !== undefined && typeof backend !== "function" && !isBackendName(backend)
  ) {
    throw new TypeError(
      `backend must be "sqlite", "deno-kv", "memory", "redis" or a factory function, received ${
        describe(backend)
      }`,
    );
  }
  if (!["relaxed", "normal", "full"].includes(durability)) {
    throw new RangeError(
      `durability must be "relaxed", "normal" or "full", received ${describe(durability)}`,
    );
  }
  if (typeof now !== "function") {
    throw new TypeError(`now must be a function, received ${describe(now)}`);
  }
  const { workers = 0 } = options;
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
    throw new RangeError(`workers must be an integer from 0 to 64, received ${describe(workers)}`);
  }
  if (workers > 0 && backend !== undefined && backend !== "sqlite") {
    throw new TypeError(`workers needs the "sqlite" backend, received ${describe(backend)}`);
  }
  if (cache !== false && (typeof cache !== "object" || cache === null)) {
    throw new TypeError(`cache must be false or an object, received ${describe(cache)}`);
  }
  if (cache !== false) checkLruCacheOptions(cache);
  const init = { durability, now, redis: options.redis };

  if (backend === "memory") {
    const count = shards ?? DEFAULT_SHARDS;
    const opened = await openShards(count, () => BUILTIN_BACKENDS.memory("", init), now);
    return assemble(path, "memory", opened, {
      cache,
      now,
    });
  }

  if (backend === "redis") {
    const { openRedisShards } = await import("../backends/_redis_backend.ts");
    const opened = await openRedisShards(path, {
      shards,
      defaultShards: DEFAULT_SHARDS,
      now,
      redis: options.redis,
    });
    return assemble(path, "redis", opened, { cache, now });
  }

  if (typeof path !== "string" || path === "") {
    throw new TypeError(`path must be a non-empty directory path, received ${describe(path)}`);
  }
  const requested = typeof backend === "function" ? "custom" : backend;
  // Finishes (or discards) a reshard or import that a crash interrupted.
  await recoverReshard(path);
  // Listed before the manifest is read: a creator writes its marker before any shard file and
  // removes it only after the manifest, so shard files seen here without the marker mean the
  // manifest exists or was lost.
  const listing = await readdir(path).catch(() => [] as string[]);
  const manifest = await readManifest(path);
  if (manifest === undefined && !listing.includes(CREATING_FILE)) {
    const found = listing.filter((n) => SHARD_FILE.test(n)).sort();
    if (found.length > 0) throw new MissingManifestError(path, found);
  }
  if (manifest !== undefined) {
    if (shards !== undefined && shards !== manifest.shards) {
      throw new ShardCountMismatchError(path, { expected: manifest.shards, received: shards });
    }
    if (requested !== undefined && requested !== manifest.backend) {
      throw new BackendMismatchError(path, { expected: manifest.backend, received: requested });
    }
  }
  const name = manifest?.backend ?? requested ?? "sqlite";
  const count = manifest?.shards ?? shards ?? DEFAULT_SHARDS;
  let factory: BackendFactory;
  if (typeof backend === "function") factory = backend;
  else if (workers > 0 && name === "sqlite") {
    const { WorkerPool } = await import("../backends/_worker_pool.ts");
    const pool = new WorkerPool({
      workers: Math.min(workers, count),
      backend: name,
      durability,
      create: manifest === undefined,
    });
    factory = (shardPath, i) => pool.open(shardPath, i, now);
  } else if (isBackendName(name)) {
    const create = manifest === undefined;
    factory = (shardPath, shard) => BUILTIN_BACKENDS[name](shardPath, { ...init, shard, create });
  } else {
    throw new TypeError(
      `Store at "${path}" was created with a custom backend; pass its factory as options.backend`,
    );
  }
  if (manifest === undefined) {
    await mkdir(path, { recursive: true });
    await writeFile(join(path, CREATING_FILE), "");
  }
  const shardPath = (i: number): string => join(path, `shard-${String(i).padStart(3, "0")}`);
  const extension = SHARD_FILE_EXTENSION[name as BackendName];
  if (manifest !== undefined && extension !== undefined) {
    // Both file backends keep SQLite files: a missing or empty one would open as empty.
    await Promise.all(
      Array.from(
        { length: count },
        (_, i) =>
          checkSqliteFile(`${shardPath(i)}${extension}`, {
            shard: i,
            path: `${shardPath(i)}${extension}`,
          }),
      ),
    );
  }
  const opened = await openShards(count, async (i) => {
    try {
      return await factory(shardPath(i), i);
    } catch (e) {
      if (e instanceof StorageError || manifest === undefined || !isCorruption(e)) throw e;
      throw new CorruptStoreError(`cannot be opened: ${(e as Error).message}`, {
        shard: i,
        path: `${shardPath(i)}${extension ?? ""}`,
      }, { cause: e });
    }
  }, now);
  // Written last: a manifest means every shard file exists, so a missing one is damage.
  if (manifest === undefined) {
    await writeManifest(path, {
      format: FORMAT_VERSION,
      backend: name,
      shards: count,
      hash: HASH_NAME,
    });
    await rm(join(path, CREATING_FILE), { force: true });
  }
  return assemble(path, name, opened, { cache, now });
}

/** The file of a built-in backend's shard. */
const SHARD_FILE = /^shard-\d{3}\.(sqlite|kv)$/;

/** A damaged file while opening (an SQLITE_IOERR is e.g. a truncated file read through mmap). */
function isCorruption(e: unknown): boolean {
  return e instanceof Error &&
    hasSqliteCode(e, ["SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR"]);
}

async function openShards(
  count: number,
  open: (i: number) => Promise<StorageBackend>,
  now: () => number,
): Promise<ShardBackend[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => open(i)));
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.allSettled(
      results.map((r) => r.status === "fulfilled" ? r.value.close() : undefined),
    );
    throw (failed as PromiseRejectedResult).reason;
  }
  return results.map((r) => {
    const b = (r as PromiseFulfilledResult<StorageBackend>).value;
    return isShardBackend(b) ? b : new CustomShard(b, now);
  });
}

function assemble(
  path: string,
  backend: string,
  shards: ShardBackend[],
  options: { cache: false | LruCacheOptions; now: () => number },
): Store {
  return new ShardedStore({
    path,
    backend,
    shards,
    now: options.now,
    cache: options.cache,
    schedule: unrefScheduler,
  });
}
