/**
 * The deno-kv backend next to sqlite: set, get, batchSet of 100 and scan of 100, 1 KiB values,
 * one caller awaiting each operation, with 1 and 16 shards.
 *
 *   deno run -A bench/deno_kv_vs_sqlite.ts [--ops 2000] [--shards 1,16]
 *   bun bench/deno_kv_vs_sqlite.ts [same flags]
 *
 * Prints one markdown table row per backend, shard count and operation.
 *
 * @module
 */
import { openStore, type Store } from "../mod.ts";
import { args, benchDir, machine, runtimeVersion } from "./_common.ts";

const opt = args();
const ops = Number(opt.get("ops") ?? 2000);
const shardCounts = (opt.get("shards") ?? "1,16").split(",").map(Number);
const backends = ["deno-kv", "sqlite"] as const;
const value = new Uint8Array(1024).fill(7);
const BATCH = 100;

/** Runs `step(i)` for i in [0, n) one after another; returns ops/s and mean µs per call. */
async function timed(n: number, step: (i: number) => Promise<unknown>): Promise<[number, number]> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await step(i);
  const ms = performance.now() - t0;
  return [n / (ms / 1000), (ms * 1000) / n];
}

async function run(store: Store): Promise<Array<[string, number, number]>> {
  const rows: Array<[string, number, number]> = [];
  const key = (i: number): string => `k:${String(i).padStart(8, "0")}`;
  rows.push(["set", ...(await timed(ops, (i) => store.set(key(i), value)))]);
  rows.push(["get", ...(await timed(ops, (i) => store.get(key((i * 7919) % ops))))]);
  const batches = Math.max(1, Math.floor(ops / BATCH));
  const batch = (b: number): Array<[string, Uint8Array]> =>
    Array.from(
      { length: BATCH },
      (_, i) => [`s:${String(b).padStart(5, "0")}:${String(i).padStart(3, "0")}`, value],
    );
  rows.push([`batchSet ${BATCH}`, ...(await timed(batches, (b) => store.batchSet(batch(b))))]);
  rows.push([
    `scan ${BATCH}`,
    ...(await timed(batches, async (b) => {
      const got = await store.scan(`s:${String(b).padStart(5, "0")}:`);
      if (got.length !== BATCH) throw new Error(`scan returned ${got.length} values`);
    })),
  ]);
  return rows;
}

const m = machine();
console.log(
  `${runtimeVersion()} on ${m.cpu}, ${m.cores} cores, ${m.memory}, ${m.disk}; ${ops} ops`,
);
console.log("| backend | shards | operation | ops/s | µs/op |");
console.log("|---|---:|---|---:|---:|");
for (const shards of shardCounts) {
  for (const backend of backends) {
    const { dir, dispose } = await benchDir(`${backend}-${shards}`);
    try {
      const store = await openStore(`${dir}/store`, { backend, shards });
      for (const [op, perSec, us] of await run(store)) {
        console.log(
          `| ${backend} | ${shards} | ${op} | ${Math.round(perSec)} | ${us.toFixed(1)} |`,
        );
      }
      await store.close();
    } finally {
      await dispose();
    }
  }
}
