// Model-based randomized test: seeded random sequences of every operation, run on the memory
// and sqlite backends with 1 and 16 shards and on a plain Map model, compared op by op. A
// failure prints the seed and a shrunk sequence. SHARDKV_SEED=<n> replays one seed.
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { check, generate, opener, report, shrink } from "./_model.ts";

const OPS = 3000;
const SEEDS = process.env.SHARDKV_SEED ? [Number(process.env.SHARDKV_SEED)] : [1, 2];

for (const backend of ["memory", "sqlite"] as const) {
  for (const shards of [1, 16]) {
    test(`model: ${backend}, ${shards} shard(s), ${SEEDS.length} x ${OPS} random operations`, async () => {
      const open = opener(backend, shards);
      for (const seed of SEEDS) {
        const ops = generate(seed * 1000 + shards, OPS);
        const mismatch = await check(ops, { shards, open });
        if (mismatch !== undefined) {
          const shrunk = await shrink(ops, mismatch, { shards, open });
          assert.fail(report(seed * 1000 + shards, `${backend}/${shards}`, shrunk));
        }
      }
    });
  }
}
