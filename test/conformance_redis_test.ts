// The conformance suite against a real standalone Redis server and a 3-node Redis Cluster,
// started by `bash scripts/redis_servers.sh start` (the tests fail when they are not running).
import { openStore } from "../mod.ts";
import { dropRedisStore, openRedisBackend, type RedisBackendOptions } from "../backends/redis.ts";
import { conformance, type OpenTarget } from "./conformance.ts";
import { freshName, REDIS_NODES as nodes, REDIS_URL as url } from "./_redis_env.ts";

function target(redis: RedisBackendOptions, shards: number): OpenTarget {
  return async ({ now, cache }) => {
    const name = freshName(`conf-${shards}`);
    const store = await openStore(name, {
      backend: "redis",
      redis,
      shards,
      now,
      cache: cache ?? false,
    });
    return { store, dispose: () => dropRedisStore(name, redis) };
  };
}

for (const [label, redis] of [["standalone", { url }], ["cluster", { nodes }]] as const) {
  conformance(`redis ${label} 1 shard`, target(redis, 1), { shards: 1 });
  conformance(`redis ${label} 16 shards`, target(redis, 16), { shards: 16, cache: true });
}

conformance("redis bare backend", async ({ now }) => {
  const name = freshName("bare");
  return {
    store: await openRedisBackend(name, { url, now }),
    dispose: () => dropRedisStore(name, { url }),
  };
}, { shards: 1 });
