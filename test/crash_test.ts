// Kill tests: a child process writes (single sets, cross-shard batches, transactions, counter
// increments) and prints every acknowledged write; the parent kills it with SIGKILL at a random
// moment, reopens the store and checks that every acknowledged write is there and that no
// per-shard batch or transaction is half-applied.
import assert from "node:assert/strict";
import { test } from "node:test";
import { prng, withTempDir } from "./_helpers.ts";
import { killWriter, verifyRun } from "./_crash.ts";

const CYCLES = 7;

for (const shards of [1, 4, 16]) {
  test(`sqlite, ${shards} shard(s): ${CYCLES} SIGKILLs lose no acknowledged write`, async () => {
    await withTempDir(async (dir) => {
      const random = prng(shards * 7919);
      let counter = 0;
      let acked = 0;
      for (let run = 0; run < CYCLES; run++) {
        const durability = run % 2 === 0 ? "normal" : "relaxed";
        const delayMs = 30 + Math.floor(random() * 220);
        const acks = await killWriter(dir, { shards, run, durability, delayMs });
        acked += acks.single + 1 + acks.batch + acks.txn;
        counter = await verifyRun(dir, { shards, run, acks, counterBefore: counter });
      }
      // The test only means something if the children got writes acknowledged.
      assert.ok(acked > CYCLES, `only ${acked} writes were acknowledged`);
    });
  });
}
