/**
 * Per-operation comparison with tinybench: get, set, batchSet of 100, scan of 100 and incr on
 * shardkv's backends and on what a user would pick instead, in the same run: the runtime's
 * own SQLite used the obvious way (one file, one statement per call), Deno KV used directly
 * (Deno only) and lmdb from npm. Operations run one at a time, so this is single-caller
 * latency; bench/throughput.ts measures 64 concurrent callers.
 *
 *   bun bench/backends_bench.ts [--quick]
 *   deno run -A bench/backends_bench.ts [--quick]
 *
 * Writes bench/results/<runtime>-backends.json.
 *
 * @module
 */
import { Bench } from "tinybench";
import { openStore, type StoreOptions } from "../mod.ts";
import { args, benchDir, load1, round, runtimeName, writeResults } from "./_common.ts";

/** The five operations every target implements. */
interface Target {
  name: string;
  get(key: string): unknown;
  set(key: string, value: Uint8Array): unknown;
  batchSet(pairs: [string, Uint8Array][]): unknown;
  scan(prefix: string, limit: number): unknown;
  incr(key: string): unknown;
  close(): Promise<void>;
}

/** One measured row. */
export interface BackendRow {
  target: string;
  op: string;
  opsPerSec: number;
  /** Latency in microseconds. */
  p50: number;
  p99: number;
}

const opt = args();
const quick = opt.has("quick");
const PRELOAD = quick ? 2_000 : 10_000;
const VALUE = new Uint8Array(1024).fill(7);
const keyOf = (i: number) => `key_${String(i).padStart(8, "0")}`;

async function shardkv(backend: string, shards: number): Promise<Target> {
  const { dir, dispose } = await benchDir(`tb-${backend}`);
  const store = await openStore(`${dir}/store`, {
    backend: backend as StoreOptions["backend"],
    shards,
  });
  return {
    name: `shardkv ${backend} ${shards} shard${shards > 1 ? "s" : ""}`,
    get: (k) => store.get(k),
    set: (k, v) => store.set(k, v),
    batchSet: (p) => store.batchSet(p),
    scan: (p, limit) => store.scan(p, { limit }),
    incr: (k) => store.incr(k),
    close: async () => {
      await store.close();
      await dispose();
    },
  };
}

interface RawStatement {
  get(...p: unknown[]): unknown;
  all(...p: unknown[]): unknown[];
  run(...p: unknown[]): unknown;
}
interface RawDb {
  exec(sql: string): void;
  prepare(sql: string): RawStatement;
  close(): void;
}

/** The runtime's SQLite the way its docs show it: one file, autocommit, one statement a call. */
async function rawSqlite(): Promise<Target> {
  const { dir, dispose } = await benchDir("tb-raw");
  const path = `${dir}/raw.sqlite`;
  let db: RawDb;
  let name: string;
  if (runtimeName() === "bun") {
    const { Database } = await import("bun:sqlite" as string);
    db = new Database(path, { create: true });
    name = "raw bun:sqlite";
  } else {
    const { DatabaseSync } = await import("node:sqlite");
    db = new DatabaseSync(path) as unknown as RawDb;
    name = "raw node:sqlite";
  }
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
  db.exec("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)");
  const get = db.prepare("SELECT value FROM kv WHERE key = ?");
  const put = db.prepare("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)");
  const scan = db.prepare("SELECT key, value FROM kv WHERE key >= ? ORDER BY key LIMIT ?");
  const incr = db.prepare(
    "INSERT INTO kv (key, value) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value",
  );
  const begin = db.prepare("BEGIN");
  const commit = db.prepare("COMMIT");
  return {
    name,
    get: (k) => get.get(k),
    set: (k, v) => put.run(k, v),
    batchSet: (pairs) => {
      begin.run();
      for (const [k, v] of pairs) put.run(k, v);
      commit.run();
    },
    scan: (p, limit) => scan.all(p, limit),
    incr: (k) => incr.get(k),
    close: async () => {
      db.close();
      await dispose();
    },
  };
}

interface DenoKvAtomic {
  set(key: string[], value: unknown): DenoKvAtomic;
  sum(key: string[], n: bigint): DenoKvAtomic;
  commit(): Promise<unknown>;
}
interface DenoKv {
  get(key: string[]): Promise<unknown>;
  set(key: string[], value: unknown): Promise<unknown>;
  atomic(): DenoKvAtomic;
  list(
    selector: { prefix: string[] } | { start: string[]; end: string[] },
    o: { limit: number },
  ): AsyncIterable<unknown>;
  close(): void;
}

/** Deno KV through Deno.openKv, one key part per key. */
async function denoKv(): Promise<Target> {
  const { dir, dispose } = await benchDir("tb-denokv");
  const deno = (globalThis as unknown as { Deno: { openKv(path: string): Promise<DenoKv> } }).Deno;
  const kv = await deno.openKv(`${dir}/kv.sqlite`);
  return {
    name: "Deno KV (Deno.openKv)",
    get: (k) => kv.get([k]),
    set: (k, v) => kv.set([k], v),
    batchSet: (pairs) => {
      const a = kv.atomic();
      for (const [k, v] of pairs) a.set([k], v);
      return a.commit();
    },
    scan: async (p, limit) => {
      const out: unknown[] = [];
      for await (const e of kv.list({ start: [p], end: [`${p}\uffff`] }, { limit })) out.push(e);
      return out;
    },
    incr: (k) => kv.atomic().sum(["n", k], 1n).commit(),
    close: async () => {
      kv.close();
      await dispose();
    },
  };
}

interface LmdbDb {
  getBinary(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): Promise<boolean>;
  getRange(o: { start: string; limit: number }): Iterable<unknown>;
  transaction<T>(fn: () => T): Promise<T>;
  close(): Promise<void>;
}

/** lmdb from npm with raw binary values (its default commits are batched and fsynced). */
async function lmdb(): Promise<Target> {
  const { dir, dispose } = await benchDir("tb-lmdb");
  const { open } = await import("lmdb");
  const db = open({ path: `${dir}/lmdb`, encoding: "binary" }) as unknown as LmdbDb;
  const counter = new Uint8Array(8);
  const view = new DataView(counter.buffer);
  return {
    name: "lmdb (npm)",
    get: (k) => db.getBinary(k),
    set: (k, v) => db.put(k, v),
    batchSet: (pairs) =>
      db.transaction(() => {
        for (const [k, v] of pairs) db.put(k, v);
      }),
    scan: (p, limit) => Array.from(db.getRange({ start: p, limit })),
    incr: (k) =>
      db.transaction(() => {
        const cur = db.getBinary(k);
        const n = cur === undefined
          ? 0n
          : new DataView(cur.buffer, cur.byteOffset, 8).getBigInt64(0);
        view.setBigInt64(0, n + 1n);
        db.put(k, counter.slice());
      }),
    close: async () => {
      await db.close();
      await dispose();
    },
  };
}

async function targets(): Promise<Target[]> {
  const list: (() => Promise<Target>)[] = [
    () => shardkv("sqlite", 1),
    () => shardkv("sqlite", 16),
    () => shardkv("memory", 16),
    () => shardkv("deno-kv", 16),
    rawSqlite,
    lmdb,
  ];
  if (runtimeName() === "deno") list.push(denoKv);
  const out: Target[] = [];
  for (const make of list) {
    try {
      out.push(await make());
    } catch (e) {
      console.error(`skipped a target: ${(e as Error).message}`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const rows: BackendRow[] = [];
  const loadStart = load1();
  for (const t of await targets()) {
    for (let i = 0; i < PRELOAD; i += 100) {
      await t.batchSet(Array.from({ length: 100 }, (_, j) => [keyOf(i + j), VALUE]));
    }
    const bench = new Bench({ time: quick ? 150 : 1000, warmupTime: quick ? 30 : 200 });
    let n = 0;
    let batch = 0;
    bench
      .add("get", () => t.get(keyOf((Math.random() * PRELOAD) | 0)))
      .add("set", () => t.set(`w_${n++}`, VALUE))
      .add("batchSet 100", () => {
        const b = batch++;
        return t.batchSet(Array.from({ length: 100 }, (_, j) => [`b_${b}_${j}`, VALUE]));
      })
      .add("scan 100", () => t.scan(keyOf((Math.random() * (PRELOAD - 100)) | 0).slice(0, 10), 100))
      .add("incr", () => t.incr(`counter_${n++ % 100}`));
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result;
      if (r.state !== "completed") {
        console.error(`${t.name} ${task.name}: ${r.state}${"error" in r ? ` ${r.error}` : ""}`);
        continue;
      }
      const row: BackendRow = {
        target: t.name,
        op: task.name,
        opsPerSec: Math.round(r.throughput.mean),
        p50: round(r.latency.p50 * 1000, 1),
        p99: round(r.latency.p99 * 1000, 1),
      };
      rows.push(row);
      console.error(
        `${row.target.padEnd(26)} ${row.op.padEnd(13)} ${
          String(row.opsPerSec).padStart(9)
        } ops/s p50=${row.p50}us p99=${row.p99}us`,
      );
    }
    await t.close();
  }
  await writeResults(`${runtimeName()}-backends`, {
    bench: "backends",
    mode: quick ? "quick" : "full",
    started: new Date().toISOString(),
    loadStart,
    rows,
  });
}

await main();
