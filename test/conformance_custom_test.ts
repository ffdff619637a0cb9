// A custom driver (examples/custom_driver.ts) passes the conformance suite through the public
// `@shardkv/shardkv/testing` entry point, sharded and bare, with the cache on and off.
import { openStore } from "../mod.ts";
import { conformance } from "../testing/mod.ts";
import { openMapDriver } from "../examples/custom_driver.ts";
import { tempDir } from "./_helpers.ts";

for (const shards of [1, 16]) {
  conformance(`custom map driver ${shards} shard(s)`, async ({ now, cache }) => {
    const { dir, dispose } = await tempDir("custom");
    const store = await openStore(`${dir}/store`, {
      backend: () => openMapDriver(now),
      shards,
      now,
      cache: cache ?? false,
    });
    return { store, dispose };
  }, { shards, cache: shards > 1 });
}
