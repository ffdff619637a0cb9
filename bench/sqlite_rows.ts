// What a point read of the SQLite backend costs in the driver, by the shape its row comes back
// in: the runtime's own row object, read by name (what the backend did before), against the
// driver's `prepareArrays` statement, read by index (what it does now). One shard file of
// 1 KiB values, random keys, CPU time per read (user + system, the measure the machine's other
// load disturbs least), shapes interleaved round by round, median of the rounds.
//
//   deno run -A bench/sqlite_rows.ts [--keys 100000] [--rounds 9]
//   bun bench/sqlite_rows.ts
//   node bench/sqlite_rows.ts
//
// Measured on the 2-core machine (2026-11-30), us per read, objects against arrays: Deno 4.67
// and 3.95, Node 4.36 and 3.75, Bun 2.80 and 2.84.
import process from "node:process";
import { openSqliteDatabase, type SqlValue } from "../backends/_sqlite_driver.ts";
import { runtimeName } from "../core/runtime.ts";
import { args, benchDir, round } from "./_common.ts";

const opt = args();
const keys = Number(opt.get("keys") ?? 100_000);
const rounds = Number(opt.get("rounds") ?? 9);
const ROUND_MS = 250;
const GET = "SELECT value, expires_at, crc, version FROM kv WHERE key = ?";
const keyOf = (i: number) => `key_${String(i).padStart(8, "0")}`;

const { dir, dispose } = await benchDir("sqlite-rows");
const { db } = await openSqliteDatabase(`${dir}/rows.sqlite`);
try {
  db.exec("PRAGMA journal_mode = WAL; PRAGMA mmap_size = 1073741824");
  db.exec(
    "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at INTEGER, " +
      "crc INTEGER, version INTEGER NOT NULL DEFAULT 0)",
  );
  const insert = db.prepare("INSERT INTO kv VALUES (?, ?, NULL, ?, 1)");
  const value = new Uint8Array(1024).fill(7);
  db.exec("BEGIN");
  for (let i = 0; i < keys; i++) insert.run(keyOf(i), value, i);
  db.exec("COMMIT");

  const asObjects = db.prepare(GET);
  const asArrays = db.prepareArrays(GET);
  const sample = Array.from({ length: 1 << 16 }, () => keyOf((Math.random() * keys) | 0));
  let sink = 0;
  // Each shape reads every field, as the backend's #row does.
  const use = (v: SqlValue, exp: SqlValue, crc: SqlValue, version: SqlValue) => {
    sink += (v as Uint8Array).length + Number(crc) + Number(exp ?? 0) + Number(version);
  };
  const shapes: [string, (key: string) => void][] = [
    ["objects", (key) => {
      const row = asObjects.get(key)!;
      use(row.value, row.expires_at, row.crc, row.version);
    }],
    ["arrays", (key) => {
      const row = asArrays.get(key)!;
      use(row[0], row[1], row[2], row[3]);
    }],
  ];
  const cpu = new Map<string, number[]>(shapes.map(([name]) => [name, []]));
  for (let r = 0; r <= rounds; r++) {
    for (const [name, read] of shapes) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let n = 0;
      while (performance.now() - t0 < ROUND_MS) {
        for (let i = 0; i < 256; i++) read(sample[n++ & 0xffff]);
      }
      const c = process.cpuUsage(c0);
      if (r > 0) cpu.get(name)!.push((c.user + c.system) / n); // round 0 warms up
    }
  }
  for (const [name, us] of cpu) {
    us.sort((a, b) => a - b);
    console.log(`${runtimeName()} ${name.padEnd(8)} ${round(us[us.length >> 1], 2)} us per read`);
  }
  if (sink === -1) console.log(sink);
  asObjects.finalize?.();
  asArrays.finalize?.();
} finally {
  db.close();
  await dispose();
}
