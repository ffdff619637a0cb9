// Where the redis tests find their servers (started by `bash scripts/redis_servers.sh start`,
// which reads the same variables with the same defaults), and fresh store names.
import process from "node:process";
import { Redis } from "ioredis";
import type { RedisBackendOptions } from "../mod.ts";

/** The standalone server. */
export const REDIS_URL: string = process.env.SHARDKV_REDIS_URL ?? "redis://127.0.0.1:16379";

/** Startup nodes of the 3-node cluster. */
export const REDIS_NODES: string[] = (process.env.SHARDKV_REDIS_CLUSTER_NODES ??
  "127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003").split(",");

let stores = 0;

/** A store name no other store of this run (or an earlier one) uses. */
export function freshName(label: string): string {
  return `test:${label}:${Date.now().toString(36)}:${
    Math.random().toString(36).slice(2)
  }:${stores++}`;
}

/** The standalone server and the cluster, as `redis` options of a store. */
export const REDIS_TARGETS: Array<[string, RedisBackendOptions]> = [
  ["standalone", { url: REDIS_URL }],
  ["cluster", { nodes: REDIS_NODES }],
];

/** A raw client that reaches any key: the standalone server, or the cluster. */
export function rawClient(redis: RedisBackendOptions): Redis {
  if (redis.url !== undefined) return new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const [host, port] = REDIS_NODES[0].split(":");
  // A cluster client routes each command to the node of its key's slot.
  return new Redis.Cluster([{ host, port: Number(port) }]) as unknown as Redis;
}
