/**
 * Throughput and latency of the public API under the seed's workloads (described in
 * bench/RESULTS.md): W1 unique-key writes, W1r random-key writes, W2 uniform reads, W2h cached hot
 * reads, W3 ordered prefix scans, W4 90/10 get/set, W5 several processes writing one store
 * directory, and the RSS of 64 idle shards.
 *
 *   bun bench/throughput.ts [--quick] [--shards 1,4,16,64] [--backends sqlite,memory,deno-kv]
 *     [--workloads W1,W5,...] [--duration S] [--processes 1,2,4] [--w5-durability normal,relaxed]
 *     [--w5-workers 0]
 *   deno run -A bench/throughput.ts [same flags]
 *
 * Writes bench/results/<runtime>.json. `node bench/run.mjs` runs everything on both runtimes.
 *
 * @module
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { openStore, type Store, type StoreOptions } from "../mod.ts";
import {
  args,
  benchDir,
  type DriveResult,
  driveWorkers,
  gc,
  Latencies,
  load1,
  round,
  rss,
  runtimeName,
  writeResults,
} from "./_common.ts";

/** One measured row. */
export interface ThroughputRow {
  workload: string;
  backend: string;
  shards: number;
  durability: string;
  workers: number;
  concurrency: number;
  opsPerSec: number;
  ops: number;
  errors: number;
  /** Latency per operation in microseconds. */
  p50: number;
  p99: number;
  p999: number;
  note?: string;
  /** W5: processes writing the store at once, each with `concurrency / processes` writers. */
  processes?: number;
  /** W5: ops/s of each process. */
  perProcess?: number[];
  /** W5: min / max of `perProcess` (1: perfectly fair). */
  fairness?: number;
}

const opt = args();
const quick = opt.has("quick");
const seconds = Number(opt.get("duration") ?? (quick ? 0.3 : 5));
const shardCounts = (opt.get("shards") ?? "1,4,16,64").split(",").map(Number);
const backends = (opt.get("backends") ?? "sqlite,memory,deno-kv").split(",");
const only = opt.get("workloads")?.split(",");
// 0: shards in the calling thread; n: the `workers` option (sqlite only).
const workerCounts = (opt.get("workers") ?? (quick ? "0" : "0,2")).split(",").map(Number);
const durabilities = (opt.get("durability") ?? "relaxed,normal,full").split(",");
const processCounts = (opt.get("processes") ?? "1,2,4").split(",").map(Number);
const w5Durabilities = (opt.get("w5-durability") ?? "relaxed,normal").split(",");
const w5Workers = (opt.get("w5-workers") ?? "0").split(",").map(Number);
const keysToLoad = Number(opt.get("keys") ?? (quick ? 20_000 : 1_000_000));
const CONCURRENCY = 64;
const SCANNERS = 8;
const HOT_KEYS = 10_000;
const SCAN_KEYS = 1000;
const VALUE = new Uint8Array(1024).fill(7);
const wants = (w: string) => only === undefined || only.includes(w);

const rows: ThroughputRow[] = [];
const lat = new Latencies();

/** `drive` recording into this run's latencies. */
function drive(
  concurrency: number,
  ms: number,
  op: (worker: number, n: number) => Promise<unknown>,
): Promise<DriveResult> {
  return driveWorkers(concurrency, ms, op, lat);
}

function record(
  base: Omit<ThroughputRow, "opsPerSec" | "ops" | "errors" | "p50" | "p99" | "p999">,
  r: { opsPerSec: number; ops: number; errors: number },
): void {
  const row: ThroughputRow = { ...base, ...r, ...lat.percentiles() };
  rows.push(row);
  console.error(
    `${row.workload.padEnd(5)} ${row.backend.padEnd(7)} shards=${String(row.shards).padEnd(2)} ` +
      `${row.durability.padEnd(7)} workers=${row.workers} ${
        String(row.opsPerSec).padStart(9)
      } ops/s ` +
      `p50=${row.p50}us p99=${row.p99}us p99.9=${row.p999}us${
        row.errors ? ` errors=${row.errors}` : ""
      }`,
  );
}

const randomKey = (): string => {
  // 16 random bytes as 16 characters from a 64-letter alphabet: cheap and uniform.
  let s = "";
  for (let i = 0; i < 16; i++) s += ALPHABET[(Math.random() * 64) | 0];
  return s;
};
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const preKey = (i: number) => `key_${String(i).padStart(8, "0")}`;

async function open(
  backend: string,
  extra: Partial<StoreOptions>,
): Promise<{ store: Store; dispose(): Promise<void> }> {
  const { dir, dispose } = await benchDir(backend);
  const store = await openStore(`${dir}/store`, {
    backend: backend as StoreOptions["backend"],
    ...extra,
  });
  return {
    store,
    dispose: async () => {
      await store.close();
      await dispose();
    },
  };
}

async function preload(store: Store, count: number, key: (i: number) => string): Promise<void> {
  const BATCH = 10_000;
  for (let i = 0; i < count; i += BATCH) {
    const pairs: [string, Uint8Array][] = [];
    for (let j = i; j < Math.min(count, i + BATCH); j++) pairs.push([key(j), VALUE]);
    await store.batchSet(pairs);
  }
}

async function writes(backend: string, shards: number, workers: number): Promise<void> {
  const durs = backend === "sqlite" ? durabilities : ["normal"];
  const ms = seconds * 1000;
  for (const durability of durs) {
    if (!wants("W1")) break;
    const s = await open(
      backend,
      withWorkers({ shards, durability: durability as StoreOptions["durability"] }, workers),
    );
    try {
      const r = await drive(CONCURRENCY, ms, (w, n) => s.store.set(`key_${w}_${n}`, VALUE));
      record({ workload: "W1", backend, shards, durability, workers, concurrency: CONCURRENCY }, r);
    } finally {
      await s.dispose();
    }
  }
  if (wants("W1r")) {
    const s = await open(backend, withWorkers({ shards }, workers));
    try {
      const r = await drive(CONCURRENCY, ms, () => s.store.set(randomKey(), VALUE));
      record({
        workload: "W1r",
        backend,
        shards,
        durability: "normal",
        workers,
        concurrency: CONCURRENCY,
      }, r);
    } finally {
      await s.dispose();
    }
  }
}

async function reads(backend: string, shards: number, workers: number): Promise<void> {
  const ms = seconds * 1000;
  // Deno KV loads ~10K keys/s: a million would take minutes a run.
  const preloadKeys = backend === "deno-kv" ? Math.min(keysToLoad, 100_000) : keysToLoad;
  const base = { backend, shards, durability: "normal", workers };
  if (wants("W2") || wants("W3") || wants("W4")) {
    const s = await open(backend, withWorkers({ shards }, workers));
    try {
      await preload(s.store, preloadKeys, preKey);
      if (wants("W2")) {
        const r = await drive(
          CONCURRENCY,
          ms,
          () => s.store.get(preKey((Math.random() * preloadKeys) | 0)),
        );
        record(
          { workload: "W2", ...base, concurrency: CONCURRENCY, note: `${preloadKeys} keys` },
          r,
        );
      }
      if (wants("W3")) {
        await preload(s.store, SCAN_KEYS, (i) => `scan:${String(i).padStart(5, "0")}`);
        const r = await drive(SCANNERS, ms, async () => {
          const found = await s.store.scan("scan:");
          if (found.length !== SCAN_KEYS) throw new Error(`scan returned ${found.length}`);
        });
        record({ workload: "W3", ...base, concurrency: SCANNERS }, r);
      }
      if (wants("W4")) {
        const r = await drive(CONCURRENCY, ms, (_w, n) => {
          const key = preKey((Math.random() * preloadKeys) | 0);
          return n % 10 === 9 ? s.store.set(key, VALUE) : s.store.get(key);
        });
        record({ workload: "W4", ...base, concurrency: CONCURRENCY }, r);
      }
    } finally {
      await s.dispose();
    }
  }
  if (wants("W2h")) {
    const s = await open(
      backend,
      withWorkers({ shards, cache: { maxEntries: 2 * HOT_KEYS } }, workers),
    );
    try {
      await preload(s.store, HOT_KEYS, preKey);
      const r = await drive(
        CONCURRENCY,
        ms,
        () => s.store.get(preKey((Math.random() * HOT_KEYS) | 0)),
      );
      record(
        { workload: "W2h", ...base, concurrency: CONCURRENCY, note: `${HOT_KEYS} hot keys` },
        r,
      );
    } finally {
      await s.dispose();
    }
  }
}

/** The command line that runs this script again with `extra` arguments. */
function selfCommand(extra: string[], v8Flags: string[] = []): [string, string[]] {
  const self = fileURLToPath(import.meta.url);
  return [
    process.execPath,
    runtimeName() === "deno"
      ? ["run", "-A", "--no-check", ...v8Flags, self, ...extra]
      : [self, ...extra],
  ];
}

/** A child process whose stdout is read a line at a time. */
function lineChild(argv: [string, string[]]): {
  child: ChildProcessWithoutNullStreams;
  nextLine(): Promise<string>;
} {
  const child = spawn(argv[0], argv[1], { stdio: ["pipe", "pipe", "pipe"] });
  let buffered = "";
  let stderr = "";
  let closed = false;
  const waiting: ((line: string) => void)[] = [];
  const failed: ((e: Error) => void)[] = [];
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => stderr += s);
  child.stdout.on("data", (s: string) => {
    buffered += s;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1 && waiting.length > 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      failed.shift();
      waiting.shift()!(line);
    }
  });
  child.on("close", (code) => {
    closed = true;
    for (const fail of failed.splice(0)) {
      fail(new Error(`W5 child exited with ${code}: ${stderr.slice(-2000)}`));
    }
  });
  return {
    child,
    nextLine: () =>
      new Promise((resolve, reject) => {
        const nl = buffered.indexOf("\n");
        if (nl !== -1) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          return resolve(line);
        }
        if (closed) {
          return reject(
            new Error(`W5 child exited with ${child.exitCode}: ${stderr.slice(-2000)}`),
          );
        }
        waiting.push(resolve);
        failed.push(reject);
      }),
  };
}

/**
 * W5: P processes (P from --processes) open one store directory and each drives 64 writers of
 * unique keys for the duration, all starting together; total and per-process throughput, and
 * fairness = min / max per process. The way `deno serve --parallel` or a Bun cluster shares an
 * embedded store.
 */
async function multiProcess(backend: string, shards: number, workers: number): Promise<void> {
  if (!wants("W5") || backend !== "sqlite" || !w5Workers.includes(workers)) return;
  for (const durability of w5Durabilities) {
    for (const processes of processCounts) {
      const { dir, dispose } = await benchDir("w5");
      const path = `${dir}/store`;
      const children: ReturnType<typeof lineChild>[] = [];
      try {
        await (await openStore(path, { shards })).close();
        for (let id = 0; id < processes; id++) {
          children.push(lineChild(selfCommand([
            "--w5-child",
            path,
            "--id",
            String(id),
            "--durability",
            durability,
            "--workers",
            String(workers),
            "--duration",
            String(seconds),
          ])));
        }
        // Every process has opened the store before any starts writing.
        for (const c of children) {
          const line = await c.nextLine();
          if (line !== "ready") throw new Error(`W5 child said ${JSON.stringify(line)}`);
        }
        for (const c of children) c.child.stdin.end("go\n");
        const results = await Promise.all(
          children.map(async (c) =>
            JSON.parse(await c.nextLine()) as {
              opsPerSec: number;
              ops: number;
              errors: number;
              p50: number;
              p99: number;
              p999: number;
            }
          ),
        );
        const perProcess = results.map((r) => r.opsPerSec);
        const fairness = round(Math.min(...perProcess) / Math.max(...perProcess), 2);
        const row: ThroughputRow = {
          workload: "W5",
          backend,
          shards,
          durability,
          workers,
          concurrency: CONCURRENCY * processes,
          opsPerSec: perProcess.reduce((a, b) => a + b, 0),
          ops: results.reduce((a, r) => a + r.ops, 0),
          errors: results.reduce((a, r) => a + r.errors, 0),
          // The slowest process's latencies.
          p50: Math.max(...results.map((r) => r.p50)),
          p99: Math.max(...results.map((r) => r.p99)),
          p999: Math.max(...results.map((r) => r.p999)),
          processes,
          perProcess,
          fairness,
          note: `${processes} process(es): ${perProcess.join(" / ")} ops/s, fairness ${fairness}`,
        };
        rows.push(row);
        console.error(
          `W5    ${backend.padEnd(7)} shards=${String(shards).padEnd(2)} ${durability.padEnd(7)} ` +
            `workers=${workers} P=${processes} ${String(row.opsPerSec).padStart(9)} ops/s total, ` +
            `per process ${perProcess.join("/")}, fairness ${fairness}` +
            (row.errors ? ` errors=${row.errors}` : ""),
        );
      } finally {
        for (const c of children) if (c.child.exitCode === null) c.child.kill();
        await dispose();
      }
    }
  }
}

/** Child side of W5: opens the store, says "ready", waits for a line, writes, reports. */
async function w5Child(path: string): Promise<void> {
  const id = opt.get("id") ?? "0";
  const durability = (opt.get("durability") ?? "normal") as StoreOptions["durability"];
  const store = await openStore(path, withWorkers({ durability }, Number(opt.get("workers") ?? 0)));
  console.log("ready");
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  process.stdin.pause();
  const r = await drive(
    CONCURRENCY,
    seconds * 1000,
    (w, n) => store.set(`p${id}_key_${w}_${n}`, VALUE),
  );
  console.log(JSON.stringify({ ...r, ...lat.percentiles() }));
  await store.close();
  process.exit(0);
}

/** Sets the `workers` option: explicit, so a row's count never depends on `"auto"`. */
function withWorkers(o: Partial<StoreOptions>, workers: number): Partial<StoreOptions> {
  return { ...o, workers };
}

/**
 * Memory and open time of 64 idle shards: the store is created here, then reopened and
 * measured in a fresh process.
 */
async function idleMemory(backend: string): Promise<void> {
  const { dir, dispose } = await benchDir("probe");
  const t0 = performance.now();
  const created = await openStore(`${dir}/store`, { shards: 64, backend: backend as "sqlite" });
  const createMs = round(performance.now() - t0, 1);
  await created.close();
  const [cmd, argv] = selfCommand(["--probe", `${dir}/store`], ["--v8-flags=--expose-gc"]);
  const r = spawnSync(cmd, argv, { encoding: "utf8" });
  await dispose();
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    const m = JSON.parse(line) as { baseMB: number; rssMB: number; openMs: number };
    rows.push({
      workload: "memory",
      backend,
      shards: 64,
      durability: "normal",
      workers: 0,
      concurrency: 0,
      opsPerSec: 0,
      ops: 0,
      errors: 0,
      p50: NaN,
      p99: NaN,
      p999: NaN,
      note:
        `rss ${m.rssMB} MB (runtime alone ${m.baseMB} MB), open ${m.openMs} ms (create ${createMs} ms)`,
    });
    console.error(`memory ${backend} 64 shards: ${rows.at(-1)!.note}`);
  } catch {
    console.error(`memory probe failed: ${r.stderr}`);
  }
}

/** Child side of idleMemory: opens the existing store at `path` and reports RSS. */
async function probe(path: string): Promise<void> {
  gc();
  const base = rss();
  const t0 = performance.now();
  const store = await openStore(path);
  const openMs = performance.now() - t0;
  await store.set("warm", VALUE);
  await new Promise((r) => setTimeout(r, 300));
  gc();
  const mb = (b: number) => round(b / 2 ** 20, 1);
  console.log(JSON.stringify({ baseMB: mb(base), rssMB: mb(rss()), openMs: round(openMs, 1) }));
  await store.close();
}

async function main(): Promise<void> {
  if (opt.has("probe")) return await probe(opt.get("probe")!);
  if (opt.has("w5-child")) return await w5Child(opt.get("w5-child")!);
  const started = new Date().toISOString();
  const loadStart = load1();
  for (const backend of backends) {
    if (backend === "deno-kv") {
      try {
        const s = await open(backend, { shards: 1 });
        await s.store.set("probe", VALUE);
        await s.dispose();
      } catch (e) {
        console.error(`deno-kv skipped: ${(e as Error).message}`);
        rows.push({
          workload: "all",
          backend,
          shards: 0,
          durability: "",
          workers: 0,
          concurrency: 0,
          opsPerSec: 0,
          ops: 0,
          errors: 0,
          p50: NaN,
          p99: NaN,
          p999: NaN,
          note: `skipped: ${(e as Error).message}`,
        });
        continue;
      }
    }
    for (const workers of workerCounts) {
      if (workers > 0 && backend !== "sqlite") continue;
      for (const shards of shardCounts) {
        if (workers > shards) continue;
        await writes(backend, shards, workers);
        await reads(backend, shards, workers);
        await multiProcess(backend, shards, workers);
      }
    }
    if (wants("memory") && backend !== "memory") await idleMemory(backend);
  }
  await writeResults(opt.get("out") ?? runtimeName(), {
    bench: "throughput",
    mode: quick ? "quick" : "full",
    seconds,
    preloadKeys: keysToLoad,
    started,
    loadStart,
    rows,
  });
}

await main();
