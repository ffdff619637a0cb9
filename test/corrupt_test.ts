// Damaged store files: every kind of damage is a typed error naming the shard and its file,
// never an empty shard in place of the lost one, never a store re-created over old shard files.
import assert from "node:assert/strict";
import { test } from "node:test";
import { open, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CorruptStoreError,
  MissingManifestError,
  openStore,
  StorageError,
  type Store,
  verifyStore,
} from "../mod.ts";
import { openSqliteBackend } from "../backends/sqlite.ts";
import { openSqliteDatabase, storageErrorOf } from "../backends/_sqlite_driver.ts";
import { readWal, walProblems } from "../backends/_sqlite_verify.ts";
import { dec, enc, withTempDir } from "./_helpers.ts";
import { CURRENT, runOn, SLOW } from "./_runtimes.ts";

const SHARDS = 4;

/** A closed store of 200 keys; returns the keys of shard 2. */
async function closedStore(
  dir: string,
  options: { backend?: "sqlite" | "deno-kv" } = {},
): Promise<void> {
  const store = await openStore(dir, { shards: SHARDS, ...options });
  await store.batchSet(Array.from({ length: 200 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
  await store.close();
  for (const suffix of ["-wal", "-shm"]) {
    for (const ext of [".sqlite", ".kv"]) {
      await rm(join(dir, `shard-002${ext}${suffix}`), { force: true });
    }
  }
}

async function openError(dir: string, options: { workers?: number } = {}): Promise<Error> {
  let error: unknown;
  const opened = await openStore(dir, options).catch((e) => error = e);
  if (!(error instanceof Error)) await (opened as Store).close();
  assert.ok(error instanceof Error, "openStore must reject the damaged store");
  return error;
}

function assertCorrupt(error: unknown, shard: number, file: string): void {
  assert.ok(error instanceof CorruptStoreError, `received ${String(error)}`);
  assert.ok(error instanceof StorageError);
  assert.equal(error.name, "CorruptStoreError");
  assert.equal(error.shard, shard);
  assert.equal(error.path.endsWith(file), true, `path ${error.path}`);
  assert.match(error.message, new RegExp(`Shard ${shard} \\(.*${file.replace(".", "\\.")}\\)`));
}

const damages: [string, (file: string) => Promise<void>, RegExp][] = [
  ["emptied (0 bytes)", (f) => truncate(f, 0), /empty/],
  ["removed", (f) => rm(f), /missing/],
  ["truncated to 100 bytes", (f) => truncate(f, 100), /malformed|not a database|I\/O|kv table/],
  ["overwritten with text", (f) => writeFile(f, "x".repeat(8192)), /not an SQLite database/],
];

for (const workers of [0, 2]) {
  for (const [what, damage, problem] of damages) {
    test(`sqlite${workers ? " with workers" : ""}: a shard file ${what} -> CorruptStoreError`, async () => {
      await withTempDir(async (dir) => {
        await closedStore(dir);
        const file = join(dir, "shard-002.sqlite");
        await damage(file);
        const before = await readdir(dir);
        const error = await openError(dir, { workers });
        assertCorrupt(error, 2, "shard-002.sqlite");
        assert.match(error.message, problem);
        // Nothing was created or re-initialised in place of the damaged shard.
        assert.deepEqual((await readdir(dir)).sort(), before.sort());
        if (what !== "removed") assert.notEqual((await stat(file)).size, 4096);
      });
    });
  }
}

test("sqlite: a valid SQLite file without shardkv's table -> CorruptStoreError", async () => {
  await withTempDir(async (dir) => {
    await closedStore(dir);
    const file = join(dir, "shard-002.sqlite");
    await rm(file);
    const { db } = await openSqliteDatabase(file);
    db.exec("CREATE TABLE other (a); INSERT INTO other VALUES (1)");
    db.close();
    const error = await openError(dir);
    assertCorrupt(error, 2, "shard-002.sqlite");
    assert.match(error.message, /kv table/);
  });
});

test("openSqliteBackend with create: false refuses a missing file; by default creates it", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "one.sqlite");
    const error = await openSqliteBackend(file, { create: false, shard: 7 }).catch((e) => e);
    assertCorrupt(error, 7, "one.sqlite");
    await assert.rejects(stat(file), { code: "ENOENT" });
    const shard = await openSqliteBackend(file);
    await shard.set("a", enc("1"));
    await shard.close();
    const again = await openSqliteBackend(file, { create: false });
    assert.deepEqual(await again.get("a"), enc("1"));
    await again.close();
  });
});

{
  for (const [what, damage, problem] of damages) {
    test(`deno-kv: a shard file ${what} -> CorruptStoreError`, async () => {
      await withTempDir(async (dir) => {
        await closedStore(dir, { backend: "deno-kv" });
        await damage(join(dir, "shard-002.kv"));
        const error = await openError(dir);
        assertCorrupt(error, 2, "shard-002.kv");
        assert.match(error.message, problem);
      });
    });
  }
}

for (const backend of ["sqlite", "deno-kv"] as const) {
  const ext = backend === "sqlite" ? "sqlite" : "kv";
  test(`${backend}: shard files without shardkv.json -> MissingManifestError, nothing changed`, async () => {
    await withTempDir(async (dir) => {
      await closedStore(dir, { backend });
      await rm(join(dir, "shardkv.json"));
      const files = (await readdir(dir)).sort();
      const sizes = await Promise.all(files.map(async (f) => (await stat(join(dir, f))).size));
      for (const options of [{}, { shards: 16 }, { shards: SHARDS }]) {
        let error: unknown;
        const opened = await openStore(dir, options).catch((e) => error = e);
        if (!(error instanceof Error)) await (opened as Store).close();
        assert.ok(error instanceof MissingManifestError, `received ${String(error)}`);
        assert.equal(error.name, "MissingManifestError");
        assert.equal(error.path, dir);
        assert.deepEqual(
          error.files,
          Array.from({ length: SHARDS }, (_, i) => `shard-00${i}.${ext}`),
        );
        assert.match(error.message, /4 shard file\(s\) \(shard-000/);
        assert.match(error.message, /shardkv\.json/);
      }
      // Nothing was written: no manifest, same files, same sizes.
      assert.deepEqual((await readdir(dir)).sort(), files);
      assert.deepEqual(
        await Promise.all(files.map(async (f) => (await stat(join(dir, f))).size)),
        sizes,
      );
      // Putting the manifest back gives every key again.
      await writeFile(
        join(dir, "shardkv.json"),
        JSON.stringify({ format: 1, backend, shards: SHARDS, hash: "fnv1a32" }),
      );
      const store = await openStore(dir);
      assert.equal((await store.scanKeys("k")).length, 200);
      await store.close();
    });
  });
}

test("sqlite: an interrupted creation (marker, shard files, no manifest) is completed", async () => {
  await withTempDir(async (dir) => {
    await closedStore(dir);
    await rm(join(dir, "shardkv.json"));
    await writeFile(join(dir, "shardkv.creating"), "");
    const store = await openStore(dir, { shards: SHARDS });
    await store.set("after", enc("1"));
    await store.close();
    const files = await readdir(dir);
    assert.ok(files.includes("shardkv.json"));
    assert.ok(!files.includes("shardkv.creating"));
  });
});

/** Overwrites page `page` (1-based) of an SQLite file with `byte`. */
async function smashPage(file: string, page: number, byte: number): Promise<void> {
  const handle = await open(file, "r+");
  try {
    const header = new Uint8Array(100);
    await handle.read(header, 0, 100, 0);
    const pageSize = (header[16] << 8 | header[17]) === 1 ? 65536 : header[16] << 8 | header[17];
    await handle.write(new Uint8Array(pageSize).fill(byte), 0, pageSize, (page - 1) * pageSize);
  } finally {
    await handle.close();
  }
}

for (const workers of [0, 2]) {
  test(`sqlite${workers ? " with workers" : ""}: damaged B-tree pages -> CorruptStoreError on read, writes refused`, async () => {
    await withTempDir(async (dir) => {
      const store = await openStore(dir, { shards: 2 });
      const big = new Uint8Array(1000).fill(7);
      await store.batchSet(Array.from({ length: 400 }, (_, i) => [`k${i}`, big] as const));
      await store.close();
      const file = join(dir, "shard-001.sqlite");
      const pages = (await stat(file)).size / 4096;
      assert.ok(pages > 20, `only ${pages} pages`);
      for (let page = 3; page <= pages; page += 2) await smashPage(file, page, 0xa5);

      const damaged = await openStore(dir, { workers });
      try {
        const error = await damaged.scanKeysWithValues("").catch((e) => e);
        assertCorrupt(error, 1, "shard-001.sqlite");
        assert.ok(error.cause instanceof Error, "the driver's error is the cause");
        assert.match(String(error.cause.message), /malformed/);
        // Writes to the damaged shard are refused from now on, even ones SQLite would take.
        const onShard1 = Array.from({ length: 50 }, (_, i) => `new${i}`);
        const results = await Promise.allSettled(onShard1.map((k) => damaged.set(k, enc("x"))));
        const refused = results.filter((r) => r.status === "rejected");
        assert.ok(refused.length > 0 && refused.length < 50, `${refused.length} refused`);
        for (const r of refused) {
          assertCorrupt((r as PromiseRejectedResult).reason, 1, "shard-001.sqlite");
        }
        // The healthy shard keeps working.
        const written = onShard1.filter((_, i) => results[i].status === "fulfilled");
        assert.deepEqual((await damaged.batchGet(written)).size, written.length);
      } finally {
        await damaged.close();
      }
    });
  });
}

test("sqlite: shard files are untouched by a refused open", async () => {
  await withTempDir(async (dir) => {
    await closedStore(dir);
    await truncate(join(dir, "shard-002.sqlite"), 0);
    const before = await readFile(join(dir, "shard-001.sqlite"));
    await openError(dir);
    assert.deepEqual(await readFile(join(dir, "shard-001.sqlite")), before);
  });
});

/** Flips one byte of `file` at the first occurrence of `marker` (plus `skip` bytes). */
async function flipAt(file: string, marker: string, skip = 0): Promise<void> {
  const bytes = await readFile(file);
  const at = bytes.indexOf(marker);
  assert.ok(at !== -1, `${marker} not found in ${file}`);
  bytes[at + skip] ^= 0x20;
  await writeFile(file, bytes);
}

const VICTIM = "VICTIM-VALUE-".repeat(80);

for (const workers of [0, 2]) {
  test(`sqlite${workers ? " with workers" : ""}: a flipped byte in a stored value -> CorruptStoreError naming shard and key`, async () => {
    await withTempDir(async (dir) => {
      const store = await openStore(dir, { shards: 1 });
      await store.batchSet(Array.from({ length: 50 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
      await store.set("victim", enc(VICTIM));
      await store.close();
      await flipAt(join(dir, "shard-000.sqlite"), "VICTIM-VALUE-", 500);

      const damaged = await openStore(dir, { workers });
      try {
        const error = await damaged.get("victim").catch((e) => e);
        assertCorrupt(error, 0, "shard-000.sqlite");
        assert.equal(error.key, "victim");
        assert.match(error.message, /key "victim".*checksum/);
        assertCorrupt(await damaged.scanKeysWithValues("v").catch((e) => e), 0, "shard-000.sqlite");
        // Keys only: no value is read, so nothing to check.
        assert.deepEqual(await damaged.scanKeys("v"), ["victim"]);
        // The shard refuses writes from now on.
        assertCorrupt(await damaged.set("k1", enc("x")).catch((e) => e), 0, "shard-000.sqlite");
        assert.equal(dec(await damaged.get("k1")), "v1");
      } finally {
        await damaged.close();
      }
      const report = await verifyStore(dir);
      assert.equal(report.ok, false);
      assert.deepEqual(report.shards[0].keys, ["victim"]);
      assert.deepEqual(report.shards[0].problems, []);
      assert.equal(report.shards[0].rows, 51);
    });
  });
}

test("verifyStore: a healthy store is ok, with progress for every shard", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: SHARDS });
    await store.batchSet(Array.from({ length: 2500 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
    await store.close();
    const seen: { shard: number; shards: number; rows: number; done: boolean }[] = [];
    const report = await verifyStore(dir, { onProgress: (p) => seen.push(p) });
    assert.equal(report.ok, true);
    assert.equal(report.backend, "sqlite");
    assert.equal(report.shards.length, SHARDS);
    assert.equal(report.shards.reduce((n, s) => n + s.rows, 0), 2500);
    const finals = seen.filter((p) => p.done);
    assert.deepEqual(finals.map((p) => p.shard), [0, 1, 2, 3]);
    assert.equal(finals.reduce((n, p) => n + p.rows, 0), 2500);
    assert.ok(seen.every((p) => p.shards === SHARDS));
    assert.ok(seen.length > SHARDS, "progress within a shard too");
    for (const s of report.shards) {
      assert.deepEqual([s.ok, s.keys, s.problems, s.unchecked], [true, [], [], 0]);
      assert.ok(s.path.endsWith(`shard-00${s.shard}.sqlite`));
    }
  });
});

test("verifyStore reports emptied, foreign and page-damaged shards, and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: SHARDS });
    const big = new Uint8Array(1000).fill(7);
    await store.batchSet(Array.from({ length: 800 }, (_, i) => [`k${i}`, big] as const));
    await store.close();
    await truncate(join(dir, "shard-000.sqlite"), 0);
    await writeFile(join(dir, "shard-001.sqlite"), "x".repeat(5000));
    const file = join(dir, "shard-003.sqlite");
    for (let page = 3; page <= (await stat(file)).size / 4096; page += 2) {
      await smashPage(file, page, 0xa5);
    }
    const files = async () => {
      const names = (await readdir(dir)).filter((n) => !/-(wal|shm)$/.test(n)).sort();
      return await Promise.all(names.map(async (n) => [n, (await stat(join(dir, n))).size]));
    };
    const before = await files();
    const report = await verifyStore(dir);
    assert.equal(report.ok, false);
    const [s0, s1, s2, s3] = report.shards;
    assert.match(s0.problems.join(), /empty/);
    assert.match(s1.problems.join(), /not an SQLite database/);
    assert.equal(s2.ok, true);
    assert.equal(s3.ok, false);
    assert.match(s3.problems.join(), /integrity_check|malformed/);
    // Read-only: files and sizes unchanged (SQLite may leave an empty -wal and an -shm).
    assert.deepEqual(await files(), before);
  });
});

test("verifyStore: missing manifest and non-stores are typed errors", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(verifyStore(dir), TypeError);
    await closedStore(dir);
    await rm(join(dir, "shardkv.json"));
    await assert.rejects(verifyStore(dir), MissingManifestError);
    await assert.rejects(verifyStore(""), TypeError);
    await assert.rejects(verifyStore(dir, { onProgress: 1 as never }), TypeError);
  });
});

test("sqlite: files written before checksums open, old rows read unchecked, new rows checked", async () => {
  await withTempDir(async (dir) => {
    const { db } = await openSqliteDatabase(join(dir, "shard-000.sqlite"));
    db.exec(`PRAGMA journal_mode = WAL;
      CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at INTEGER);
      INSERT INTO kv VALUES ('old1', x'6f6c64', NULL), ('old2', x'6f6c64', NULL);`);
    db.close();
    await writeFile(
      join(dir, "shardkv.json"),
      JSON.stringify({ format: 1, backend: "sqlite", shards: 1, hash: "fnv1a32" }),
    );
    const store = await openStore(dir);
    assert.equal(dec(await store.get("old1")), "old");
    await store.set("new1", enc("new"));
    await store.set("old2", enc("rewritten"));
    await store.close();
    const report = await verifyStore(dir);
    assert.equal(report.ok, true);
    assert.equal(report.shards[0].unchecked, 1);
    assert.equal(report.shards[0].rows, 2);
  });
});

test("a damaged WAL frame that would drop later commits: verifyStore reports it, openStore refuses", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(join(dir, "live"), { shards: 1 });
    for (let i = 0; i < 60; i++) await store.set(`k${i}`, enc(`value ${i}`));
    // A crash image: the files as they are while the store is open (WAL not checkpointed).
    for (const name of ["shardkv.json", "shard-000.sqlite", "shard-000.sqlite-wal"]) {
      await writeFile(join(dir, name), await readFile(join(dir, "live", name)));
    }
    await store.close();
    const clean = await verifyStore(dir);
    assert.equal(clean.ok, true, clean.shards[0].problems.join());
    // verifyStore changed nothing: the WAL is still there.
    const wal = await readFile(join(dir, "shard-000.sqlite-wal"));
    const frames = Math.floor((wal.length - 32) / (24 + 4096));
    assert.ok(frames > 30, `${frames} frames`);
    // A torn last frame (a crash mid-write) loses nothing acknowledged: not reported.
    await writeFile(join(dir, "shard-000.sqlite-wal"), wal.subarray(0, wal.length - 1000));
    // Each edit makes a new crash image: drop the wal-index (-shm) that the previous check left,
    // which describes the WAL as it was.
    const noShm = () => rm(join(dir, "shard-000.sqlite-shm"), { force: true });
    await noShm();
    const tornReport = await verifyStore(dir);
    assert.equal(tornReport.ok, true, tornReport.shards[0].problems.join());
    wal[32 + 20 * (24 + 4096) + 24 + 2000] ^= 0x01;
    await writeFile(join(dir, "shard-000.sqlite-wal"), wal);
    await noShm();
    const report = await verifyStore(dir);
    assert.equal(report.ok, false);
    assert.match(report.shards[0].problems.join(), /WAL frame 21 of \d+ is damaged.* \d+ commit/);
    // Opening it is refused rather than silently dropping those commits...
    const error = await openError(dir);
    assertCorrupt(error, 0, "shard-000.sqlite");
    const bytes = Number(/truncate the -wal file to (\d+) bytes/.exec(error.message)?.[1]);
    assert.equal(bytes, 32 + 20 * (24 + 4096));
    // ... until the WAL is cut there, accepting the loss: the commits before the damage remain.
    await truncate(join(dir, "shard-000.sqlite-wal"), bytes);
    await noShm();
    const accepted = await openStore(dir);
    assert.equal(dec(await accepted.get("k0")), "value 0");
    assert.equal(await accepted.get("k59"), undefined);
    await accepted.close();
    assert.equal((await verifyStore(dir)).ok, true);
  });
});

test(
  `cli on ${CURRENT}: verify prints the report, exit 0 when sound and 1 when damaged`,
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const store = await openStore(dir, { shards: 2 });
      await store.batchSet(Array.from({ length: 30 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
      await store.set("victim", enc(VICTIM));
      await store.close();
      const sound = await runOn(CURRENT, "cli/mod.ts", ["verify", "--dir", dir]);
      assert.equal(sound.code, 0, sound.stderr);
      const report = JSON.parse(sound.stdout.toString("utf8"));
      assert.equal(report.ok, true);
      assert.equal(report.shards.reduce((n: number, s: { rows: number }) => n + s.rows, 0), 31);
      assert.match(sound.stderr, /shard 2\/2: \d+ rows checked/);

      for (const i of [0, 1]) {
        const file = join(dir, `shard-00${i}.sqlite`);
        if ((await readFile(file)).indexOf("VICTIM-VALUE-") !== -1) {
          await flipAt(file, "VICTIM-VALUE-", 300);
        }
      }
      const damaged = await runOn(CURRENT, "cli/mod.ts", ["verify", "--dir", dir]);
      assert.equal(damaged.code, 1, damaged.stderr);
      assert.equal(JSON.parse(damaged.stdout.toString("utf8")).ok, false);
      assert.match(damaged.stderr, /key "victim" fails its checksum/);

      await rm(join(dir, "shardkv.json"));
      const missing = await runOn(CURRENT, "cli/mod.ts", ["verify", "--dir", dir]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /MissingManifestError|no shardkv\.json manifest/);
    });
  },
);

test("WAL check: frames of a rolled-back transaction left behind a later commit are not damage", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "spill.sqlite");
    const { db } = await openSqliteDatabase(file);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = 5");
    db.exec("CREATE TABLE t (v BLOB)");
    // A transaction larger than the page cache spills its pages to the WAL, then rolls back.
    db.exec("BEGIN");
    for (let i = 0; i < 40; i++) db.exec(`INSERT INTO t VALUES (randomblob(3000))`);
    db.exec("ROLLBACK");
    db.exec("INSERT INTO t VALUES (x'01')");
    const wal = await readWal(file);
    db.close();
    const frames = (wal.length - 32) / (24 + 4096);
    assert.ok(frames > 5, `the WAL kept the spilled frames (${frames} frames)`);
    assert.deepEqual(walProblems(wal), []);
  });
});

test("storageErrorOf: one mapping for bun:sqlite, node:sqlite and Deno's error shapes", () => {
  const where = { shard: 3, path: "/data/shard-003.sqlite" };
  const sqlite = (message: string, props: Record<string, unknown>) =>
    Object.assign(new Error(message), props);
  const cases: [Error, string][] = [
    // bun:sqlite: name SQLiteError, code is the (extended) name, errno the number.
    [
      sqlite("database or disk is full", { name: "SQLiteError", code: "SQLITE_FULL" }),
      "StorageFullError",
    ],
    [
      sqlite("disk I/O error", { name: "SQLiteError", code: "SQLITE_IOERR_SHORT_READ" }),
      "StorageError",
    ],
    [
      sqlite("file is not a database", { name: "SQLiteError", code: "SQLITE_NOTADB" }),
      "CorruptStoreError",
    ],
    // node:sqlite on Node: errcode (extended codes too: 266 = SQLITE_IOERR_READ).
    [sqlite("whatever", { code: "ERR_SQLITE_ERROR", errcode: 266 }), "StorageError"],
    [sqlite("whatever", { code: "ERR_SQLITE_ERROR", errcode: 11 }), "CorruptStoreError"],
    // node:sqlite on Deno: only the code and SQLite's message.
    [sqlite("database disk image is malformed", { code: "ERR_SQLITE_ERROR" }), "CorruptStoreError"],
    [sqlite("database or disk is full", { code: "ERR_SQLITE_ERROR" }), "StorageFullError"],
    [sqlite("unable to open database file", { code: "ERR_SQLITE_ERROR" }), "StorageError"],
    // Another connection's lock held beyond the busy timeout.
    [sqlite("database is locked", { code: "ERR_SQLITE_ERROR" }), "StorageError"],
    // Not storage failures: returned unchanged.
    [new TypeError("key is malformed"), "TypeError"],
  ];
  for (const [error, name] of cases) {
    const mapped = storageErrorOf(error, where) as Error;
    assert.equal(mapped.name, name, `${error.message} ${JSON.stringify(error)}`);
    if (mapped instanceof StorageError) {
      assert.equal(mapped.shard, 3);
      assert.equal(mapped.path, where.path);
      assert.equal(mapped.cause, error);
    } else assert.equal(mapped, error);
  }
});
