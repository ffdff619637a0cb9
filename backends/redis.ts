/**
 * The `"redis"` backend: a store kept in a Redis (or Valkey) server or Redis Cluster, for when
 * one machine is not enough. Each shard is one hash slot, so a cluster spreads the shards over
 * its nodes while every shard operation, batch and transaction stays atomic on one node. Keys
 * keep UTF-8 byte order (a sorted-set index per shard), TTLs follow the store clock, and
 * counters keep their 8-byte big-endian format. Needs the `ioredis` package, loaded only here.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * const store = await openStore("app", {
 *   backend: "redis",
 *   redis: { nodes: ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"] },
 * });
 * await store.set("user:1", new TextEncoder().encode("Ada"));
 * await store.close();
 * ```
 *
 * @module
 */
import { Engine } from "../core/engine.ts";
import type { StorageBackend } from "../core/types.ts";
import { dropRedisShards, openRedisShards } from "./_redis_backend.ts";
import type { RedisBackendOptions } from "./_redis_client.ts";

export type { RedisBackendOptions };

/** Options of {@linkcode openRedisBackend}. */
export interface OpenRedisBackendOptions extends RedisBackendOptions {
  /** Clock in ms used for TTLs (default `Date.now`). */
  now?: () => number;
}

/**
 * Opens the store `name` in Redis as one bare shard: a one-shard store, the same data as
 * `openStore(name, { backend: "redis", shards: 1 })`.
 *
 * @example
 * ```ts
 * import { openRedisBackend } from "@shardkv/shardkv/redis";
 * const shard = await openRedisBackend("sessions", { url: "redis://127.0.0.1:6379" });
 * await shard.set("a", new Uint8Array([1]));
 * await shard.close();
 * ```
 */
export async function openRedisBackend(
  name: string,
  options: OpenRedisBackendOptions = {},
): Promise<StorageBackend> {
  const { now = Date.now, ...redis } = options;
  const drivers = await openRedisShards(name, { shards: 1, defaultShards: 1, now, redis });
  return new Engine({ path: name, backend: "redis", drivers, now });
}

/**
 * Deletes every key of the store `name` from Redis: all its shards and its manifest. Close
 * the store first.
 *
 * @example
 * ```ts
 * import { dropRedisStore } from "@shardkv/shardkv/redis";
 * await dropRedisStore("sessions", { url: "redis://127.0.0.1:6379" });
 * ```
 */
export function dropRedisStore(name: string, options: RedisBackendOptions = {}): Promise<void> {
  return dropRedisShards(name, options);
}
