/**
 * Batches: write, read and delete many keys in one call each. A batch is one transaction per
 * shard and the shards run at once, so it is far faster than a loop of single calls; it is
 * not atomic across shards.
 *
 * Run: `deno run -A examples/batches.ts` or `bun examples/batches.ts`
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, text, typed } from "../mod.ts";

const dir = await mkdtemp(join(tmpdir(), "shardkv-batches-"));
const store = await openStore(dir, { shards: 8 });
// Values are strings here: the `text` codec stores them as UTF-8.
const orders = typed(store, text);
try {
  // 1000 entries; a plain record works too: batchSet({ a: "x", b: "y" }).
  const entries: [string, string][] = [];
  for (let i = 0; i < 1000; i++) {
    entries.push([`order:${String(i).padStart(4, "0")}`, `total=${i * 10}`]);
  }
  await orders.batchSet(entries);
  console.log(`wrote ${entries.length} orders in one batchSet`);

  // batchGet returns the found keys only, in request order.
  const found = await orders.batchGet(["order:0007", "order:0999", "order:nope"]);
  for (const [key, value] of found) console.log(`${key} = ${value}`);
  console.log(`batchGet found ${found.size} of 3`);

  // Scans merge all shards in key order; `after` resumes a page.
  const page1 = await store.scanKeys("order:", { limit: 3 });
  const page2 = await store.scanKeys("order:", { limit: 3, after: page1.at(-1) });
  console.log(`first page: ${page1.join(", ")}`);
  console.log(`next page: ${page2.join(", ")}`);

  // Batched TTLs: every entry of this batch expires in 60 s.
  await orders.batchSet({ "session:a": "x", "session:b": "y" }, { ttl: 60_000 });
  console.log(`session:a expires in about ${Math.round((await store.ttl("session:a"))! / 1000)} s`);

  const removed = await store.batchDelete(entries.slice(0, 500).map(([key]) => key));
  console.log(`batchDelete removed ${removed}`);
  let left = 0;
  for await (const _ of store.entries("order:")) left++;
  console.log(`orders left: ${left}`);
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
