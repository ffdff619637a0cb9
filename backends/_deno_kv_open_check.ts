// What runs before Deno KV opens an existing deno-kv shard file. Right after opening a file,
// Deno KV's database thread runs a few statements of its own (denokv_sqlite's queue cleanup,
// next queued message and expiry collection, then again about every minute) and panics on any
// error they return: a damaged page on their path aborts the whole process (Deno 2.9; @deno/kv
// on Bun and Node), where no caller can catch it. The same statements, run first through the
// project's read-only SQLite connection, turn that damage into a CorruptStoreError before Deno
// KV ever sees the file. They read a handful of pages (the small queue tables and the path to
// the end of the expiry index), not the whole file.
import { CorruptStoreError, type StorageErrorInit } from "../core/errors.ts";
import { isOpenThroughNpm } from "./_deno_kv_api.ts";
import { hasSqliteCode, openSqliteDatabase, type SqlValue } from "./_sqlite_driver.ts";
import { allRows } from "./_sqlite_verify.ts";

/**
 * The reads of Deno KV's startup and periodic tasks (denokv_sqlite 0.14, sqlite/backend.rs),
 * with the parameters they take besides the current time (`now` stands for it). The expiry
 * collection deletes the rows it selects here; shardkv never gives Deno KV an expiry time
 * (TTLs live in its own records), so it finds none.
 */
const TASK_READS: { sql: string; withNow: boolean }[] = [
  // queue_cleanup: messages whose processing deadline passed.
  {
    sql: "SELECT id FROM queue_running WHERE deadline <= ? ORDER BY deadline LIMIT 100",
    withNow: true,
  },
  // queue_next_ready.
  { sql: "SELECT ts FROM queue ORDER BY ts LIMIT 1", withNow: false },
  // collect_expired: the rows it deletes, then the next expiry time.
  { sql: "SELECT k FROM kv WHERE expiration_ms >= 0 AND expiration_ms <= ?", withNow: true },
  {
    sql: "SELECT expiration_ms FROM kv WHERE expiration_ms >= 0 ORDER BY expiration_ms LIMIT 1",
    withNow: false,
  },
];

/**
 * Throws `CorruptStoreError` when a statement of Deno KV's background task fails on the
 * existing file at `where.path` with SQLite's corruption codes. Other failures (a table that an
 * older Deno KV did not create yet, a file it cannot read) are left to Deno KV's open, which
 * reports them as errors. Not run for a file this process already holds open through
 * `@deno/kv` (a second copy of SQLite must not open it; its task already runs on the file).
 */
export async function checkBeforeDenoKv(where: StorageErrorInit): Promise<void> {
  if (isOpenThroughNpm(where.path)) return;
  let db;
  try {
    ({ db } = await openSqliteDatabase(where.path, { readOnly: true }));
    const now: SqlValue = Date.now();
    for (const { sql, withNow } of TASK_READS) {
      try {
        allRows(db, sql, ...(withNow ? [now] : []));
      } catch (e) {
        if (!/no such (table|column)/.test(String((e as Error).message))) throw e;
      }
    }
  } catch (e) {
    if (!hasSqliteCode(e, ["SQLITE_CORRUPT", "SQLITE_NOTADB"])) return;
    throw new CorruptStoreError(
      `${(e as Error).message} (in the pages Deno KV's background task reads right after ` +
        "opening the file, where it would abort the process)",
      where,
      { cause: e },
    );
  } finally {
    db?.close();
  }
}
