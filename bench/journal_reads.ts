/**
 * What readers of several shards pay to never see half of another process's multi-shard
 * commit (issue 14): a batchGet of 64 keys spread over 16 shards and a scan of a 64-key prefix,
 * by two engines over the same 16 shard drivers, one whose journal answers `state()` (the
 * cross-process check) and one whose journal does not (only this object's commits are waited
 * for, the behaviour before). Rounds alternate between the two, so load on this shared machine
 * hits both alike; the result is the ratio of their median round times.
 *
 *   deno run -A bench/journal_reads.ts [--backend sqlite|deno-kv|redis] [--rounds 15] [--ops 200]
 *   bun bench/journal_reads.ts [same flags]
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { openStore } from "../mod.ts";
import { Engine } from "../core/engine.ts";
import type { Driver, Journal } from "../core/driver.ts";
import { BUILTIN_DRIVERS } from "../backends/builtin.ts";
import { fileJournal } from "../shard/_journal.ts";
import { shardOf } from "../shard/router.ts";
import { parseArgs, runtimeVersion } from "./_common.ts";

const opt = parseArgs(process.argv.slice(2));
const backend = (opt.get("backend") ?? "sqlite") as "sqlite" | "deno-kv" | "redis";
const rounds = Number(opt.get("rounds") ?? 15);
const ops = Number(opt.get("ops") ?? 200);
const SHARDS = 16;
const KEYS = 64;

const dir = await mkdtemp(join(tmpdir(), "shardkv-journal-bench-"));
const where = backend === "redis" ? `bench-journal-${process.pid}` : join(dir, "store");
const redis = { url: process.env.SHARDKV_REDIS_URL ?? "redis://127.0.0.1:16379" };
const keys = Array.from({ length: KEYS }, (_, i) => `k:${String(i).padStart(4, "0")}`);

// Create and fill the store the ordinary way.
const seed = await openStore(where, {
  backend,
  shards: SHARDS,
  redis: backend === "redis" ? redis : undefined,
});
await seed.batchSet(keys.map((k) => [k, new Uint8Array(64).fill(1)]));
// A commit over two shards, so the journal directory and generation exist.
await seed.atomic().set(keys[0], new Uint8Array(1)).set(keys[1], new Uint8Array(1)).commit();
await seed.close();

let drivers: Driver[];
let journal: Journal;
let drop = async (): Promise<void> => {};
if (backend === "redis") {
  const { openRedisStore, dropRedisShards } = await import("../backends/_redis_backend.ts");
  ({ drivers, journal } = await openRedisStore(where, {
    shards: SHARDS,
    defaultShards: SHARDS,
    now: Date.now,
    redis,
  }));
  drop = () => dropRedisShards(where, redis);
} else {
  const init = { durability: "normal" as const, now: Date.now };
  drivers = await Promise.all(
    Array.from(
      { length: SHARDS },
      (_, i) => BUILTIN_DRIVERS[backend](join(where, `shard-${String(i).padStart(3, "0")}`), init),
    ),
  );
  journal = fileJournal(where, { sync: false });
}
const engine = (j: Journal) =>
  new Engine({ path: where, backend, drivers, now: Date.now, route: shardOf, journal: j });
const checked = engine(journal);
const unchecked = engine({ ...journal, state: undefined });

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < ops; i++) await fn();
  return (performance.now() - t) / ops;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results: Record<string, { before: number[]; after: number[] }> = {
  batchGet: { before: [], after: [] },
  scan: { before: [], after: [] },
};
for (let r = 0; r < rounds; r++) {
  for (const [name, op] of [["batchGet", "batchGet"], ["scan", "scan"]] as const) {
    const run = (e: Engine) => op === "batchGet" ? () => e.batchGet(keys) : () => e.scan("k:");
    // Alternate which goes first.
    if (r % 2 === 0) {
      results[name].before.push(await time(run(unchecked)));
      results[name].after.push(await time(run(checked)));
    } else {
      results[name].after.push(await time(run(checked)));
      results[name].before.push(await time(run(unchecked)));
    }
  }
}
console.log(`${runtimeVersion()}, ${backend}, ${SHARDS} shards, ${KEYS} keys, ${rounds} rounds`);
for (const [name, { before, after }] of Object.entries(results)) {
  const [b, a] = [median(before), median(after)];
  console.log(
    `${name}: ${(b * 1000).toFixed(0)} µs -> ${(a * 1000).toFixed(0)} µs per call, ratio ${
      (a / b).toFixed(3)
    }`,
  );
}
await checked.close();
await drop();
await rm(dir, { recursive: true, force: true });
