/**
 * The read cache: an LRU of read results in front of the shards, dropped on every write made
 * through the store. `store.stats()` reports its hits, misses and size.
 *
 * Run: `deno run -A examples/cache.ts` or `bun examples/cache.ts`
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { json, openStore, typed } from "../mod.ts";

const dir = await mkdtemp(join(tmpdir(), "shardkv-cache-"));
const store = await openStore(dir, { shards: 4, cache: { maxEntries: 100 } });
// The cache holds the stored bytes; the json codec decodes them on each read.
const products = typed<{ price: number }>(store, json);
try {
  for (let i = 0; i < 10; i++) await products.set(`product:${i}`, { price: i });

  // The first read of each key misses; the next nine are hits.
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 10; i++) await products.get(`product:${i}`);
  }
  let cache = store.stats().cache!;
  console.log(
    `after 100 reads: hits=${cache.hits} misses=${cache.misses} entries=${cache.entries}`,
  );

  // A write through the store invalidates the key, so the next read sees the new value.
  await products.set("product:3", { price: 99 });
  console.log(`product:3 = ${JSON.stringify(await products.get("product:3"))}`);
  cache = store.stats().cache!;
  console.log(`after the update: hits=${cache.hits} misses=${cache.misses}`);

  // Misses are cached too: asking again for a missing key does not touch the shard.
  await products.get("product:404");
  await products.get("product:404");
  cache = store.stats().cache!;
  console.log(`after two reads of a missing key: hits=${cache.hits} misses=${cache.misses}`);
  console.log(`shards=${store.stats().shards} cache bytes>0: ${cache.bytes > 0}`);
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
