// A store of 4 redis shards with the Redis commit journal, put together as openStore does, for
// the cross-shard atomic kill test of redis_journal_test.ts and its child.
import { Engine } from "../core/engine.ts";
import { loadRedisDriver, type RedisBackendOptions } from "../backends/builtin.ts";
import { shardOf } from "../shard/router.ts";

/** The keys every commit of the child sets: spread over the 4 shards. */
export const KEYS: string[] = Array.from({ length: 8 }, (_, i) => `atomic:${i}`);

/** The store `name` with its journal; rolls back the commits a crash interrupted. */
export async function openAtomicStore(name: string, redis: RedisBackendOptions): Promise<Engine> {
  const { openRedisStore } = await loadRedisDriver();
  const { drivers, journal } = await openRedisStore(name, {
    shards: 4,
    defaultShards: 4,
    now: Date.now,
    redis,
  });
  const store = new Engine({
    path: name,
    backend: "redis",
    drivers,
    route: shardOf,
    now: Date.now,
    journal,
  });
  await store.recoverCommits();
  return store;
}
