/**
 * W1 and W2 on the redis backend next to the embedded ones: W1 = 64 concurrent writers of
 * unique keys with 1 KiB values, W2 = 64 concurrent readers of random preloaded keys, each for
 * `--duration` seconds (default 5). Needs `bash scripts/redis_servers.sh start`.
 *
 *   bun bench/redis_backend.ts [--duration 5] [--shards 16] [--keys 50000]
 *     [--targets redis,redis-cluster,sqlite,memory]
 *   deno run -A bench/redis_backend.ts [same flags]
 *
 * Prints one markdown table row per target and workload.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { openStore, type Store, type StoreOptions } from "../mod.ts";
import { dropRedisStore } from "../backends/redis.ts";

const flags = new Map<string, string>();
for (let i = 2; i < process.argv.length - 1; i++) {
  if (process.argv[i].startsWith("--")) flags.set(process.argv[i].slice(2), process.argv[i + 1]);
}
const seconds = Number(flags.get("duration") ?? 5);
const shards = Number(flags.get("shards") ?? 16);
const preload = Number(flags.get("keys") ?? 50_000);
const targets = (flags.get("targets") ?? "redis,redis-cluster,sqlite,memory").split(",");
const WORKERS = 64;
const url = process.env.SHARDKV_REDIS_URL ?? "redis://127.0.0.1:16379";
const nodes = (process.env.SHARDKV_REDIS_CLUSTER_NODES ??
  "127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003").split(",");
const value = new Uint8Array(1024).fill(7);

interface Target {
  store: Store;
  dispose(): Promise<void>;
}

async function open(target: string): Promise<Target> {
  if (target === "redis" || target === "redis-cluster") {
    const redis = target === "redis" ? { url } : { nodes };
    const name = `bench:${Date.now().toString(36)}:${Math.random().toString(36).slice(2)}`;
    const store = await openStore(name, { backend: "redis", redis, shards });
    return { store, dispose: () => dropRedisStore(name, redis) };
  }
  const dir = await mkdtemp(join(tmpdir(), "shardkv-bench-redis-"));
  const store = await openStore(join(dir, "store"), {
    backend: target as StoreOptions["backend"],
    shards,
  });
  return { store, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `op` in WORKERS loops for `seconds`; ops/s and latency percentiles in µs. */
async function measure(op: (worker: number, i: number) => Promise<unknown>): Promise<string> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let ops = 0;
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      const t = performance.now();
      await op(w, i);
      latencies.push(performance.now() - t);
      ops++;
    }
  }));
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Math.round(latencies[Math.floor(p * (latencies.length - 1))] * 1000);
  return `${Math.round(ops / seconds).toLocaleString("en-US")} | ${pct(0.5)} | ${pct(0.99)}`;
}

const runtime = (globalThis as { Bun?: unknown }).Bun !== undefined ? "bun" : "deno";
console.log(`${runtime}, ${shards} shards, ${WORKERS} concurrent, ${seconds} s, 1 KiB values`);
console.log("| target | workload | ops/s | p50 µs | p99 µs |\n|---|---|---|---|---|");
for (const name of targets) {
  const { store, dispose } = await open(name);
  try {
    const w1 = await measure((w, i) => store.set(`w1:${w}:${i}`, value));
    console.log(`| ${name} | W1 writes | ${w1} |`);
    for (let i = 0; i < preload; i += 1000) {
      await store.batchSet(
        Array.from(
          { length: Math.min(1000, preload - i) },
          (_, j) => [`k:${i + j}`, value] as const,
        ),
      );
    }
    const w2 = await measure(() => store.get(`k:${Math.floor(Math.random() * preload)}`));
    console.log(`| ${name} | W2 reads | ${w2} |`);
  } finally {
    await store.close();
    await dispose();
  }
}
