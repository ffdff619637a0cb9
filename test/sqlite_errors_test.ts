// Typed errors of the SQLite driver (issue 16): a write lock another connection holds beyond
// the busy timeout is a StorageError naming shard, file and timeout (also through workers and
// from begin()); an I/O error met while the shard's file system is full is a StorageFullError.
import assert from "node:assert/strict";
import { closeSync, openSync, writeSync } from "node:fs";
import { rm } from "node:fs/promises";
import { test } from "node:test";
import type { Driver } from "../core/driver.ts";
import { StorageError, StorageFullError } from "../core/errors.ts";
import { openSqliteDriver } from "../backends/sqlite.ts";
import { openSqliteDatabase, storageErrorOf } from "../backends/_sqlite_driver.ts";
import { WorkerPool } from "../backends/_worker_pool.ts";
import { dec, enc, withTempDir } from "./_helpers.ts";
import { inTmpfs } from "./_tmpfs.ts";
import { SLOW } from "./_runtimes.ts";

const BUSY_TIMEOUT = 150;

const HOSTS: [string, (path: string) => Promise<Driver>][] = [
  ["sqlite", (path) => openSqliteDriver(`${path}.sqlite`, { shard: 2, busyTimeout: BUSY_TIMEOUT })],
  ["sqlite workers: 2", (path) => {
    const pool = new WorkerPool({
      workers: 2,
      spec: {
        kind: "builtin",
        name: "sqlite",
        durability: "normal",
        sqlite: { busyTimeout: BUSY_TIMEOUT },
      },
      create: true,
    });
    return pool.open(path, 2, Date.now);
  }],
];

function assertLockError(e: unknown, file: string): true {
  assert.ok(e instanceof StorageError, `received ${String(e)}`);
  assert.equal(e.name, "StorageError");
  assert.equal(e.shard, 2);
  assert.equal(e.path, file);
  assert.match(e.message, new RegExp(`busy timeout of ${BUSY_TIMEOUT} ms`));
  assert.match(e.message, /database is locked/);
  assert.ok(e.cause instanceof Error, "the driver's error is the cause");
  return true;
}

for (const [name, open] of HOSTS) {
  test(`${name}: a lock held beyond the busy timeout is a StorageError`, SLOW, async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/shard-002`;
      const file = `${path}.sqlite`;
      const d = await open(path);
      const { db } = await openSqliteDatabase(file);
      try {
        await d.apply([{ key: "k", value: enc("before") }]);
        db.exec("BEGIN IMMEDIATE");
        await assert.rejects(
          d.apply([{ key: "k", value: enc("blocked") }]),
          (e) => assertLockError(e, file),
        );
        await assert.rejects(d.begin!(["k"]), (e) => assertLockError(e, file));
        db.exec("COMMIT");
        assert.equal(dec((await d.getEntries(["k"])).get("k")?.value), "before", "nothing written");
        // The lock is free again: writes and transactions work.
        await d.apply([{ key: "k", value: enc("after") }]);
        const txn = await d.begin!(["k"]);
        assert.equal(dec(txn.entries.get("k")?.value), "after");
        await txn.release();
      } finally {
        db.close();
        await d.close();
      }
    });
  });
}

test("storageErrorOf: an I/O error on a full file system is a StorageFullError", async () => {
  // node:sqlite on Node (errcode 778: SQLITE_IOERR_WRITE), bun:sqlite and Deno's shapes.
  const ioErrors = () => [
    Object.assign(new Error("disk I/O error"), { code: "ERR_SQLITE_ERROR", errcode: 778 }),
    Object.assign(new Error("disk I/O error"), { name: "SQLiteError", code: "SQLITE_IOERR_WRITE" }),
    Object.assign(new Error("disk I/O error"), { code: "ERR_SQLITE_ERROR" }),
    Object.assign(new Error("unable to open database file"), { code: "ERR_SQLITE_ERROR" }),
  ];
  await inTmpfs("1m", async (dir) => {
    const where = { shard: 1, path: `${dir}/shard-001.sqlite` };
    for (const e of ioErrors()) {
      const mapped = storageErrorOf(e, where);
      assert.equal((mapped as Error).name, "StorageError", "space left: a plain I/O error");
    }
    // Fill the file system up.
    const filler = `${dir}/filler`;
    const fd = openSync(filler, "w");
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (e) {
      assert.equal((e as { code?: string }).code, "ENOSPC");
    } finally {
      closeSync(fd);
    }
    for (const e of ioErrors()) {
      const mapped = storageErrorOf(e, where);
      assert.ok(mapped instanceof StorageFullError, `${e.message}: received ${String(mapped)}`);
      assert.equal(mapped.shard, 1);
      assert.equal(mapped.path, where.path);
      assert.equal(mapped.cause, e);
    }
    // A corrupt file stays corrupt on a full disk too.
    const corrupt = Object.assign(new Error("database disk image is malformed"), {
      code: "ERR_SQLITE_ERROR",
    });
    assert.equal((storageErrorOf(corrupt, where) as Error).name, "CorruptStoreError");
    await rm(filler);
    assert.equal((storageErrorOf(ioErrors()[0], where) as Error).name, "StorageError");
  });
});
