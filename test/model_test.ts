// Model-based randomized test: seeded random sequences of every operation (getEntry, atomic
// commits and the key operations too; versionstamps must grow on each write of a key and stay
// put otherwise), run on the memory, sqlite and deno-kv backends with 1 and 16 shards and on a
// plain Map model, compared op by op. A failure prints the seed and a shrunk sequence.
// SHARDKV_SEED=<n> replays one seed.
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { check, generate, opener, report, shrink } from "./_model.ts";

const OPS = 3000;
const SEEDS = process.env.SHARDKV_SEED ? [Number(process.env.SHARDKV_SEED)] : [1, 2];

/** memory and sqlite (also with a read cache) get the full run; deno-kv (1-2k ops/s) a shorter one. */
const VARIANTS = [
  { backend: "memory", ops: OPS, seeds: SEEDS },
  { backend: "sqlite", ops: OPS, seeds: SEEDS },
  { backend: "sqlite", ops: OPS, seeds: SEEDS, cache: true },
  { backend: "deno-kv", ops: 1000, seeds: SEEDS.slice(0, 1) },
] as const;

for (const variant of VARIANTS) {
  const { backend, ops: count, seeds } = variant;
  const cache = "cache" in variant;
  for (const shards of [1, 16]) {
    const name = `${backend}${cache ? " with a read cache" : ""}, ${shards} shard(s)`;
    test(`model: ${name}, ${seeds.length} x ${count} random operations`, async () => {
      const open = opener(backend, shards, { cache });
      for (const seed of seeds) {
        const ops = generate(seed * 1000 + shards, count);
        const mismatch = await check(ops, { shards, open });
        if (mismatch !== undefined) {
          const shrunk = await shrink(ops, mismatch, { shards, open });
          assert.fail(report(seed * 1000 + shards, name, shrunk));
        }
      }
    });
  }
}
