// Readers in other processes and other store objects never see half of a cross-shard atomic
// commit: a child process moves 1 from one key to another (on a different shard) in checked
// atomic commits, while another child and a second store object in this process read both keys
// with batchGet and a prefix scan, asserting that every pair they see sums to 0. Also: a reader
// waiting for a commit whose writer is alive but never finishes gives up with StorageError; a
// commit whose writer died, or that failed half written and could not be undone, is rolled back
// by the next multi-shard read; the journals' state() and release().
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readdir, rename, stat, truncate, writeFile } from "node:fs/promises";
import process from "node:process";
import { test } from "node:test";
import {
  decodeCounter,
  type Driver,
  encodeCounter,
  openStore,
  shardOf,
  sqlite,
  StorageError,
  type Store,
} from "../mod.ts";
import { versionOf } from "../core/atomic.ts";
import { encodeStructured } from "../core/_structured.ts";
import { fileJournal } from "../shard/_journal.ts";
import { openMemoryDriver } from "../backends/memory.ts";
import { withTempDir } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";
import {
  childArgs,
  keysOnShards,
  open,
  runChildren,
  type Shared,
  withLocation,
} from "./_atomic_env.ts";

const SHARDS = 4;
/** How long the writer and the readers run, in ms. */
const RUN_MS = 1500;

/** Reads `a` and `b` (batchGet and a scan of `prefix`) until `done()`; fails on a torn pair. */
async function readUntil(
  store: Store,
  keys: { prefix: string; a: string; b: string },
  done: () => boolean,
): Promise<{ reads: number; seen: number }> {
  const seen = new Set<number>();
  let reads = 0;
  while (!done()) {
    const got = await store.batchGet([keys.a, keys.b]);
    const x = got.has(keys.a) ? decodeCounter(got.get(keys.a)!) : 0;
    const y = got.has(keys.b) ? decodeCounter(got.get(keys.b)!) : 0;
    assert.equal(x + y, 0, `batchGet saw half a commit: ${keys.a}=${x}, ${keys.b}=${y}`);
    seen.add(y);
    const scanned = [...(await store.scanKeysWithValues(keys.prefix))];
    const sum = scanned.reduce((s, [, v]) => s + decodeCounter(v), 0);
    assert.equal(sum, 0, `a scan saw half a commit: ${JSON.stringify(scanned)}`);
    reads += 2;
    // Let the children's output through now and then.
    if (reads % 16 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  return { reads, seen: seen.size };
}

for (const backend of ["sqlite", "deno-kv", "redis"] as Shared[]) {
  test(
    `${backend}: readers in another process and another store object never see half a commit`,
    SLOW,
    async () => {
      await withLocation(backend, async (where) => {
        const [a, b] = keysOnShards("pair", 2, SHARDS);
        const keys = { prefix: "pair:", a, b };
        const writer = await open(backend, where, { shards: SHARDS });
        const reader = await open(backend, where, { shards: SHARDS });
        try {
          let finished = false;
          const children = runChildren([
            childArgs("move", backend, where, [String(RUN_MS), a, b]),
            childArgs("read", backend, where, [String(RUN_MS), keys.prefix, a, b]),
          ]).finally(() => finished = true);
          // This process reads through a second store object while the child writes.
          const local = await readUntil(reader, keys, () => finished).catch(async (e) => {
            await children.catch(() => {});
            throw e;
          });
          const [moved, read] = await children;
          assert.deepEqual([...moved, ...read].filter((l) => l.startsWith("E ")), []);
          const commits = Number(moved.find((l) => l.startsWith("M "))!.split(" ")[1]);
          const [, reads, distinct] = read.find((l) => l.startsWith("R "))!.split(" ").map(
            Number,
          );
          const final = await writer.batchGet([a, b]);
          assert.equal(decodeCounter(final.get(b)!), commits);
          assert.equal(decodeCounter(final.get(a)!), -commits);
          // The readers ran while commits were made, not only before or after them (low bars:
          // a loaded machine may commit slowly).
          assert.ok(commits > 5, `the writer made only ${commits} commits`);
          assert.ok(distinct > 2, `the reading child saw ${distinct} states in ${reads} reads`);
          assert.ok(local.seen > 2, `this process saw ${local.seen} states in ${local.reads}`);
        } finally {
          await reader.close();
          await writer.close();
        }
      });
    },
  );
}

test(
  "sqlite: a reader gives up with StorageError on a commit whose writer never finishes",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const where = `${dir}/store`;
      const [a, b] = keysOnShards("k", 2, SHARDS);
      const store = await open("sqlite", where, { shards: SHARDS });
      await store.atomic().set(a, encodeCounter(1)).set(b, encodeCounter(2)).commit();
      await store.close();
      // A live process (stopped, as a stuck writer is) holds a commit record.
      const stuck = spawn("sleep", ["30"], { stdio: "ignore" });
      try {
        await mkdir(`${where}/commits`, { recursive: true });
        await writeFile(`${where}/commits/00000000000000000001-stuck.${stuck.pid}.commit`, "");
        const reader = await openStore(where, { backend: sqlite({ busyTimeout: 200 }) });
        try {
          // Single-shard reads do not wait.
          assert.equal(decodeCounter((await reader.get(a))!), 1);
          await assert.rejects(
            reader.batchGet([a, b]),
            (e) => e instanceof StorageError && /in flight for over 200 ms/.test(e.message),
          );
          await assert.rejects(reader.scan("k:"), StorageError);
        } finally {
          await reader.close();
        }
      } finally {
        stuck.kill("SIGKILL");
      }
    });
  },
);

test("sqlite: a multi-shard read rolls back a commit whose writer died", async () => {
  await withTempDir(async (dir) => {
    const where = `${dir}/store`;
    const [a, b] = keysOnShards("k", 2, SHARDS);
    const store = await open("sqlite", where, { shards: SHARDS });
    try {
      await store.atomic().set(a, encodeCounter(5)).set(b, encodeCounter(-5)).commit();
      // What a writer that died between its two shards leaves behind: a moved 3 to b, the
      // shard of a is written, the shard of b is not, and its journal record names its pid.
      await store.set(a, encodeCounter(2));
      const version = versionOf((await store.getEntry(a)).versionstamp);
      const record = encodeStructured({
        version,
        keys: [
          [shardOf(a, SHARDS), a, encodeCounter(5), null],
          [shardOf(b, SHARDS), b, encodeCounter(-5), null],
        ],
      });
      const dead = spawn("true", { stdio: "ignore" });
      await new Promise((r) => dead.on("close", r));
      await fileJournal(where, { sync: false }).write("died", record);
      await rename(
        `${where}/commits/died.${process.pid}.commit`,
        `${where}/commits/died.${dead.pid}.commit`,
      );
      // Single-shard reads do not look at the journal; a read of both shards rolls it back.
      assert.equal(decodeCounter((await store.get(a))!), 2);
      const got = await store.batchGet([a, b]);
      assert.deepEqual([...got.values()].map(decodeCounter), [5, -5]);
      assert.deepEqual(
        await readdir(`${where}/commits`).then((n) => n.filter((x) => x.endsWith(".commit"))),
        [],
      );
    } finally {
      await store.close();
    }
  });
});

test("file journal: state() gives the generation and the commits in flight", async () => {
  await withTempDir(async (dir) => {
    const journal = fileJournal(dir, { sync: false });
    const other = fileJournal(dir, { sync: false });
    const s0 = await other.state!();
    assert.deepEqual(s0, { generation: "-", busy: false, stale: false });
    // A write bumps the generation; its commit is in flight for every store object.
    await journal.write("c1", encodeCounter(1));
    const s1 = await other.state!();
    assert.notEqual(s1.generation, s0.generation);
    assert.deepEqual([s1.busy, s1.stale], [true, false]);
    await journal.write("c2", encodeCounter(2));
    const s2 = await other.state!();
    assert.notEqual(s2.generation, s1.generation);
    await journal.remove("c1");
    await journal.remove("c2");
    assert.deepEqual(await other.state!(), {
      generation: s2.generation,
      busy: false,
      stale: false,
    });
    // A released record (a commit that failed half written) is stale, for every process.
    await journal.write("c4", encodeCounter(4));
    await journal.release!("c4");
    assert.deepEqual([(await other.state!()).busy, (await other.state!()).stale], [false, true]);
    assert.deepEqual([...(await other.list()).keys()], ["c4"]);
    await other.remove("c4");
    assert.equal((await other.state!()).stale, false);
    // A record of a process that is gone is stale; one of a live process is in flight.
    const dead = spawn("true", { stdio: "ignore" });
    await new Promise((r) => dead.on("close", r));
    await writeFile(`${dir}/commits/d1.${dead.pid}.commit`, "");
    assert.deepEqual([(await other.state!()).busy, (await other.state!()).stale], [false, true]);
    await writeFile(`${dir}/commits/l1.${process.ppid}.commit`, "");
    const s3 = await other.state!();
    assert.deepEqual([s3.busy, s3.stale], [true, true]);
    // The generation file is replaced by a fresh one once it has grown past 1 MiB: the
    // generation still changes, and the file is small again.
    await truncate(`${dir}/commits/generation`, 1 << 20);
    const big = (await other.state!()).generation;
    await journal.write("c3", encodeCounter(3));
    assert.notEqual((await other.state!()).generation, big);
    assert.ok((await stat(`${dir}/commits/generation`)).size < 16);
    await journal.remove("c3");
  });
});

test("a failed commit leaves nothing in flight; one whose undo failed too is rolled back by the next read", async () => {
  await withTempDir(async (dir) => {
    const [a, b] = keysOnShards("k", 2, SHARDS);
    const last = Math.max(shardOf(a, SHARDS), shardOf(b, SHARDS));
    // Shards that fail on demand: the last shard's commit, and every plain write (the undo).
    let failing = false;
    let failCommit = false;
    const broken = () => Promise.reject(new Error("the disk failed"));
    const backend = async (_path: string, shard: number): Promise<Driver> => {
      const d = await openMemoryDriver();
      return {
        getEntries: (keys) => d.getEntries(keys),
        range: (q) => d.range(q),
        apply: (ops, checks) => failing ? broken() : d.apply(ops, checks),
        remove: (keys) => d.remove(keys),
        add: (key, by, version) => d.add(key, by, version),
        sweep: (max) => d.sweep(max),
        close: () => d.close(),
        begin: async (keys) => {
          const txn = await d.begin!(keys);
          return {
            entries: txn.entries,
            commit: (ops) =>
              (failing || failCommit) && shard === last
                ? txn.release().then(broken)
                : txn.commit(ops),
            release: () => txn.release(),
          };
        },
      };
    };
    const store = await openStore(`${dir}/store`, { backend, shards: SHARDS });
    try {
      await store.atomic().set(a, encodeCounter(5)).set(b, encodeCounter(-5)).commit();
      // The last shard fails, the first is undone: the record goes, readers do not wait.
      failCommit = true;
      await assert.rejects(store.atomic().sum(a, -1).sum(b, 1).commit(), /the disk failed/);
      failCommit = false;
      assert.deepEqual(await readdir(`${dir}/store/commits`), ["generation"]);
      const whole = await store.batchGet([a, b]);
      assert.deepEqual([decodeCounter(whole.get(a)!), decodeCounter(whole.get(b)!)], [5, -5]);
      failing = true;
      await assert.rejects(
        store.atomic().sum(a, -3).sum(b, 3).commit(),
        /the disk failed/,
      );
      // Half written, and the undo failed too: the first shard holds the commit.
      const first = shardOf(a, SHARDS) < shardOf(b, SHARDS) ? a : b;
      assert.equal(decodeCounter((await store.get(first))!), first === a ? 2 : -2);
      failing = false;
      // The record is no longer in flight: a read of both shards rolls it back.
      const got = await store.batchGet([a, b]);
      assert.deepEqual([decodeCounter(got.get(a)!), decodeCounter(got.get(b)!)], [5, -5]);
    } finally {
      await store.close();
    }
  });
});
