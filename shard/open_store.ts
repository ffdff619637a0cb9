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
import { type Driver, isDriver, type Journal } from "../core/driver.ts";
import { Engine, type Store } from "../core/engine.ts";
import type { Durability, StorageBackend } from "../core/types.ts";
import { describe } from "../core/validate.ts";
import { runtimeName } from "../core/runtime.ts";
import {
  type BackendDescriptor,
  checkDurability,
  isDescriptor,
  type SqliteOptions,
} from "../backends/descriptors.ts";
import {
  type DriverSpec,
  type HostedDriver,
  isHosted,
  openFromSpec,
  specOf,
} from "../backends/hosted.ts";
import { CustomDriver } from "./_custom_backend.ts";
import {
  CREATING_FILE,
  FORMAT_VERSION,
  HASH_NAME,
  readManifest,
  SHARD_FILE,
  shardPathOf,
  writeManifest,
} from "./manifest.ts";
import { unrefScheduler } from "./_scheduler.ts";
import { fileJournal } from "./_journal.ts";
import {
  type BackendName,
  BUILTIN_DRIVERS as BUILTIN_BACKENDS,
  checkSqliteFile,
  hasSqliteCode,
  isBackendName,
  loadRedisDriver,
  loadWorkerPool,
  type RedisBackendOptions,
  SHARD_FILE_EXTENSION,
  type SqliteTuning,
} from "../backends/builtin.ts";
import { shardOf } from "./router.ts";
import { recoverReshard } from "./_layout.ts";

export type { BackendName };

/**
 * Opens the storage of one shard for a custom backend: a {@linkcode Driver} (the storage only;
 * the store does validation, locks, transactions, the cache and paging), or a whole
 * `StorageBackend` (older adapters: its transaction commits are only as atomic as its calls).
 */
export type BackendFactory = (
  shardPath: string,
  shardIndex: number,
) => Promise<Driver | StorageBackend>;

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /**
   * Shard count, 1..256. New store: default {@linkcode DEFAULT_SHARDS}. Existing store: taken
   * from its manifest; a different value throws `ShardCountMismatchError`.
   */
  shards?: number;
  /**
   * `"sqlite"` (default for new stores), `"deno-kv"`, `"memory"`, `"redis"`, a descriptor
   * carrying the backend's own options (`sqlite({ durability: "full" })`, `redis({ url })`,
   * `memory()`, `denoKv()`), a factory of custom drivers, or a custom driver's module
   * (`hosted(url, exportName, options)`, which `workers` can host).
   */
  backend?: BackendName | BackendDescriptor | BackendFactory | HostedDriver;
  /** `false` (default) or the limits of an LRU cache of read results. */
  cache?: false | LruCacheOptions;
  /**
   * Shorthand for `sqlite({ durability })`: `"normal"` (default), `"relaxed"` or `"full"`; see
   * the README for what each survives. Other backends refuse a level other than `"normal"`.
   */
  durability?: Durability;
  /** Clock in ms used for TTLs (default `Date.now`). */
  now?: () => number;
  /**
   * Host the shards in this many worker threads (0..64; 0: in the calling thread), whatever
   * their driver: sqlite, deno-kv or a {@linkcode hosted} custom driver. Calls of one event-loop
   * turn cross to a worker as one message. Refused (`TypeError`) for memory (its data would live
   * in the workers), redis (its shards are already off-thread connections) and factory functions
   * (a function cannot cross threads: use `hosted()`). Default `"auto"`:
   * {@linkcode autoWorkers} of the core count, the shard count and the backend (0 on this
   * project's 2-core measurements, where workers lost; see the README's "Worker threads").
   */
  workers?: number | "auto";
  /**
   * Shorthand for `redis({ url })`: where the `"redis"` backend connects (`{ url }` or cluster
   * `{ nodes }`). Its store keeps the manifest in Redis, and `path` names the store there.
   */
  redis?: RedisBackendOptions;
}

/**
 * Shard count of a new store when `shards` is not given: 4. Measured 2026-11-30 on a 2-core VM
 * (W1 relaxed, CPU time per write, the measure least hurt by the machine's other load): 4 shards
 * cost 1.16–1.22× what 1 shard does and 16 shards 1.55–1.7× (each shard commits its own share of
 * a turn's writes), on Bun and Deno; with 2 processes writing one store, 4 shards gave the most
 * total throughput with 16 and stayed fair (0.95), where 1 shard starves a process. See the
 * README's "Choosing the shard count".
 */
export const DEFAULT_SHARDS = 4;

/** Fewest cores with which `workers: "auto"` hosts shards in worker threads. */
const AUTO_MIN_CORES = 4;
/**
 * Most workers `"auto"` picks: the calling thread spends ~3 µs a call on the engine and the
 * hand-off, a worker ~9–10 µs on SQLite per call it hosts (W1 relaxed, measured per thread), so
 * the calling thread saturates at about three workers.
 */
const AUTO_MAX_WORKERS = 3;

/**
 * What `workers: "auto"` resolves to for a store of `shards` shards on `cores` cores (the
 * runtime's `navigator.hardwareConcurrency`) whose backend is `backend`: 0 (shards in the
 * calling thread) for any backend but the built-in sqlite, and below 4 cores, where measured
 * workers lost on every workload but W1 `"full"` (the calling thread and the workers compete
 * for the same cores); else the largest count from 2 to min(cores - 1, 3) that divides the
 * shards evenly, so every worker carries the same share (0 when none does).
 *
 * @example
 * ```ts
 * import { autoWorkers } from "@shardkv/shardkv";
 * autoWorkers({ cores: 2, shards: 4, backend: "sqlite" }); // 0
 * autoWorkers({ cores: 8, shards: 16, backend: "sqlite" }); // 2
 * ```
 */
export function autoWorkers(
  options: { cores: number; shards: number; backend: string },
): number {
  const { cores, shards, backend } = options ?? {};
  for (const [name, n] of [["cores", cores], ["shards", shards]] as const) {
    if (typeof n !== "number") {
      throw new TypeError(`${name} must be a number, received ${describe(n)}`);
    }
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`${name} must be an integer >= 1, received ${describe(n)}`);
    }
  }
  if (typeof backend !== "string") {
    throw new TypeError(`backend must be a backend name, received ${describe(backend)}`);
  }
  if (backend !== "sqlite" || cores < AUTO_MIN_CORES) return 0;
  for (let w = Math.min(cores - 1, AUTO_MAX_WORKERS, shards); w >= 2; w--) {
    if (shards % w === 0) return w;
  }
  return 0;
}

/** The core count the runtime reports (`navigator.hardwareConcurrency`), 1 when it has none. */
function coreCount(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: unknown } }).navigator;
  const n = nav?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? n : 1;
}

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
  const { shards, cache = false, now = Date.now } = options;
  if (shards !== undefined && (!Number.isInteger(shards) || shards < 1 || shards > 256)) {
    throw new RangeError(`shards must be an integer from 1 to 256, received ${describe(shards)}`);
  }
  const chosen = backendOf(options);
  const { backend, durability, sqlite } = chosen;
  if (typeof now !== "function") {
    throw new TypeError(`now must be a function, received ${describe(now)}`);
  }
  const { workers: asked = "auto" } = options;
  if (typeof asked !== "number" && asked !== "auto") {
    throw new TypeError(`workers must be a number or "auto", received ${describe(asked)}`);
  }
  if (asked !== "auto" && (!Number.isInteger(asked) || asked < 0 || asked > 64)) {
    throw new RangeError(`workers must be an integer from 0 to 64, received ${describe(asked)}`);
  }
  // "auto" resolves once the backend and shard count are known (the manifest's, if any).
  let workers = asked === "auto" ? 0 : asked;
  const hostedDriver = isHosted(options.backend) ? options.backend : undefined;
  if (workers > 0) refuseUnhostable(backend, hostedDriver);
  if (cache !== false && (typeof cache !== "object" || cache === null)) {
    throw new TypeError(`cache must be false or an object, received ${describe(cache)}`);
  }
  if (cache !== false) checkLruCacheOptions(cache);
  const init = { durability, sqlite, now, redis: chosen.redis };

  if (backend === "memory") {
    const count = shards ?? DEFAULT_SHARDS;
    const opened = await openShards(count, () => BUILTIN_BACKENDS.memory("", init), now);
    return assemble(path, "memory", opened, {
      cache,
      now,
    });
  }

  if (backend === "redis") {
    const { openRedisStore } = await loadRedisDriver();
    const { drivers, journal } = await openRedisStore(path, {
      shards,
      defaultShards: DEFAULT_SHARDS,
      now,
      redis: chosen.redis,
    });
    // Cross-shard commits are journaled in Redis and rolled back at open when a crash cut one.
    return await assemble(path, "redis", drivers, { cache, now, journal });
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
  if (name !== "sqlite" && (durability !== "normal" || sqlite.busyTimeout !== undefined)) {
    throw new TypeError(
      `Store at "${path}" uses the ${JSON.stringify(name)} backend, which cannot honour ${
        sqlite.busyTimeout !== undefined
          ? "busyTimeout"
          : `durability ${JSON.stringify(durability)}`
      } (sqlite only)`,
    );
  }
  const runtime = runtimeName();
  if (workers > 0 && name === "deno-kv" && runtime !== "deno") {
    // Measured: Bun 1.4.5 aborts or segfaults within seconds once @deno/kv runs in its workers;
    // Node 26 aborts now and then ("Check failed: node->IsInUse()") in a worker using it.
    throw new TypeError(
      `workers cannot host the deno-kv backend on ${runtime === "bun" ? "Bun" : "Node"}: ` +
        "@deno/kv's native module crashes worker threads; use workers: 0 (Deno hosts it)",
    );
  }
  const count = manifest?.shards ?? shards ?? DEFAULT_SHARDS;
  if (asked === "auto" && hostedDriver === undefined && typeof backend !== "function") {
    workers = autoWorkers({ cores: coreCount(), shards: count, backend: name });
  }
  let factory: BackendFactory;
  const create = manifest === undefined;
  const spec: DriverSpec | undefined = hostedDriver !== undefined
    ? specOf(hostedDriver)
    : name === "sqlite" || name === "deno-kv"
    ? { kind: "builtin", name, durability, sqlite }
    : undefined;
  if (workers > 0 && spec !== undefined) {
    const { WorkerPool } = await loadWorkerPool();
    const pool = new WorkerPool({ workers: Math.min(workers, count), spec, create });
    factory = (shardPath, i) => pool.open(shardPath, i, now);
  } else if (hostedDriver !== undefined && spec !== undefined) {
    factory = (shardPath, shard) => openFromSpec(spec, shardPath, { shard, create, now });
  } else if (typeof backend === "function") factory = backend;
  else if (isBackendName(name)) {
    factory = (shardPath, shard) => BUILTIN_BACKENDS[name](shardPath, { ...init, shard, create });
  } else {
    throw new TypeError(
      `Store at "${path}" was created with a custom backend; pass its factory${
        workers > 0 ? " as hosted(moduleUrl, exportName)" : ""
      } as options.backend`,
    );
  }
  if (manifest === undefined) {
    await mkdir(path, { recursive: true });
    await writeFile(join(path, CREATING_FILE), "");
  }
  const shardPath = (i: number): string => shardPathOf(path, i);
  const extension = SHARD_FILE_EXTENSION[name as BackendName];
  const fileOf = (i: number): string => `${shardPath(i)}${extension ?? ""}`;
  if (manifest !== undefined && extension !== undefined) {
    // Both file backends keep SQLite files: a missing or empty one would open as empty.
    await Promise.all(
      Array.from(
        { length: count },
        (_, i) => checkSqliteFile(fileOf(i), { shard: i, path: fileOf(i) }),
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
        path: fileOf(i),
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
  const journal = fileJournal(path, { sync: durability === "full" });
  // A reader of several shards waits for another process's commit as long as a writer waits
  // for SQLite's lock (sqlite({ busyTimeout })), else the engine's default (the lock lease).
  return await assemble(path, name, opened, {
    cache,
    now,
    journal,
    journalWait: sqlite.busyTimeout,
  });
}

/** The backend chosen by `options` (a name, a descriptor or a factory) and its settings. */
function backendOf(options: StoreOptions): {
  backend: BackendName | BackendFactory | undefined;
  durability: Durability;
  sqlite: SqliteTuning;
  redis: RedisBackendOptions | undefined;
} {
  const { backend } = options;
  if (isHosted(backend)) {
    if (options.durability !== undefined || options.redis !== undefined) {
      throw new TypeError(
        "a hosted() driver takes its settings in hosted()'s options, not durability or redis",
      );
    }
    // Stands for the custom driver; openStore opens it with the shard's `create` flag.
    const factory: BackendFactory = () => Promise.reject(new Error("unreachable"));
    return {
      backend: factory,
      durability: "normal",
      sqlite: {},
      redis: undefined,
    };
  }
  if (isDescriptor(backend)) {
    for (const key of ["durability", "redis"] as const) {
      if (options[key] !== undefined) {
        throw new TypeError(
          `${key} goes inside the backend descriptor (e.g. sqlite({ durability }), ` +
            `redis({ url })), not beside it; received ${key} with ${backend.name}()`,
        );
      }
    }
    // Everything sqlite() takes besides durability is the sqlite driver's own tuning.
    const { durability = "normal", ...sqlite }: SqliteOptions = backend.sqlite ?? {};
    return { backend: backend.name, durability, sqlite, redis: backend.redis };
  }
  if (backend !== undefined && typeof backend !== "function" && !isBackendName(backend)) {
    throw new TypeError(
      `backend must be "sqlite", "deno-kv", "memory", "redis", a descriptor such as sqlite() ` +
        `or a factory function, received ${describe(backend)}`,
    );
  }
  const durability = options.durability ?? "normal";
  checkDurability(durability);
  if (durability !== "normal" && backend !== undefined && backend !== "sqlite") {
    throw new TypeError(
      `durability ${JSON.stringify(durability)} needs the "sqlite" backend; ${
        typeof backend === "function" ? "a custom backend" : JSON.stringify(backend)
      } cannot honour it`,
    );
  }
  if (options.redis !== undefined && backend !== "redis") {
    throw new TypeError(
      `the redis option needs backend "redis", received ${describe(backend ?? "sqlite")}`,
    );
  }
  return {
    backend,
    durability,
    sqlite: {},
    redis: options.redis,
  };
}

/** Refuses `workers` for drivers that a worker thread cannot or should not host. */
function refuseUnhostable(
  backend: BackendName | BackendFactory | undefined,
  hostedDriver: HostedDriver | undefined,
): void {
  if (backend === "memory") {
    throw new TypeError(
      "workers cannot host the memory backend: its data would live in the worker threads, " +
        "unreachable by anything but this store and gone with them; use workers: 0",
    );
  }
  if (backend === "redis") {
    throw new TypeError(
      "workers do not host the redis backend: its shards are connections to a Redis server, " +
        "already off this thread, so a worker would only add a hop; use workers: 0",
    );
  }
  if (typeof backend === "function" && hostedDriver === undefined) {
    throw new TypeError(
      "workers cannot host a factory function (a function cannot cross threads); pass " +
        "backend: hosted(moduleUrl, exportName, options) instead, received a function",
    );
  }
}

/** A damaged file while opening (an SQLITE_IOERR is e.g. a truncated file read through mmap). */
function isCorruption(e: unknown): boolean {
  return e instanceof Error &&
    hasSqliteCode(e, ["SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR"]);
}

async function openShards(
  count: number,
  open: (i: number) => Promise<StorageBackend | Driver>,
  now: () => number,
): Promise<Driver[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => open(i)));
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.allSettled(
      results.map((r) => r.status === "fulfilled" ? r.value.close() : undefined),
    );
    throw (failed as PromiseRejectedResult).reason;
  }
  return results.map((r) => {
    const b = (r as PromiseFulfilledResult<StorageBackend | Driver>).value;
    return isDriver(b) ? b : new CustomDriver(b, now);
  });
}

/**
 * The engine over `drivers`; with a journal, multi-shard commits a crash interrupted are rolled
 * back before the store is handed out.
 */
async function assemble(
  path: string,
  backend: string,
  drivers: Driver[],
  options: {
    cache: false | LruCacheOptions;
    now: () => number;
    journal?: Journal;
    journalWait?: number;
  },
): Promise<Engine> {
  const store = new Engine({
    journal: options.journal,
    journalWait: options.journalWait,
    path,
    backend,
    drivers,
    route: shardOf,
    now: options.now,
    cache: options.cache,
    schedule: unrefScheduler,
  });
  if (options.journal === undefined) return store;
  try {
    await store.recoverCommits();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
