// Kill tests: a child process writes (single sets, cross-shard batches, transactions, counter
// increments) and prints every acknowledged write; the parent kills it with SIGKILL at a random
// moment, reopens the store and checks that every acknowledged write is there and that no
// per-shard batch or transaction is half-applied.
import assert from "node:assert/strict";
import { test } from "node:test";
import { prng, withTempDir } from "./_helpers.ts";
import { killWriter, verifyRun } from "./_crash.ts";

/** Kill cycles per variant: 7 x 3 sqlite variants + 5 x 2 deno-kv variants = 31 per runtime. */
const VARIANTS = [
  { backend: "sqlite", shards: 1, cycles: 7 },
  { backend: "sqlite", shards: 4, cycles: 7 },
  { backend: "sqlite", shards: 16, cycles: 7 },
  { backend: "deno-kv", shards: 1, cycles: 5 },
  { backend: "deno-kv", shards: 16, cycles: 5 },
];

for (const { backend, shards, cycles } of VARIANTS) {
  test(`${backend}, ${shards} shard(s): ${cycles} SIGKILLs lose no acknowledged write`, async () => {
    await withTempDir(async (dir) => {
      const random = prng(shards * 7919 + backend.length);
      let counter = 0;
      let acked = 0;
      for (let run = 0; run < cycles; run++) {
        const durability = run % 2 === 0 ? "normal" : "relaxed";
        const delayMs = 30 + Math.floor(random() * 220);
        const acks = await killWriter(dir, { shards, run, durability, delayMs, backend });
        acked += acks.single + 1 + acks.batch + acks.txn;
        counter = await verifyRun(dir, { shards, run, acks, counterBefore: counter });
      }
      // The test only means something if the children got writes acknowledged.
      assert.ok(acked > cycles * 10, `only ${acked} writes were acknowledged`);
    });
  });
}
