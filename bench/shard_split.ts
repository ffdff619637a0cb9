/**
 * What splitting one thread's writes over N shards costs (issue 12 item 2), measured in CPU time
 * so that other load on the machine matters less: rows written per CPU-second by raw SQLite
 * (the runtime's driver, `synchronous=OFF`) with 64 rows per commit in one file and with the
 * same 64 rows split over N files (64/N rows per commit each) — SQLite's own floor for the split
 * — against shardkv's W1 relaxed (64 writers, unique keys, 1 KiB values) with 1 and N shards.
 *
 *   bun bench/shard_split.ts [--shards 16] [--seconds 2] [--rounds 3]
 *   deno run -A bench/shard_split.ts [same flags]
 *
 * @module
 */
import process from "node:process";
import { openStore } from "../mod.ts";
import { openSqliteDatabase } from "../backends/_sqlite_driver.ts";
import { args, benchDir, load1, round, runtimeName, writeResults } from "./_common.ts";

const opt = args();
const shards = Number(opt.get("shards") ?? 16);
const seconds = Number(opt.get("seconds") ?? 2);
const rounds = Number(opt.get("rounds") ?? 3);
const VALUE = new Uint8Array(1024).fill(7);

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Rows per CPU-second of raw SQLite: 64 rows a turn spread over `files` files. */
async function raw(files: number): Promise<number> {
  const { dir, dispose } = await benchDir("split");
  const dbs = await Promise.all(Array.from({ length: files }, async (_, i) => {
    const { db } = await openSqliteDatabase(`${dir}/f${i}.sqlite`);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF");
    db.exec("CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)");
    return {
      db,
      begin: db.prepare("BEGIN IMMEDIATE"),
      commit: db.prepare("COMMIT"),
      put: db.prepare("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)"),
    };
  }));
  let rows = 0;
  const c0 = cpuMs();
  const end = performance.now() + seconds * 1000;
  for (let turn = 0; performance.now() < end; turn++) {
    for (let f = 0; f < files; f++) {
      const d = dbs[f];
      d.begin.run();
      for (let w = f; w < 64; w += files) d.put.run(`key_${w}_${turn}`, VALUE);
      d.commit.run();
    }
    rows += 64;
    // One turn of the event loop per 64 rows, as the store's group commit has.
    if (turn % 16 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  const cpu = cpuMs() - c0;
  for (const d of dbs) d.db.close();
  await dispose();
  return rows / (cpu / 1000);
}

/** Writes per CPU-second of shardkv's W1 relaxed with `n` shards. */
async function store(n: number): Promise<number> {
  const { dir, dispose } = await benchDir("split");
  const s = await openStore(`${dir}/store`, { shards: n, durability: "relaxed" });
  let ops = 0;
  const c0 = cpuMs();
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: 64 }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      await s.set(`key_${w}_${i}`, VALUE);
      ops++;
    }
  }));
  const cpu = cpuMs() - c0;
  await s.close();
  await dispose();
  return ops / (cpu / 1000);
}

const loadStart = load1();
const rows: Record<string, number>[] = [];
for (let r = 0; r < rounds; r++) {
  const raw1 = await raw(1);
  const rawN = await raw(shards);
  const kv1 = await store(1);
  const kvN = await store(shards);
  const row = {
    raw1: round(raw1),
    rawN: round(rawN),
    shardkv1: round(kv1),
    shardkvN: round(kvN),
    rawRatio: round(rawN / raw1, 2),
    shardkvRatio: round(kvN / kv1, 2),
    shardkv1VsRaw: round(kv1 / raw1, 2),
  };
  rows.push(row);
  console.error(
    `per CPU-second: raw 1 file ${row.raw1}, ${shards} files ${row.rawN} (${row.rawRatio}x); ` +
      `shardkv 1 shard ${row.shardkv1} (${row.shardkv1VsRaw}x raw), ${shards} shards ` +
      `${row.shardkvN} (${row.shardkvRatio}x)`,
  );
}
await writeResults(opt.get("out") ?? `${runtimeName()}-shard-split`, {
  bench: "shard_split",
  shards,
  seconds,
  loadStart,
  rows,
});
