// The built-in drivers by name, and everything else the engine (shard/) needs from backends/:
// this is backends' internal entry point, so no other folder imports a backends/_name.ts.
// Each driver module is imported only when its driver is used, so a store on one backend never
// loads another's runtime-specific code.
import type { Driver } from "../core/driver.ts";
import type { Durability } from "../core/types.ts";
import type { RedisBackendOptions } from "./_redis_client.ts";

export type { RedisBackendOptions };
export { isAlive } from "./_alive.ts";
export { checkSqliteFile, hasSqliteCode } from "./_sqlite_driver.ts";
export { checkSqliteValues, type ShardVerifyReport, verifySqliteFile } from "./_sqlite_verify.ts";
export { checkDenoKvValues } from "./_deno_kv_verify.ts";
export { isOpenThroughNpm } from "./_deno_kv_api.ts";

/** Loads the redis driver, which opens a redis store's shards (and commit journal) together. */
export const loadRedisDriver = (): Promise<typeof import("./_redis_backend.ts")> =>
  import("./_redis_backend.ts");

/** Loads the worker pool that hosts shards in worker threads. */
export const loadWorkerPool = (): Promise<typeof import("./_worker_pool.ts")> =>
  import("./_worker_pool.ts");

/** Names of the built-in backends. */
export type BackendName = "sqlite" | "deno-kv" | "memory" | "redis";

/**
 * The sqlite backend's own settings besides durability, as `sqlite()` takes them: they travel
 * from the descriptor to `openSqliteDriver` (through a worker thread too) as this one object.
 */
export interface SqliteTuning {
  /** ms a write waits for another process's lock (default 5000). */
  busyTimeout?: number;
  /** Page size in bytes of a file it creates. */
  pageSize?: number;
}

/** What a built-in driver is opened with. */
export interface BuiltinInit {
  durability: Durability;
  /** The sqlite backend's settings (ignored by the others). */
  sqlite?: SqliteTuning;
  now: () => number;
  /** Where the redis backend connects. */
  redis?: RedisBackendOptions;
  /** The shard's index, named by storage errors. */
  shard?: number;
  /** `false`: the store exists, so the shard file must too (a missing or empty one is damage). */
  create?: boolean;
}

/** Opens the driver of one shard at `shardPath` (the path without an extension). */
export type BuiltinOpener = (shardPath: string, init: BuiltinInit) => Promise<Driver>;

/** The file each file-based backend keeps per shard: the shard path plus this extension. */
export const SHARD_FILE_EXTENSION: Partial<Record<BackendName, string>> = {
  sqlite: ".sqlite",
  "deno-kv": ".kv",
};

export const BUILTIN_DRIVERS: Record<BackendName, BuiltinOpener> = {
  sqlite: async (path, init) =>
    (await import("./sqlite.ts")).openSqliteDriver(`${path}${SHARD_FILE_EXTENSION.sqlite}`, {
      ...init,
      ...init.sqlite,
    }),
  "deno-kv": async (path, init) =>
    (await import("./deno_kv.ts")).openDenoKvDriver(
      `${path}${SHARD_FILE_EXTENSION["deno-kv"]}`,
      init,
    ),
  memory: async (_path, init) => (await import("./memory.ts")).openMemoryDriver(init),
  // One shard named by its path; openStore opens a redis store's shards together instead.
  redis: async (path, init) => {
    const { openRedisShards } = await loadRedisDriver();
    const [driver] = await openRedisShards(path, {
      shards: 1,
      defaultShards: 1,
      now: init.now,
      redis: init.redis,
    });
    return driver;
  },
};

export function isBackendName(name: unknown): name is BackendName {
  return typeof name === "string" && Object.hasOwn(BUILTIN_DRIVERS, name);
}
