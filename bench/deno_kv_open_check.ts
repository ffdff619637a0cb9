// What the check before Deno KV opens a shard file costs (backends/_deno_kv_open_check.ts: the
// statements of Deno KV's background task, run first through a read-only SQLite connection),
// against opening the shard itself and against SQLite's PRAGMA quick_check (which reads the
// whole file), on one shard of 100K keys (100-byte values).
//   deno run -A --unstable-kv bench/deno_kv_open_check.ts; bun bench/deno_kv_open_check.ts
// Prints the median ms of each over interleaved rounds and its ratio to the whole open.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDenoKvDriver } from "../backends/deno_kv.ts";
import { checkBeforeDenoKv } from "../backends/_deno_kv_open_check.ts";
import { openSqliteDatabase } from "../backends/_sqlite_driver.ts";
import { allRows } from "../backends/_sqlite_verify.ts";

const KEYS = 100_000;
const ROUNDS = 7;

const dir = await mkdtemp(join(tmpdir(), "shardkv-open-check-"));
const path = join(dir, "shard-000.kv");
try {
  const driver = await openDenoKvDriver(path);
  const value = new Uint8Array(100).fill(7);
  for (let i = 0; i < KEYS; i += 500) {
    await driver.apply(
      Array.from({ length: 500 }, (_, j) => ({ key: `key:${i + j}`, value })),
    );
  }
  await driver.close();

  const where = { shard: 0, path };
  const cases: [string, () => Promise<unknown>][] = [
    ["open + close (with the check)", async () => await (await openDenoKvDriver(path)).close()],
    ["check before Deno KV", () => checkBeforeDenoKv(where)],
    ["PRAGMA quick_check", async () => {
      const { db } = await openSqliteDatabase(path, { readOnly: true });
      allRows(db, "PRAGMA quick_check");
      db.close();
    }],
  ];
  const times = cases.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, run]] of cases.entries()) {
      const t = performance.now();
      await run();
      times[i].push(performance.now() - t);
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(times[0]);
  for (const [i, [name]] of cases.entries()) {
    const ms = median(times[i]);
    console.log(`${name.padEnd(32)} ${ms.toFixed(2).padStart(9)} ms  ${(ms / base).toFixed(3)}x`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
