// deno-kv with real faults after open: a full disk (a small tmpfs that fills up), a damaged
// database page, a flipped byte in a stored value, damaged head records. Each is shardkv's typed
// error (StorageFullError, CorruptStoreError) naming shard and file, the same class on Deno, Bun
// and Node; nothing acknowledged is lost; a shard found damaged refuses writes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CorruptStoreError,
  openStore,
  StorageError,
  StorageFullError,
  type Store,
  verifyStore,
} from "../mod.ts";
import { openDenoKvDriver } from "../backends/deno_kv.ts";
import { openKv } from "../backends/_deno_kv_api.ts";
import { headKeyOf } from "../backends/_deno_kv_layout.ts";
import { checkDenoKvValues } from "../backends/_deno_kv_verify.ts";
import { allRows, verifySqliteFile } from "../backends/_sqlite_verify.ts";
import { openSqliteDatabase } from "../backends/_sqlite_driver.ts";
import { CURRENT, runOn, SLOW } from "./_runtimes.ts";
import { assertKept, diskValue, fillDisk, inTmpfs } from "./_tmpfs.ts";
import { dec, enc, withTempDir } from "./_helpers.ts";

function assertTyped(
  error: unknown,
  type: typeof StorageError,
  where: { shard?: number; file: string },
): asserts error is StorageError {
  assert.ok(error instanceof type, `received ${String(error)}`);
  assert.ok(error instanceof StorageError);
  assert.equal(error.name, type.name);
  if (where.shard !== undefined) assert.equal(error.shard, where.shard);
  assert.ok(error.path.endsWith(where.file.replace("{shard}", String(error.shard))), error.path);
  assert.ok(error.cause instanceof Error, "the driver's error (or the damage found) is the cause");
  assert.doesNotMatch(error.message, /\n/, "one line, without @deno/kv's backtrace");
}

// Only Deno hosts deno-kv in worker threads (see conformance_deno_kv_test.ts).
for (const workers of CURRENT === "deno" ? [0, 2] : [0]) {
  test(
    `deno-kv full disk${
      workers ? " (workers)" : ""
    }: StorageFullError, nothing acknowledged lost, works again once space is freed`,
    SLOW,
    async () => {
      // The filler freed later is 2 MiB: SQLite's WAL checkpoint under Deno KV grows the main
      // file by up to the WAL's size, so 1 MiB was sometimes not enough to write again.
      await inTmpfs("4m", async (mount) => {
        await writeFile(join(mount, "filler"), new Uint8Array(2 * 1024 * 1024));
        const dir = join(mount, "store");
        let store: Store | undefined = await openStore(dir, {
          shards: 2,
          backend: "deno-kv",
          workers,
        });
        try {
          const { acknowledged, errors } = await fillDisk(store);
          assert.ok(errors.length >= 20, "the disk never filled up");
          assert.ok(acknowledged.length > 0);
          for (const e of errors) {
            assertTyped(e, StorageFullError, { file: join(dir, "shard-00{shard}.kv") });
            assert.match(e.message, /full/);
          }
          await assertKept(store, acknowledged);

          await rm(join(mount, "filler"));
          const more = Array.from({ length: 20 }, (_, i) => 100_000 + i);
          await store.batchSet(more.map((i) => [`k${i}`, diskValue(i)] as const));
          await store.close();
          store = await openStore(dir, { workers });
          await assertKept(store, [...acknowledged, ...more]);
        } finally {
          await store?.close();
        }
      });
    },
  );
}

test(
  "deno-kv: a driver opened on its own names its shard and file in StorageFullError",
  SLOW,
  async () => {
    await inTmpfs("1m", async (mount) => {
      const file = join(mount, "one.kv");
      const driver = await openDenoKvDriver(file, { shard: 5 });
      try {
        let error: unknown;
        for (let i = 0; error === undefined && i < 1000; i++) {
          await driver.apply([{ key: `k${i}`, value: diskValue(i) }]).catch((e) => error = e);
        }
        assertTyped(error, StorageFullError, { shard: 5, file });
      } finally {
        await driver.close();
      }
    });
  },
);

const VICTIM = "VICTIM-VALUE-".repeat(80);

/** A closed 2-shard deno-kv store of 400 keys holding VICTIM. */
async function victimStore(dir: string): Promise<void> {
  const store = await openStore(dir, { shards: 2, backend: "deno-kv" });
  await store.batchSet(Array.from({ length: 400 }, (_, i) => [`k${i}`, enc(VICTIM)] as const));
  await store.close();
  for (const suffix of ["-wal", "-shm"]) {
    await rm(join(dir, `shard-001.kv${suffix}`), { force: true });
  }
}

/** Overwrites `length` bytes of `file` at `at` with `bytes(old)`. */
async function patch(
  file: string,
  at: number,
  length: number,
  bytes: (old: Uint8Array) => Uint8Array,
): Promise<void> {
  const handle = await open(file, "r+");
  try {
    const old = new Uint8Array(length);
    await handle.read(old, 0, length, at);
    await handle.write(bytes(old), 0, length, at);
  } finally {
    await handle.close();
  }
}

/** Checks that shard 1 of `damaged` refuses writes and shard 0 keeps working; resolves how many
 * keys shard 0 took. */
async function refusesWrites(damaged: Store, dir: string): Promise<number> {
  const keys = Array.from({ length: 40 }, (_, i) => `new${i}`);
  const results = await Promise.allSettled(keys.map((k) => damaged.set(k, enc("x"))));
  const refused = results.filter((r) => r.status === "rejected");
  assert.ok(refused.length > 0 && refused.length < 40, `${refused.length} refused`);
  for (const r of refused) {
    const e = (r as PromiseRejectedResult).reason;
    assertTyped(e, CorruptStoreError, { shard: 1, file: join(dir, "shard-001.kv") });
    assert.match(e.message, /refuses writes/);
  }
  const written = keys.filter((_, i) => results[i].status === "fulfilled");
  assert.equal((await damaged.batchGet(written)).size, written.length);
  return written.length;
}

test(
  "deno-kv: a damaged database page -> CorruptStoreError on read, writes refused",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      await victimStore(dir);
      const file = join(dir, "shard-001.kv");
      // A page of the kv table, well inside the file: overwritten with 0xa5 bytes.
      const at = (await readFile(file)).indexOf("VICTIM-VALUE-", 100 * 4096);
      assert.ok(at > 0);
      await patch(file, at - (at % 4096), 4096, () => new Uint8Array(4096).fill(0xa5));

      const damaged = await openStore(dir);
      try {
        const error = await damaged.scanKeysWithValues("").catch((e) => e);
        assertTyped(error, CorruptStoreError, { shard: 1, file });
        await refusesWrites(damaged, dir);
      } finally {
        await damaged.close();
      }
    });
  },
);

test(
  "deno-kv: a flipped byte in a stored value -> CorruptStoreError naming shard and key",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      await victimStore(dir);
      const file = join(dir, "shard-001.kv");
      const at = (await readFile(file)).indexOf("VICTIM-VALUE-", 100 * 4096) + 500;
      await patch(file, at, 1, (old) => Uint8Array.of(old[0] ^ 0x20));

      const damaged = await openStore(dir);
      let written = 0;
      let key = "";
      try {
        const error = await damaged.scanKeysWithValues("").catch((e) => e);
        assertTyped(error, CorruptStoreError, { shard: 1, file });
        key = (error as CorruptStoreError).key!;
        assert.match(key, /^k\d+$/);
        assert.match(error.message, new RegExp(`key "${key}".*checksum`));
        const one = await damaged.get(key).catch((e) => e);
        assertTyped(one, CorruptStoreError, { shard: 1, file });
        assert.equal((one as CorruptStoreError).key, key);
        // Keys only: no value is read, so nothing to check.
        assert.equal((await damaged.scanKeys("k")).length, 400);
        // Every other value still reads right.
        const others = Array.from({ length: 400 }, (_, i) => `k${i}`).filter((k) => k !== key);
        const found = await damaged.batchGet(others);
        assert.equal(found.size, 399);
        assert.ok([...found.values()].every((v) => dec(v) === VICTIM));
        written = await refusesWrites(damaged, dir);
      } finally {
        await damaged.close();
      }
      // verifyStore names the shard and the key; the other shard is sound.
      const report = await verifyStore(dir);
      assert.equal(report.ok, false);
      assert.equal(report.backend, "deno-kv");
      const [sound, bad] = report.shards;
      assert.deepEqual([sound.ok, sound.keys, sound.problems], [true, [], []]);
      assert.deepEqual([bad.ok, bad.keys, bad.problems], [false, [key], []]);
      assert.ok(bad.path.endsWith("shard-001.kv"));
      assert.equal(sound.rows + bad.rows, 400 + written, "every head checked");
    });
  },
);

test("deno-kv: damaged head records -> CorruptStoreError naming the key; old heads read unchecked", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "one.kv");
    const kv = await openKv(file);
    // Written before checksums existed (flags 0: an inline value, nothing else): read unchecked.
    await kv.atomic()
      .set(headKeyOf("old").kvKey, Uint8Array.of(0, ...enc("legacy")))
      .set(headKeyOf("unknown-flags").kvKey, Uint8Array.of(0x80, 1, 2))
      .set(headKeyOf("truncated").kvKey, Uint8Array.of(8 | 2, 0, 0))
      // Deno KV stores any structured value; a head is always bytes.
      .set(headKeyOf("not-bytes").kvKey, "a string" as unknown as Uint8Array)
      .commit();
    kv.close();
    const driver = await openDenoKvDriver(file, { shard: 3 });
    try {
      assert.equal(dec(await driver.getEntry!("old").then((e) => e?.value)), "legacy");
      for (const key of ["unknown-flags", "truncated", "not-bytes"]) {
        const error = await driver.getEntries([key]).catch((e) => e);
        assertTyped(error, CorruptStoreError, { shard: 3, file });
        assert.equal((error as CorruptStoreError).key, key);
        assert.match(error.message, /damaged head record/);
      }
      // Writes are refused once damage was found; reads of sound keys go on.
      const write = await driver.apply([{ key: "new", value: enc("x") }]).catch((e) => e);
      assertTyped(write, CorruptStoreError, { shard: 3, file });
      assert.equal(dec(await driver.getEntry!("old").then((e) => e?.value)), "legacy");
    } finally {
      await driver.close();
    }
    // verifyStore's check of the file names each damaged head; the old one counts as unchecked.
    const report = await verifySqliteFile({ shard: 3, path: file }, { values: checkDenoKvValues });
    assert.deepEqual([report.ok, report.rows, report.unchecked, report.keys], [false, 0, 1, []]);
    assert.equal(report.problems.length, 3, report.problems.join("; "));
    for (const [i, key] of ["not-bytes", "truncated", "unknown-flags"].entries()) {
      assert.match(report.problems[i], new RegExp(`^key "${key}": damaged head record`));
    }
  });
});

/** Byte offsets of every occurrence of `marker` in `file`. */
async function offsetsOf(file: string, marker: string): Promise<number[]> {
  const bytes = await readFile(file);
  const out: number[] = [];
  for (let at = bytes.indexOf(marker); at !== -1; at = bytes.indexOf(marker, at + 1)) out.push(at);
  return out;
}

test(
  "verifyStore on deno-kv: every inline and chunked value and long key checked, with progress; a flipped chunk byte names shard and key",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const store = await openStore(dir, { shards: 2, backend: "deno-kv" });
      const long = "L".repeat(2000);
      const chunked = enc("CHUNKED-VALUE-".repeat(15_000)); // 210 KB: 4 chunks
      await store.batchSet(
        Array.from({ length: 2500 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const),
      );
      await store.set(long, enc("long key"));
      await store.set("big", chunked);
      await store.set("ttl", enc("expires"), { ttl: 3_600_000 });
      if (CURRENT === "deno") {
        // Deno KV and node:sqlite share Deno's one SQLite: an open store can be verified.
        assert.equal((await verifyStore(dir)).ok, true);
      } else {
        // @deno/kv's own copy of SQLite holds the files: a second copy must not open them.
        const error = await verifyStore(dir).catch((e) => e);
        assert.ok(error instanceof StorageError && error.name === "StorageError", String(error));
        assert.equal(error.path, join(dir, "shard-000.kv"));
        assert.match(error.message, /open in this process through @deno\/kv/);
      }
      await store.close();
      const seen: { shard: number; rows: number; done: boolean }[] = [];
      const clean = await verifyStore(dir, { onProgress: (p) => seen.push(p) });
      assert.equal(clean.ok, true, JSON.stringify(clean.shards.map((s) => s.problems)));
      assert.equal(clean.shards.reduce((n, s) => n + s.rows, 0), 2503);
      assert.ok(clean.shards.every((s) => s.unchecked === 0 && s.keys.length === 0));
      assert.deepEqual(seen.filter((p) => p.done).map((p) => p.shard), [0, 1]);
      assert.ok(seen.length > 2, "progress within a shard too");

      // A byte in the middle of the big value's third chunk.
      let flipped: string | undefined;
      for (const s of clean.shards) {
        const at = await offsetsOf(s.path, "CHUNKED-VALUE-");
        if (at.length === 0) continue;
        await patch(
          s.path,
          at[Math.floor(at.length * 0.6)] + 3,
          1,
          (old) => Uint8Array.of(old[0] ^ 1),
        );
        flipped = s.path;
      }
      assert.ok(flipped !== undefined);
      const report = await verifyStore(dir);
      assert.equal(report.ok, false);
      const bad = report.shards.find((s) => !s.ok)!;
      assert.equal(bad.path, flipped);
      assert.deepEqual([bad.keys, bad.problems], [["big"], []]);

      // The CLI prints the same report and names the key.
      const cli = await runOn(CURRENT, "cli/mod.ts", ["verify", "--dir", dir]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.equal(JSON.parse(cli.stdout.toString("utf8")).backend, "deno-kv");
      assert.match(
        cli.stderr,
        new RegExp(`shard ${bad.shard} \\(.*\\) damaged: key "big" fails its checksum`),
      );
      assert.match(cli.stderr, /shard 2\/2: \d+ rows checked/);
    });
  },
);

test(
  "deno-kv: damage in the pages Deno KV's background task reads first -> CorruptStoreError at open, not a process abort",
  SLOW,
  async () => {
    // The roots of the expiry index (collect_expired) and of the queue tables' indexes
    // (queue_next_ready, queue_cleanup): Deno KV's own task panics on each, aborting the process.
    for (
      const index of [
        "kv_expiration_ms_idx",
        "sqlite_autoindex_queue_1",
        "sqlite_autoindex_queue_running_1",
      ]
    ) {
      await withTempDir(async (dir) => {
        await victimStore(dir);
        const file = join(dir, "shard-001.kv");
        const { db } = await openSqliteDatabase(file, { readOnly: true });
        const root = Number(
          allRows(db, "SELECT rootpage FROM sqlite_schema WHERE name = ?", index)[0].rootpage,
        );
        db.close();
        await patch(file, (root - 1) * 4096, 4096, () => new Uint8Array(4096).fill(0xa5));

        const error = await openStore(dir).then(async (s) => {
          await s.close();
          return undefined;
        }, (e) => e);
        assertTyped(error, CorruptStoreError, { shard: 1, file });
        assert.match(error.message, /malformed.*background task/);
      });
    }
  },
);

test("verifyStore on deno-kv: a damaged expiry time (not checksummed) is found through the expiry index", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 1, backend: "deno-kv" });
    await store.batchSet(Array.from({ length: 50 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const), {
      ttl: 3_600_000,
    });
    await store.set("victim", enc("TTL-VICTIM-VALUE"), { ttl: 3_600_000 });
    await store.close();
    assert.equal((await verifyStore(dir)).ok, true);
    // A head record: flags, version (f64), checksum (u32), expiry time (f64), then the value.
    const file = join(dir, "shard-000.kv");
    const [at] = await offsetsOf(file, "TTL-VICTIM-VALUE");
    await patch(file, at - 1, 1, (old) => Uint8Array.of(old[0] ^ 0x10));
    const report = await verifyStore(dir);
    assert.equal(report.ok, false);
    assert.deepEqual(report.shards[0].keys, []);
    assert.equal(report.shards[0].problems.length, 1);
    assert.match(report.shards[0].problems[0], /^key "victim": damaged expiry time/);
  });
});
