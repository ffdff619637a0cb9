// The SQLite driver's side of entry versions, shard transactions and change numbers (issue 14):
// every write stores max(proposed version, previous + 1); begin() holds the file's write lock
// against other processes until commit or release; changes() moves after any commit. The same
// contract holds for the driver hosted in worker threads (`workers: 2`).
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { test } from "node:test";
import type { Driver, Entry } from "../core/driver.ts";
import { encodeCounter } from "../core/counter.ts";
import { openSqliteDriver } from "../backends/sqlite.ts";
import { openSqliteDatabase } from "../backends/_sqlite_driver.ts";
import { WorkerPool } from "../backends/_worker_pool.ts";
import { dec, enc, readLines, spawnChild, withTempDir } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";

/**
 * Opens the driver of shard `index` stored at `path` (without extension): in this thread, or
 * in one of two worker threads (which end once every shard they host is closed).
 */
interface Host {
  open(path: string, index: number): Promise<Driver>;
}

function direct(): Host {
  return { open: (path, index) => openSqliteDriver(`${path}.sqlite`, { shard: index }) };
}

function workers(): Host {
  const pool = new WorkerPool({
    workers: 2,
    spec: { kind: "builtin", name: "sqlite", durability: "normal", sqlite: {} },
    create: true,
  });
  return { open: (path, index) => pool.open(path, index, Date.now) };
}

const HOSTS: [string, () => Host][] = [["sqlite", direct], ["sqlite workers: 2", workers]];

async function versionOf(d: Driver, key: string): Promise<number | undefined> {
  return (await d.getEntries([key])).get(key)?.version;
}

/** Runs `fn` with the driver of shard 0 (and its file) in a fresh directory. */
async function withShard(
  host: Host,
  fn: (d: Driver, file: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const path = `${dir}/shard-000`;
    const d = await host.open(path, 0);
    try {
      await fn(d, `${path}.sqlite`);
    } finally {
      await d.close();
    }
  });
}

/**
 * A child process writing `key` = `value` to `file` (test/_sqlite_version_child.ts) once `go()`
 * is called.
 */
function childWriter(file: string, key: string, value: string) {
  const lines: string[] = [];
  const waiters: [string, () => void][] = [];
  const child = spawnChild("./_sqlite_version_child.ts", [file, key, value]);
  const exited = readLines(child, (line) => {
    lines.push(line);
    for (const [want, resolve] of waiters) if (want === line) resolve();
  });
  const seen = (line: string): Promise<void> =>
    lines.includes(line) ? Promise.resolve() : new Promise((r) => waiters.push([line, r]));
  const go = async (): Promise<void> => {
    await seen("READY");
    await writeFile(`${file}.go`, "");
  };
  return { lines, seen, go, exited };
}

for (const [name, makeHost] of HOSTS) {
  test(`${name}: a key's version grows with every set, overwrite, add and rewrite`, async () => {
    await withShard(makeHost(), async (d) => {
      await d.apply([{ key: "k", value: enc("a") }]);
      assert.equal(await versionOf(d, "k"), 1, "a new row without a proposed version gets 1");
      await d.apply([{ key: "k", value: enc("b") }]);
      assert.equal(await versionOf(d, "k"), 2, "an overwrite gets previous + 1");
      await d.apply([{ key: "k", value: enc("b"), expiresAt: Date.now() + 60_000 }]);
      assert.equal(await versionOf(d, "k"), 3, "a rewrite of the expiry is a write too");
      await d.apply([{ key: "n", value: encodeCounter(5) }]);
      assert.equal(await d.add("n", 2), 7);
      assert.equal(await versionOf(d, "n"), 2, "add writes a new version");
      assert.equal(await d.add("m", 1), 1);
      assert.equal(await versionOf(d, "m"), 1, "add of a missing counter starts at version 1");
      const one = await d.getEntry!("k");
      assert.equal(one?.version, 3, "getEntry returns the version too");
      assert.equal(dec(one?.value), "b");
      await d.remove(["k"]);
      await d.apply([{ key: "k", value: enc("c") }]);
      assert.equal(await versionOf(d, "k"), 1, "a deleted key's row is gone with its version");
    });
  });

  test(`${name}: a write stores max(proposed version, previous + 1)`, async () => {
    await withShard(makeHost(), async (d) => {
      await d.apply([{ key: "k", value: enc("a"), version: 100 }]);
      assert.equal(await versionOf(d, "k"), 100, "a new row takes the proposed version");
      // Another process with a slower clock proposes a lower version: the key still grows.
      await d.apply([{ key: "k", value: enc("b"), version: 50 }]);
      assert.equal(await versionOf(d, "k"), 101);
      await d.apply([{ key: "k", value: enc("c"), version: 101 }]);
      assert.equal(await versionOf(d, "k"), 102, "an equal version still grows");
      await d.apply([{ key: "k", value: enc("d"), version: 500 }]);
      assert.equal(await versionOf(d, "k"), 500);
      await d.apply([{ key: "n", value: encodeCounter(0), version: 10 }]);
      await d.add("n", 1, 3);
      assert.equal(await versionOf(d, "n"), 11, "add's lower version gives previous + 1");
      await d.add("n", 1, 40);
      assert.equal(await versionOf(d, "n"), 40, "add's higher version is taken");
      // Several ops of one commit on one key: each replaces the row the previous one wrote.
      await d.apply([
        { key: "j", value: enc("1"), version: 7 },
        { key: "j", value: enc("2"), version: 7 },
      ]);
      assert.equal(await versionOf(d, "j"), 8);
    });
  });

  test(`${name}: a check fails on a different version and holds on the same`, async () => {
    await withShard(makeHost(), async (d) => {
      await d.apply([{ key: "k", value: enc("a"), version: 5 }]);
      const stale: Entry = { value: enc("a"), expiresAt: null, version: 4 };
      assert.equal(await d.apply([{ key: "k", value: enc("x") }], new Map([["k", stale]])), false);
      assert.equal(dec((await d.getEntries(["k"])).get("k")?.value), "a", "nothing written");
      const current = (await d.getEntries(["k"])).get("k")!;
      assert.equal(await d.apply([{ key: "k", value: enc("y") }], new Map([["k", current]])), true);
      assert.equal(await versionOf(d, "k"), 6);
    });
  });

  test(`${name}: versions survive closing and reopening the file`, async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/shard-000`;
      let d = await makeHost().open(path, 0);
      await d.apply([{ key: "k", value: enc("a"), version: 41 }, { key: "j", value: enc("b") }]);
      await d.close();
      d = await makeHost().open(path, 0);
      try {
        const got = await d.getEntries(["k", "j"]);
        assert.equal(got.get("k")?.version, 41);
        assert.equal(got.get("j")?.version, 1);
        await d.apply([{ key: "k", value: enc("c") }]);
        assert.equal(await versionOf(d, "k"), 42);
      } finally {
        await d.close();
      }
    });
  });

  test(`${name}: a file written before versions opens, its rows at version 0`, async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/shard-000`;
      // The two older layouts: without checksums, and with checksums but without versions.
      for (const [suffix, columns] of [["a", ""], ["b", ", crc INTEGER"]]) {
        const { db } = await openSqliteDatabase(`${path}${suffix}.sqlite`);
        db.exec(
          `CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL,
           expires_at INTEGER${columns});
           INSERT INTO kv (key, value) VALUES ('old', X'6f6c64')`,
        );
        db.close();
        const h = makeHost();
        const d = await h.open(`${path}${suffix}`, 0);
        try {
          const old = (await d.getEntries(["old"])).get("old");
          assert.equal(dec(old?.value), "old");
          assert.equal(old?.version, 0, `layout ${suffix}: an old row reads version 0`);
          await d.apply([{ key: "old", value: enc("new") }]);
          assert.equal(await versionOf(d, "old"), 1);
          await d.apply([{ key: "fresh", value: enc("f"), version: 9 }]);
          assert.equal(await versionOf(d, "fresh"), 9);
        } finally {
          await d.close();
        }
      }
    });
  });

  test(`${name}: a row an earlier version wrote with an expiry past 2^53 ms reads back`, async () => {
    // Before the 2^53 cap (d4f1786, 749956e) `SET k v PXAT 9223372036854775` stored this;
    // node:sqlite refuses to read an integer past 2^53 as a number.
    await withShard(makeHost(), async (d, file) => {
      await d.apply([{ key: "far", value: enc("v") }, { key: "near", value: enc("w") }]);
      const { db } = await openSqliteDatabase(file);
      db.exec("UPDATE kv SET expires_at = 9223372036854775000 WHERE key = 'far'");
      db.close();
      const far = (await d.getEntries(["far", "near"])).get("far");
      assert.equal(dec(far?.value), "v");
      assert.equal(far?.expiresAt, Number.MAX_SAFE_INTEGER, "read as the latest expiry there is");
      assert.equal((await d.getEntry!("far"))?.expiresAt, Number.MAX_SAFE_INTEGER);
      const page = await d.range({
        prefix: "",
        after: undefined,
        lo: undefined,
        loExclusive: false,
        hi: undefined,
        reverse: false,
        limit: Infinity,
        keysOnly: false,
        withExpiry: true,
      });
      assert.deepEqual(page.keys, ["far", "near"]);
      assert.deepEqual(page.expiresAt, [Number.MAX_SAFE_INTEGER, null]);
      assert.equal(await d.add("far", 0).catch((e) => e.name), "NotACounterError");
      assert.equal(await d.remove(["far"]), 1);
      assert.equal((await d.getEntries(["far"])).size, 0);
    });
  });

  test(`${name}: changes() moves after a commit here or in another process`, SLOW, async () => {
    await withShard(makeHost(), async (d, file) => {
      const c0 = await d.changes!();
      assert.equal(await d.changes!(), c0, "no commit: the same number");
      await d.getEntries(["k"]);
      assert.equal(await d.changes!(), c0, "a read is no change");
      await d.apply([{ key: "k", value: enc("a") }]);
      const c1 = await d.changes!();
      assert.notEqual(c1, c0, "a local commit moves it");
      const child = childWriter(file, "other", "from the child");
      await child.go();
      await child.exited;
      assert.deepEqual(child.lines, ["READY", "WRITING", "DONE"]);
      const c2 = await d.changes!();
      assert.notEqual(c2, c1, "another process's commit moves it");
      assert.equal(dec((await d.getEntries(["other"])).get("other")?.value), "from the child");
      assert.equal(await d.changes!(), c2);
    });
  });

  test(`${name}: begin() reads under the write lock; commit applies with versions`, async () => {
    await withShard(makeHost(), async (d) => {
      await d.apply([{ key: "a", value: enc("1"), version: 10 }, { key: "gone", value: enc("x") }]);
      await d.apply([{ key: "dead", value: enc("x"), expiresAt: Date.now() - 1 }]);
      const before = await d.changes!();
      const txn = await d.begin!(["a", "b", "dead"]);
      assert.deepEqual([...txn.entries.keys()], ["a"], "missing and expired keys are absent");
      assert.equal(txn.entries.get("a")?.version, 10);
      await txn.commit([
        { key: "a", value: enc("2"), version: 3 },
        { key: "b", value: enc("new"), version: 20 },
        { key: "gone" },
      ]);
      const got = await d.getEntries(["a", "b", "gone"]);
      assert.equal(got.get("a")?.version, 11);
      assert.equal(dec(got.get("a")?.value), "2");
      assert.equal(got.get("b")?.version, 20);
      assert.equal(got.has("gone"), false);
      assert.notEqual(await d.changes!(), before, "a transaction's commit moves changes()");
      await assert.rejects(txn.commit([]), "a transaction commits once");
    });
  });

  test(`${name}: release() writes nothing and lets queued writes through`, async () => {
    await withShard(makeHost(), async (d) => {
      await d.apply([{ key: "a", value: enc("1") }]);
      const txn = await d.begin!(["a"]);
      // A write issued while the transaction is open waits for its end.
      const later = d.apply([{ key: "later", value: enc("l") }]);
      await txn.release();
      await later;
      const got = await d.getEntries(["a", "later"]);
      assert.equal(dec(got.get("a")?.value), "1");
      assert.equal(got.get("a")?.version, 1, "released: the key is untouched");
      assert.equal(dec(got.get("later")?.value), "l", "the waiting write landed after");
      // The lock is free again: a new transaction begins and commits.
      const again = await d.begin!(["a"]);
      await again.commit([{ key: "a", value: enc("2") }]);
      assert.equal(await versionOf(d, "a"), 2);
    });
  });

  test(`${name}: writes queued before begin() commit first, later ones after`, async () => {
    await withShard(makeHost(), async (d) => {
      const first = d.apply([{ key: "k", value: enc("queued before") }]);
      const txnP = d.begin!(["k"]);
      await first;
      const txn = await txnP;
      assert.equal(dec(txn.entries.get("k")?.value), "queued before");
      const after = d.apply([{ key: "k", value: enc("queued during") }]);
      // Reads do not wait behind the held write: they see what is committed.
      const read = await d.getEntries(["k", "x"]);
      assert.equal(dec(read.get("k")?.value), "queued before");
      assert.equal(dec((await d.getEntry!("k"))?.value), "queued before");
      await txn.commit([{ key: "k", value: enc("committed") }]);
      await after;
      const e = (await d.getEntries(["k"])).get("k");
      assert.equal(dec(e?.value), "queued during", "the write issued during the txn lands after");
      assert.equal(e?.version, 3);
    });
  });

  test(`${name}: begin() holds another process's writer back until commit`, SLOW, async () => {
    await withShard(makeHost(), async (d, file) => {
      await d.apply([{ key: "k", value: enc("before") }]);
      // The child opens the file first (opening takes the write lock for a moment too).
      const child = childWriter(file, "k", "child");
      await child.seen("READY");
      const txn = await d.begin!(["k"]);
      let committed = false;
      try {
        await child.go();
        await child.seen("WRITING");
        // Time for the child's write to land if the lock did not hold it back.
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(child.lines.includes("DONE"), false, "the child's write waits for the lock");
        await txn.commit([{ key: "k", value: enc("parent") }]);
        committed = true;
      } finally {
        if (!committed) await txn.release();
        await child.exited;
      }
      const e = (await d.getEntries(["k"])).get("k");
      assert.equal(dec(e?.value), "child", "the child wrote after the commit");
      assert.equal(e?.version, 3, "and over the committed version");
    });
  });

  test(`${name}: the file opens while begin() holds its write lock`, async () => {
    await withShard(makeHost(), async (d, file) => {
      await d.apply([{ key: "k", value: enc("committed") }]);
      const txn = await d.begin!(["k"]);
      try {
        const other = await openSqliteDriver(file, { busyTimeout: 50 });
        assert.equal(dec((await other.getEntries(["k"])).get("k")?.value), "committed");
        await other.close();
      } finally {
        await txn.release();
      }
    });
  });

  test(`${name}: begin() waits while another process holds the write lock`, SLOW, async () => {
    await withShard(makeHost(), async (d, file) => {
      const { db } = await openSqliteDatabase(file);
      db.exec("BEGIN IMMEDIATE; INSERT INTO kv (key, value) VALUES ('k', X'6f74686572')");
      let begun = false;
      const txnP = d.begin!(["k"]).then((t) => {
        begun = true;
        return t;
      });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(begun, false, "begin() waits for the lock");
      db.exec("COMMIT");
      db.close();
      const txn = await txnP;
      assert.equal(dec(txn.entries.get("k")?.value), "other", "and reads what was committed");
      assert.equal(txn.entries.get("k")?.version, 0);
      await txn.commit([{ key: "k", value: enc("mine") }]);
      assert.equal(await versionOf(d, "k"), 1);
    });
  });
}

test("a hosted custom driver without getEntry, begin or changes stays without them", async () => {
  const pool = new WorkerPool({
    workers: 2,
    spec: {
      kind: "module",
      module: new URL("./_hosted_map_driver.ts", import.meta.url).href,
      export: "openHostedMap",
      options: { tag: "map" },
    },
    create: true,
  });
  const d = await pool.open("unused", 0, Date.now);
  try {
    assert.equal(d.getEntry, undefined);
    assert.equal(d.begin, undefined);
    assert.equal(d.changes, undefined);
    await d.apply([{ key: "k", value: enc("v"), version: 9 }]);
    assert.equal(dec((await d.getEntries(["k"])).get("k")?.value), "v");
    assert.equal(await d.add("n", 2, 5), 2);
  } finally {
    await d.close();
  }
});
