// deno-kv adapter tests: what the conformance suite cannot see from outside. The layout in the
// Deno KV file (byte-order keys, chunks, no garbage left), Deno KV's limits lifted (getMany,
// atomic size and mutation count, key length), crash safety of chunked and multi-commit writes
// (a database wrapper fails a chosen commit), readers never seeing a half-written value, the
// sweeper, and counters shared by two handles of one file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeCounter } from "../mod.ts";
import { openDenoKvBackend, openDenoKvDriver } from "../backends/deno_kv.ts";
import {
  type DenoKv,
  type KvAtomic,
  type KvEntry,
  type KvKey,
  openKv,
} from "../backends/_deno_kv_api.ts";
import { createDenoKvBackend, type DenoKvBackendInit } from "../backends/_deno_kv_backend.ts";
import { Engine } from "../core/engine.ts";
import { CHUNK_SIZE, INLINE_MAX, SHORT_KEY } from "../backends/_deno_kv_layout.ts";
import { byteOrder, Clock, dec, enc, tempDir } from "./_helpers.ts";

/** Runs `body` with a fresh database path; removes it afterwards. */
function withPath(title: string, body: (path: string) => Promise<void>): void {
  test(`deno-kv: ${title}`, async () => {
    const { dir, dispose } = await tempDir("denokv");
    try {
      await body(`${dir}/shard.kv`);
    } finally {
      await dispose();
    }
  });
}

/** Every record of the database, by keyspace ("head" for user keys). */
async function rawRecords(path: string): Promise<Map<string, KvEntry[]>> {
  const kv = await openKv(path);
  const out = new Map<string, KvEntry[]>();
  try {
    for await (const e of kv.list({ start: [new Uint8Array(0)], end: [0] })) {
      const space = typeof e.key[0] === "string" ? e.key[0] : "head";
      out.set(space, [...(out.get(space) ?? []), e]);
    }
  } finally {
    kv.close();
  }
  return out;
}

const count = (records: Map<string, KvEntry[]>, space: string): number =>
  records.get(space)?.length ?? 0;

const filled = (size: number, byte: number): Uint8Array => new Uint8Array(size).fill(byte);

/** A database that runs `before` ahead of every commit (a throw fails the commit, as a crash). */
function hooked(
  kv: DenoKv,
  before: (sets: KvKey[], commitNo: number) => Promise<void> | void,
): DenoKv {
  let commits = 0;
  return {
    get: (key) => kv.get(key),
    getMany: (keys) => kv.getMany(keys),
    list: (selector, options) => kv.list(selector, options),
    close: () => kv.close(),
    atomic(): KvAtomic {
      const inner = kv.atomic();
      const sets: KvKey[] = [];
      const op: KvAtomic = {
        check: (...checks) => (inner.check(...checks), op),
        set: (key, value) => (sets.push(key), inner.set(key, value), op),
        delete: (key) => (inner.delete(key), op),
        commit: async () => {
          await before(sets, ++commits);
          return await inner.commit();
        },
      };
      return op;
    },
  };
}

/** Fails (as a crash would) the commits that `when` picks. */
const crashing = (kv: DenoKv, when: (sets: KvKey[], commitNo: number) => boolean): DenoKv =>
  hooked(kv, (sets, n) => {
    if (when(sets, n)) throw new Error("simulated crash");
  });

const setsAHead = (keys: KvKey[]): boolean => keys.some((k) => k[0] instanceof Uint8Array);

withPath("keys are stored as their UTF-8 bytes, so Deno KV's order is byte order", async (path) => {
  const s = await openDenoKvBackend(path);
  const keys = ["b", "a\u0000", "é", "\uffff", "\u{10000}", "a"];
  for (const k of keys) await s.set(k, enc(k));
  await s.close();
  const heads = (await rawRecords(path)).get("head")!;
  assert.deepEqual(
    heads.map((e) => new TextDecoder().decode(e.key[0] as Uint8Array)),
    [...keys].sort(byteOrder),
  );
  assert.ok(heads.every((e) => e.key.length === 1 && e.key[0] instanceof Uint8Array));
});

withPath(
  "small values stay one record; large ones are chunked and old chunks are removed",
  async (path) => {
    const s = await openDenoKvBackend(path);
    await s.set("small", filled(INLINE_MAX, 1));
    await s.set("big", filled(5 * CHUNK_SIZE + 1, 2));
    await s.set("big", filled(3 * CHUNK_SIZE, 3)); // replaces 6 chunks with 3
    assert.deepEqual(await s.get("big"), filled(3 * CHUNK_SIZE, 3));
    await s.close();
    let raw = await rawRecords(path);
    assert.equal(count(raw, "head"), 2);
    assert.equal(count(raw, "c"), 3);
    for (const space of ["g", "p", "w"]) assert.equal(count(raw, space), 0, space);

    const again = await openDenoKvBackend(path);
    assert.deepEqual(await again.get("small"), filled(INLINE_MAX, 1));
    await again.set("big", enc("tiny now"));
    assert.equal(await again.delete("small"), true);
    assert.equal(dec(await again.get("big")), "tiny now");
    await again.close();
    raw = await rawRecords(path);
    assert.equal(count(raw, "head"), 1);
    assert.equal(count(raw, "c"), 0);
  },
);

withPath(
  "getMany's 10-key limit: batchGet of 25 keys with chunked values among them",
  async (path) => {
    const s = await openDenoKvBackend(path);
    const entries = Array.from(
      { length: 25 },
      (_, i) => [`k${i}`, filled(i % 5 === 0 ? INLINE_MAX + 10 : 10, i)] as const,
    );
    await s.batchSet(entries);
    const got = await s.batchGet([
      ...entries.map(([k]) => k),
      "missing",
    ]);
    assert.equal(got.size, 25);
    for (const [k, v] of entries) assert.deepEqual(got.get(k), v);
    await s.close();
  },
);

withPath(
  "a batch over atomic()'s limits (1500 keys, 3 MiB) commits whole and leaves no log",
  async (path) => {
    const s = await openDenoKvBackend(path);
    const entries = Array.from(
      { length: 1500 },
      (_, i) => [`u:${String(i).padStart(4, "0")}`, filled(2048, i % 256)] as const,
    );
    await s.batchSet(entries);
    const keys = await s.scanKeys("u:");
    assert.equal(keys.length, 1500);
    assert.deepEqual(await s.get("u:1499"), filled(2048, 1499 % 256));
    assert.equal(await s.batchDelete(keys), 1500);
    await s.close();
    const raw = await rawRecords(path);
    for (const space of ["head", "c", "g", "p", "w"]) {
      assert.equal(count(raw, space), 0, space);
    }
  },
);

withPath(
  "keys longer than Deno KV's key limit: 2048 NUL bytes, and long keys sorted in scans",
  async (path) => {
    const s = await openDenoKvBackend(path);
    const base = "\u0000".repeat(SHORT_KEY);
    const long = ["b", "a", "ab", "\u0000".repeat(2048 - SHORT_KEY), "z".repeat(2048 - SHORT_KEY)]
      .map((t) => base + t);
    const keys = [...long, base, base.slice(1), "\u0001"];
    for (const k of keys) await s.set(k, enc(String(k.length)));
    for (const k of keys) assert.equal(dec(await s.get(k)), String(k.length));
    const sorted = [...keys].sort(byteOrder);
    assert.deepEqual(await s.scanKeys(""), sorted);
    assert.deepEqual(await s.scanKeys("", { reverse: true }), [...sorted].reverse());
    assert.deepEqual(await s.scanKeys(base), sorted.filter((k) => k.startsWith(base)));
    assert.deepEqual(await s.scanKeys("", { after: base + "a", limit: 2 }), [
      base + "ab",
      base + "b",
    ]);
    assert.deepEqual(await s.scanKeys(base, { after: base + "ab", reverse: true }), [
      base + "a",
      base + "\u0000".repeat(2048 - SHORT_KEY),
      base,
    ]);
    assert.equal(await s.delete(long[0]), true);
    assert.equal(await s.get(long[0]), undefined);
    assert.equal(dec(await s.get(long[1])), "901");
    await s.close();
  },
);

withPath(
  "crash before the head commit: the old chunked value stays; staging is reclaimed",
  async (path) => {
    const before = await openDenoKvBackend(path);
    await before.set("v", filled(4 * CHUNK_SIZE, 1));
    await before.close();

    const kv = crashing(await openKv(path), (keys) => setsAHead(keys));
    const s = await bare(kv, { now: Date.now });
    await assert.rejects(s.set("v", filled(20 * CHUNK_SIZE, 2)), /simulated crash/);
    assert.deepEqual(await s.get("v"), filled(4 * CHUNK_SIZE, 1));
    await s.close();
    let raw = await rawRecords(path);
    assert.equal(count(raw, "p"), 1, "the abandoned staging is tracked");
    assert.equal(count(raw, "c"), 4 + 20);

    // A fresh open reclaims staging older than staleStagingMs.
    const after = await bare(await openKv(path), {
      now: Date.now,
      staleStagingMs: 0,
    });
    assert.deepEqual(await after.get("v"), filled(4 * CHUNK_SIZE, 1));
    await after.close();
    raw = await rawRecords(path);
    assert.equal(count(raw, "p"), 0);
    assert.equal(count(raw, "c"), 4);
  },
);

withPath("crash in the middle of staging: the old value stays", async (path) => {
  const before = await openDenoKvBackend(path);
  await before.set("v", enc("old"));
  await before.close();
  const s = await bare(crashing(await openKv(path), (_keys, n) => n === 2), {
    now: Date.now,
  });
  await assert.rejects(s.set("v", filled(40 * CHUNK_SIZE, 9)), /simulated crash/);
  assert.equal(dec(await s.get("v")), "old");
  await s.close();
});

withPath(
  "crash while a multi-commit batch is applied: the redo log completes it on open",
  async (path) => {
    const before = await openDenoKvBackend(path);
    await before.batchSet(Array.from({ length: 1200 }, (_, i) => [`k${i}`, enc("old")] as const));
    await before.close();

    // The second commit that sets heads is the second piece of the logged flip.
    let headCommits = 0;
    const kv = crashing(await openKv(path), (keys) => setsAHead(keys) && ++headCommits === 2);
    const s = await bare(kv, { now: Date.now });
    await assert.rejects(
      s.batchSet(Array.from({ length: 1200 }, (_, i) => [`k${i}`, enc("new")] as const)),
      /simulated crash/,
    );
    await s.close();
    assert.equal(count(await rawRecords(path), "w"), 1);

    const after = await openDenoKvBackend(path);
    const values = await after.scan("k");
    assert.equal(values.length, 1200);
    assert.ok(values.every((v) => dec(v) === "new"));
    await after.close();
    const raw = await rawRecords(path);
    for (const space of ["w", "c", "g", "p"]) assert.equal(count(raw, space), 0, space);
  },
);

withPath(
  "readers never see a mix of two chunked values while they are overwritten",
  async (path) => {
    const s = await openDenoKvBackend(path);
    const size = 12 * CHUNK_SIZE + 5;
    await s.set("v", filled(size, 0));
    let writing = true;
    const writer = (async () => {
      try {
        for (let i = 1; i <= 12; i++) await s.set("v", filled(size, i));
      } finally {
        writing = false;
      }
    })();
    let reads = 0;
    while (writing) {
      const [one] = await Promise.all([s.get("v"), s.scan("v")]);
      for (const v of [one!, ...(await s.scan("v"))]) {
        assert.equal(v.length, size);
        assert.ok(v.every((b) => b === v[0]), "a read mixed two values");
      }
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
    assert.deepEqual(await s.get("v"), filled(size, 12));
    await s.close();
  },
);

withPath("sweep removes expired heads, their chunks and stale index entries", async (path) => {
  const clock = new Clock();
  const s = await bare(await openKv(path), { now: clock.now });
  await s.set("small", enc("x"), { ttl: 100 });
  await s.set("big", filled(3 * CHUNK_SIZE, 1), { ttl: 100 });
  await s.set("kept", enc("y"), { ttl: 100 });
  await s.set("kept", enc("y")); // its index entry is now stale
  await s.set("later", enc("z"), { ttl: 500 });
  clock.advance(100);
  assert.equal(await s.sweep(100), 2);
  assert.equal(await s.sweep(100), 0);
  assert.equal(dec(await s.get("kept")), "y");
  assert.equal(dec(await s.get("later")), "z");
  await s.close();
  const raw = await rawRecords(path);
  assert.equal(count(raw, "head"), 2);
  assert.equal(count(raw, "c"), 0);
  assert.equal(count(raw, "x"), 1, "only the entry of 'later' is left");
});

withPath(
  "update retries when another handle changes the key between its read and commit",
  async (path) => {
    const other = await openDenoKvBackend(path);
    await other.incr("n");
    let raced = false;
    const kv = hooked(await openKv(path), async () => {
      if (raced) return;
      raced = true;
      await other.incr("n", 10); // lands after this handle read n = 1
    });
    const s = await bare(kv, { now: Date.now });
    assert.equal(await s.incr("n"), 12);
    assert.equal(decodeCounter((await other.get("n"))!), 12);
    await s.close();
    await other.close();
  },
);

withPath(
  "two handles on one file: concurrent counters stay exact (lock waits and checks)",
  async (path) => {
    const a = await openDenoKvBackend(path);
    const b = await openDenoKvBackend(path);
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).incr("n")));
    assert.equal(decodeCounter((await a.get("n"))!), 40);
    await a.close();
    await b.close();
  },
);

withPath(
  "more keys than Deno KV's 10 checks: a commit still fails when another handle wrote one of them",
  async (path) => {
    const other = await openDenoKvDriver(path);
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await other.apply(keys.map((key) => ({ key, value: enc("v0") })));
    // The other handle writes k7 between this handle's read and its commit, once per phase.
    let race: (() => Promise<unknown>) | undefined;
    const kv = hooked(await openKv(path), async (sets) => {
      const run = race;
      race = undefined;
      if (run !== undefined && setsAHead(sets)) await run();
    });
    const d = await createDenoKvBackend(kv, { now: Date.now });
    try {
      const seen = await d.getEntries(keys);
      const checks = new Map(keys.map((k) => [k, seen.get(k)!]));
      race = () => other.apply([{ key: "k7", value: enc("theirs") }]);
      const ops = keys.map((key) => ({ key, value: enc("mine") }));
      assert.equal(await d.apply(ops, checks), false, "the check saw the other write");
      const after = await d.getEntries(keys);
      assert.equal(dec(after.get("k7")!.value), "theirs");
      assert.equal(after.get("k7")!.version, 2);
      for (const k of keys) if (k !== "k7") assert.equal(dec(after.get(k)!.value), "v0", k);

      // An unchecked batch retries over the other write, so k7's version still grows.
      race = () => other.apply([{ key: "k7", value: enc("again") }]);
      await d.apply(ops);
      assert.equal(race, undefined, "the race ran");
      const last = await other.getEntries(keys);
      assert.deepEqual(last.get("k7"), { value: enc("mine"), expiresAt: null, version: 4 });
      assert.equal(last.get("k0")!.version, 2);
    } finally {
      await d.close();
      await other.close();
    }
  },
);

/** A bare one-shard store over a deno-kv driver on `kv`, with the driver's sweep. */
async function bare(
  kv: DenoKv,
  init: DenoKvBackendInit,
): Promise<Engine & { sweep(max: number): Promise<number> }> {
  const driver = await createDenoKvBackend(kv, init);
  const store = new Engine({ path: "", backend: "deno-kv", drivers: [driver], now: init.now });
  return Object.assign(store, { sweep: (max: number) => driver.sweep(max) });
}
