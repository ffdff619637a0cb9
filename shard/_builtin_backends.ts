// The built-in backends by name. Each module is imported only when its backend is used, so a
// store on one backend never loads another's runtime-specific code.
import type { Durability, StorageBackend } from "../core/types.ts";
import type { RedisBackendOptions } from "../backends/_redis_client.ts";

/** Names of the built-in backends. */
export type BackendName = "sqlite" | "deno-kv" | "memory" | "redis";

/** What a built-in backend is opened with. */
export interface BuiltinInit {
  durability: Durability;
  now: () => number;
  /** Where the redis backend connects. */
  redis?: RedisBackendOptions;
  /** The shard's index, named by storage errors. */
  shard?: number;
  /** `false`: the store exists, so the shard file must too (a missing or empty one is damage). */
  create?: boolean;
}

/** Opens the backend of one shard at `shardPath` (the path without an extension). */
export type BuiltinOpener = (shardPath: string, init: BuiltinInit) => Promise<StorageBackend>;

/** The file each file-based backend keeps per shard: the shard path plus this extension. */
export const SHARD_FILE_EXTENSION: Partial<Record<BackendName, string>> = {
  sqlite: ".sqlite",
  "deno-kv": ".kv",
};

export const BUILTIN_BACKENDS: Record<BackendName, BuiltinOpener> = {
  sqlite: async (path, init) =>
    (await import("../backends/sqlite.ts")).openSqliteBackend(
      `${path}${SHARD_FILE_EXTENSION.sqlite}`,
      init,
    ),
  "deno-kv": async (path, init) =>
    (await import("../backends/deno_kv.ts")).openDenoKvBackend(
      `${path}${SHARD_FILE_EXTENSION["deno-kv"]}`,
      init,
    ),
  memory: async (_path, init) => (await import("../backends/memory.ts")).openMemoryBackend(init),
  // One shard named by its path; openStore opens a redis store's shards together instead.
  redis: async (path, init) =>
    (await import("../backends/redis.ts")).openRedisBackend(path, { ...init.redis, now: init.now }),
};

export function isBackendName(name: unknown): name is BackendName {
  return typeof name === "string" && Object.hasOwn(BUILTIN_BACKENDS, name);
}
