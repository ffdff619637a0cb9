/**
 * Backend comparison: times a small workload (single sets, single gets, one batchSet, a prefix
 * scan) on each available backend and prints a table. A quick feel for the trade-offs, not a
 * benchmark: see bench/ for those.
 *
 * Run: `deno run -A examples/backend_comparison.ts [N]` or `bun examples/backend_comparison.ts [N]`
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BackendName, openStore, type Store, text } from "../mod.ts";

const n = Number(process.argv[2] ?? 2000);
// Raw bytes on purpose: this times the store, not a codec.
const value = text.encode("x".repeat(100));
const key = (i: number): string => `item:${String(i).padStart(6, "0")}`;

/** Ops per second of `ops` operations run by `fn`. */
async function rate(ops: number, fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return ops / ((performance.now() - start) / 1000);
}

async function workload(store: Store): Promise<number[]> {
  return [
    // Issued together, so writes to a shard can share a commit.
    await rate(n, () => Promise.all(Array.from({ length: n }, (_, i) => store.set(key(i), value)))),
    await rate(n, () => Promise.all(Array.from({ length: n }, (_, i) => store.get(key(i))))),
    await rate(
      n,
      () => store.batchSet(Array.from({ length: n }, (_, i) => [key(n + i), value] as const)),
    ),
    await rate(2 * n, () => store.scanKeys("item:")),
  ];
}

const columns = ["set", "get", "batchSet", "scan"];
console.log(`${n} ops each, 8 shards, ops/s`);
console.log(`| backend | ${columns.join(" | ")} |`);
console.log(`|---|${columns.map(() => "---:").join("|")}|`);
const backends: BackendName[] = ["memory", "sqlite", "deno-kv"];
for (const backend of backends) {
  const dir = await mkdtemp(join(tmpdir(), `shardkv-compare-${backend}-`));
  try {
    const store = await openStore(dir, { backend, shards: 8 }).catch((e: Error) => e);
    if (store instanceof Error) {
      console.log(`| ${backend} | ${columns.map(() => "n/a").join(" | ")} |`);
      continue;
    }
    try {
      const rates = await workload(store);
      console.log(
        `| ${backend} | ${rates.map((r) => Math.round(r).toLocaleString("en-US")).join(" | ")} |`,
      );
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
