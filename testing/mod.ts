/**
 * The conformance suite that every shardkv backend passes: each rule of the API contract
 * (values, keys, order, TTLs, counters, batches, scans, transactions, closing, the cache),
 * checked through a store or bare backend that `open` returns. Run it against your own
 * `Driver` (or whole `StorageBackend`) to know it behaves like the built-in ones.
 *
 * It registers its tests with `node:test` (which `deno test`, `bun test` and `node --test`
 * all run), or with the `test` function you pass, so any runner that takes
 * `test(name, async fn)` works.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { openMemoryDriver } from "@shardkv/shardkv/memory";
 * import { conformance } from "@shardkv/shardkv/testing";
 *
 * conformance("my driver", async ({ now, cache }) => {
 *   const store = await openStore("./unused", {
 *     backend: () => openMemoryDriver({ now }),
 *     shards: 4,
 *     now,
 *     cache: cache ?? false,
 *   });
 *   return { store, dispose: async () => {} };
 * }, { shards: 4, cache: true });
 * ```
 *
 * @module
 */
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  CrossShardTransactionError,
  decodeCounter,
  deleteKey,
  encodeCounter,
  existsKey,
  exportStore,
  getKey,
  InvalidKeyError,
  InvalidValueError,
  NotACounterError,
  readTxn,
  setKey,
  shardOf,
  type StorageBackend,
  type Store,
  StoreClosedError,
  TransactionTimeoutError,
  ValueTooLargeError,
  type WatchEvent,
  writeTxn,
} from "../mod.ts";

/**
 * Opens a fresh, empty store (or bare backend) on the given clock, with a read cache of that
 * size when `cache` is given; `dispose` removes whatever it made.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import type { OpenTarget } from "@shardkv/shardkv/testing";
 * const open: OpenTarget = async ({ now }) => ({
 *   store: await openStore("", { backend: "memory", now }),
 *   dispose: async () => {},
 * });
 * ```
 */
export type OpenTarget = (
  options: { now: () => number; cache?: { maxEntries?: number } },
) => Promise<{ store: StorageBackend; dispose(): Promise<void> }>;

/**
 * Registers one test: the shape of `node:test`'s `test`, `bun:test`'s `test`, Deno's
 * `Deno.test` (name, function) and most others.
 *
 * @example
 * ```ts
 * import type { TestFunction } from "@shardkv/shardkv/testing";
 * const collected: string[] = [];
 * const test: TestFunction = (name) => void collected.push(name);
 * ```
 */
export type TestFunction = (name: string, fn: () => Promise<void>) => unknown;

/**
 * Options of {@linkcode conformance}.
 *
 * @example
 * ```ts
 * import type { ConformanceOptions } from "@shardkv/shardkv/testing";
 * const options: ConformanceOptions = { shards: 16, cache: true };
 * ```
 */
export interface ConformanceOptions {
  /** Shard count of the stores `open` returns (1 for a bare backend). */
  shards: number;
  /** `open` honours the `cache` option (stores from openStore do). */
  cache?: boolean;
  /** Largest value to round-trip (default 16 MiB); only lower it with a documented reason. */
  bigValue?: number;
  /** Registers each test (default: `node:test`'s `test`). */
  test?: TestFunction;
}

/** A manual clock: TTL tests move time instead of waiting. */
class Clock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const enc = (s: string): Uint8Array => encoder.encode(s);
const dec = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : decoder.decode(b);
/** UTF-8 byte order, computed independently of the store's own comparison. */
function byteOrder(a: string, b: string): number {
  const x = enc(a);
  const y = enc(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** The next event of a watch stream, or a failure after `ms`. */
async function nextEvent(
  reader: ReadableStreamDefaultReader<WatchEvent>,
  ms = 5000,
): Promise<WatchEvent> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no watch event within ${ms} ms`)), ms);
  });
  try {
    const r = await Promise.race([reader.read(), late]);
    if (r.done) throw new Error("the watch stream ended");
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

const MiB = 1024 * 1024;

/**
 * Registers the whole suite, each test named `${name}: ...`, against the stores `open` makes.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { conformance } from "@shardkv/shardkv/testing";
 * conformance("memory", async ({ now, cache }) => ({
 *   store: await openStore("", { backend: "memory", shards: 4, now, cache: cache ?? false }),
 *   dispose: async () => {},
 * }), { shards: 4, cache: true });
 * ```
 */
export function conformance(name: string, open: OpenTarget, options: ConformanceOptions): void {
  const test: TestFunction = options.test ??
    ((title, fn) => nodeTest(title, { timeout: 120_000 }, fn));
  /** Runs `body` on a fresh store and always closes and removes it. */
  const withStore = (
    title: string,
    body: (s: StorageBackend, clock: Clock) => Promise<void>,
    extra: { cache?: { maxEntries?: number } } = {},
  ) =>
    test(`${name}: ${title}`, async () => {
      const clock = new Clock();
      const { store, dispose } = await open({ now: clock.now, ...extra });
      try {
        await body(store, clock);
      } finally {
        await store.close();
        await dispose();
      }
    });

  // --- basic operations -------------------------------------------------------------------
  withStore("get/set/exists/delete round trip", async (s) => {
    assert.equal(await s.get("a"), undefined);
    assert.equal(await s.exists("a"), false);
    await s.set("a", enc("1"));
    assert.equal(dec(await s.get("a")), "1");
    assert.equal(await s.exists("a"), true);
    await s.set("a", enc("2"));
    assert.equal(dec(await s.get("a")), "2");
    assert.equal(await s.delete("a"), true);
    assert.equal(await s.delete("a"), false);
    assert.equal(await s.get("a"), undefined);
  });

  withStore(
    "values are bytes: empty, all byte values, Buffer accepted, copies isolated",
    async (s) => {
      await s.set("empty", new Uint8Array(0));
      assert.deepEqual(await s.get("empty"), new Uint8Array(0));
      assert.equal(await s.exists("empty"), true);
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      await s.set("all", all);
      assert.deepEqual(Array.from((await s.get("all"))!), Array.from(all));
      await s.set("buf", Buffer.from("buffer"));
      assert.equal(dec(await s.get("buf")), "buffer");
      // A view into a larger buffer stores only its bytes.
      const backing = enc("xxHELLOxx");
      await s.set("view", backing.subarray(2, 7));
      assert.equal(dec(await s.get("view")), "HELLO");
      // Mutating the input after set, or a returned value, does not change what is stored.
      const input = enc("abc");
      await s.set("iso", input);
      input[0] = 0x7a;
      const out = (await s.get("iso"))!;
      out[1] = 0x7a;
      assert.equal(dec(await s.get("iso")), "abc");
    },
  );

  withStore(
    `large values up to ${(options.bigValue ?? 16 * MiB) / MiB} MiB round-trip`,
    async (s) => {
      const size = options.bigValue ?? 16 * MiB;
      const big = new Uint8Array(size);
      for (let i = 0; i < size; i += 4093) big[i] = i % 251;
      big[size - 1] = 7;
      await s.set("big", big);
      const back = (await s.get("big"))!;
      assert.equal(back.byteLength, size);
      assert.equal(Buffer.compare(Buffer.from(back), Buffer.from(big)), 0);
      assert.equal(await s.delete("big"), true);
    },
  );

  withStore("a value over 16 MiB throws ValueTooLargeError and changes nothing", async (s) => {
    await s.set("k", enc("old"));
    await assert.rejects(s.set("k", new Uint8Array(16 * MiB + 1)), ValueTooLargeError);
    await assert.rejects(
      s.batchSet([["a", enc("1")], ["k", new Uint8Array(16 * MiB + 1)]]),
      (e) => e instanceof ValueTooLargeError && e instanceof RangeError,
    );
    assert.equal(dec(await s.get("k")), "old");
    assert.equal(await s.get("a"), undefined);
  });

  withStore("non-bytes values throw InvalidValueError and change nothing", async (s) => {
    await s.set("k", enc("old"));
    for (
      const bad of ["str", 1, null, undefined, [1, 2], new ArrayBuffer(2), new Uint16Array(2), {}]
    ) {
      await assert.rejects(
        s.set("k", bad as unknown as Uint8Array),
        (e) =>
          e instanceof InvalidValueError && e instanceof TypeError && /received/.test(e.message),
      );
    }
    assert.equal(dec(await s.get("k")), "old");
  });

  withStore("keys: empty, non-string, too long, lone surrogates are InvalidKeyError", async (s) => {
    const bad: unknown[] = [
      "",
      1,
      null,
      undefined,
      {},
      "x".repeat(2049),
      "é".repeat(1024) + "x", // 2049 UTF-8 bytes
      "\ud800",
      "a\udc00b",
    ];
    for (const key of bad) {
      for (
        const call of [
          () => s.get(key as string),
          () => s.set(key as string, enc("v")),
          () => s.delete(key as string),
          () => s.exists(key as string),
          () => s.incr(key as string),
          () => s.ttl(key as string),
        ]
      ) {
        await assert.rejects(call(), (e) => e instanceof InvalidKeyError && e instanceof TypeError);
      }
    }
    assert.deepEqual(await s.scanKeys(""), []);
  });

  withStore(
    "keys at exactly 2048 UTF-8 bytes, with NUL, astral and multibyte characters work",
    async (s) => {
      const keys = [
        "x".repeat(2048),
        "é".repeat(1024),
        "😀".repeat(512),
        "€".repeat(682) + "ab",
        "nul\u0000inside",
        "\u0000",
        "{tag}",
      ];
      for (const [i, key] of keys.entries()) await s.set(key, enc(String(i)));
      for (const [i, key] of keys.entries()) {
        assert.equal(
          dec(await s.get(key)),
          String(i),
          key.slice(0, 8),
        );
      }
      assert.deepEqual(await s.scanKeys(""), [...keys].sort(byteOrder));
      assert.deepEqual(await s.scanKeys("nul"), ["nul\u0000inside"]);
    },
  );

  // --- TTL ---------------------------------------------------------------------------------
  withStore("TTL: expires when the clock reaches it, invisible to every read", async (s, clock) => {
    await s.set("t", enc("v"), { ttl: 1000 });
    await s.set("p", enc("keep"));
    assert.equal(await s.ttl("t"), 1000);
    assert.equal(await s.ttl("p"), Infinity);
    assert.equal(await s.ttl("missing"), undefined);
    clock.advance(999);
    assert.equal(dec(await s.get("t")), "v");
    assert.equal(await s.ttl("t"), 1);
    clock.advance(1);
    assert.equal(await s.get("t"), undefined);
    assert.equal(await s.exists("t"), false);
    assert.equal(await s.ttl("t"), undefined);
    assert.deepEqual(await s.batchGet(["t", "p"]), new Map([["p", enc("keep")]]));
    assert.deepEqual(await s.scanKeys(""), ["p"]);
    assert.deepEqual(await s.scan(""), [enc("keep")]);
    assert.deepEqual([...(await s.scanKeysWithValues("")).keys()], ["p"]);
    const seen: string[] = [];
    for await (const [k] of s.entries("")) seen.push(k);
    assert.deepEqual(seen, ["p"]);
    assert.equal(await s.delete("t"), false);
  });

  withStore("TTL: set without ttl clears it; ttl 0 means no expiry", async (s, clock) => {
    await s.set("a", enc("1"), { ttl: 50 });
    await s.set("a", enc("2"));
    await s.set("b", enc("3"), { ttl: 0 });
    clock.advance(10_000);
    assert.equal(dec(await s.get("a")), "2");
    assert.equal(await s.ttl("a"), Infinity);
    assert.equal(await s.ttl("b"), Infinity);
  });

  withStore("TTL: bad values throw RangeError and change nothing", async (s) => {
    await s.set("k", enc("old"));
    for (const ttl of [-1, NaN, Infinity, -Infinity, "5", null]) {
      await assert.rejects(s.set("k", enc("new"), { ttl: ttl as number }), RangeError);
      await assert.rejects(s.batchSet([["z", enc("new")]], { ttl: ttl as number }), RangeError);
    }
    assert.equal(dec(await s.get("k")), "old");
    assert.equal(await s.ttl("k"), Infinity);
    assert.equal(await s.get("z"), undefined);
  });

  withStore(
    "TTL: an expiry up to 2^53 - 1 ms reads back; a later one is refused",
    async (s, clock) => {
      const last = Number.MAX_SAFE_INTEGER - clock.now();
      await s.set("far", enc("v"), { ttl: last });
      assert.equal(dec(await s.get("far")), "v");
      assert.equal(await s.ttl("far"), last);
      await assert.rejects(s.set("far", enc("w"), { ttl: last + 1 }), RangeError);
      await assert.rejects(s.batchSet([["z", enc("w")]], { ttl: last + 1 }), RangeError);
      await assert.rejects((s as Store).expire("far", last + 1), RangeError);
      assert.equal(dec(await s.get("far")), "v");
      assert.equal(await s.ttl("far"), last);
      assert.equal(await s.get("z"), undefined);
    },
  );

  withStore("TTL: batchSet applies one TTL to all its keys", async (s, clock) => {
    await s.batchSet([["a", enc("1")], ["b", enc("2")]], { ttl: 100 });
    assert.equal(await s.ttl("b"), 100);
    clock.advance(100);
    assert.equal((await s.batchGet(["a", "b"])).size, 0);
  });

  withStore("TTL: export reads each live value with its exact expiry time", async (s, clock) => {
    const setAt = clock.now();
    await s.set("t:a", enc("a"), { ttl: 1_000 });
    await s.set("t:b", enc("b"), { ttl: 86_400_000 });
    await s.set("t:c", enc("c"));
    await s.set("t:gone", enc("x"), { ttl: 10 });
    clock.advance(10);
    const exported = async (now: () => number) => {
      const chunks: Uint8Array[] = [];
      const sink = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c) });
      await exportStore(s as Store, sink, { now });
      const lines = Buffer.concat(chunks).toString("utf8").trimEnd().split("\n").slice(1, -1);
      return lines.map((line) => {
        const r = JSON.parse(line);
        return [r.k, Buffer.from(r.v, "base64").toString("utf8"), r.e];
      });
    };
    assert.deepEqual(await exported(clock.now), [
      ["t:a", "a", setAt + 1_000],
      ["t:b", "b", setAt + 86_400_000],
      ["t:c", "c", null],
    ]);
    // On another clock, each remaining TTL counts from that clock's reading.
    assert.deepEqual(await exported(() => clock.now() + 5_000), [
      ["t:a", "a", setAt + 6_000],
      ["t:b", "b", setAt + 86_405_000],
      ["t:c", "c", null],
    ]);
  });

  // --- counters ----------------------------------------------------------------------------
  withStore("counters: 8-byte big-endian int64, missing counts as 0, incr/decr by", async (s) => {
    assert.equal(await s.incr("c"), 1);
    assert.equal(await s.incr("c", 10), 11);
    assert.equal(await s.decr("c"), 10);
    assert.equal(await s.decr("c", 15), -5);
    const raw = (await s.get("c"))!;
    assert.equal(raw.byteLength, 8);
    assert.deepEqual(Array.from(raw), [255, 255, 255, 255, 255, 255, 255, 251]);
    assert.equal(decodeCounter(raw), -5);
    assert.equal(await s.decr("d"), -1);
  });

  withStore(
    "counters: keep an existing TTL; an expired counter restarts from 0",
    async (s, clock) => {
      await s.incr("c", 5);
      await s.set("c", (await s.get("c"))!, { ttl: 1000 });
      assert.equal(await s.incr("c"), 6);
      assert.equal(await s.ttl("c"), 1000);
      clock.advance(1000);
      assert.equal(await s.incr("c"), 1);
      assert.equal(await s.ttl("c"), Infinity);
    },
  );

  withStore("counters: bad by, overflow and non-counters throw and change nothing", async (s) => {
    await s.set("txt", enc("hello"));
    await assert.rejects(s.incr("txt"), NotACounterError);
    assert.equal(dec(await s.get("txt")), "hello");
    for (const by of [1.5, NaN, Infinity, 2 ** 53, "1"]) {
      await assert.rejects(s.incr("n", by as number), RangeError);
      await assert.rejects(s.decr("n", by as number), RangeError);
    }
    assert.equal(await s.exists("n"), false);
    await s.incr("big", Number.MAX_SAFE_INTEGER);
    await assert.rejects(s.incr("big"), RangeError);
    assert.equal(decodeCounter((await s.get("big"))!), Number.MAX_SAFE_INTEGER);
    await s.decr("small", Number.MAX_SAFE_INTEGER);
    await assert.rejects(s.decr("small", 1), RangeError);
    assert.equal(decodeCounter((await s.get("small"))!), -Number.MAX_SAFE_INTEGER);
  });

  withStore("counters: concurrent incr calls are atomic", async (s) => {
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.incr(`c${i % 4}`)));
    for (let i = 0; i < 4; i++) assert.equal(decodeCounter((await s.get(`c${i}`))!), 50);
  });

  // --- batches -----------------------------------------------------------------------------
  withStore(
    "batches: set from pairs and records, last duplicate wins, get returns found keys",
    async (s) => {
      await s.batchSet([["a", enc("1")], ["b", enc("2")], ["a", enc("3")]]);
      await s.batchSet({ c: enc("4"), d: enc("5") });
      const got = await s.batchGet(["d", "a", "missing", "c", "b"]);
      assert.deepEqual([...got.keys()], ["d", "a", "c", "b"]);
      assert.equal(dec(got.get("a")), "3");
      assert.equal(await s.batchDelete(["a", "b", "missing", "a"]), 2);
      assert.deepEqual(await s.scanKeys(""), ["c", "d"]);
      await s.batchSet([]);
      assert.equal((await s.batchGet([])).size, 0);
      assert.equal(await s.batchDelete([]), 0);
    },
  );

  withStore("batches: one bad key or value writes nothing", async (s) => {
    const many: Array<[string, Uint8Array]> = Array.from(
      { length: 50 },
      (_, i) => [`k${i}`, enc("v")],
    );
    await assert.rejects(s.batchSet([...many, ["", enc("v")]]), InvalidKeyError);
    await assert.rejects(
      s.batchSet([...many, ["ok", "v" as unknown as Uint8Array]]),
      InvalidValueError,
    );
    await assert.rejects(s.batchSet([...many, ["x".repeat(3000), enc("v")]]), InvalidKeyError);
    assert.deepEqual(await s.scanKeys(""), []);
    await s.batchSet(many);
    await assert.rejects(s.batchDelete(["k1", "k2", 5 as unknown as string]), InvalidKeyError);
    assert.equal((await s.scanKeys("")).length, 50);
    await assert.rejects(s.batchGet(["k1", ""]), InvalidKeyError);
  });

  withStore("batches: large batches across shards round-trip", async (s) => {
    const n = 2000;
    await s.batchSet(Array.from({ length: n }, (_, i) => [`user:${i}`, enc(`v${i}`)] as const));
    const got = await s.batchGet(Array.from({ length: n }, (_, i) => `user:${i}`));
    assert.equal(got.size, n);
    assert.equal(dec(got.get("user:1234")), "v1234");
    assert.equal(await s.batchDelete(Array.from({ length: n }, (_, i) => `user:${i}`)), n);
  });

  // --- scans -------------------------------------------------------------------------------
  const scanKeys = [
    "a",
    "ab",
    "abc",
    "abd",
    "b",
    "b/1",
    "b/2",
    "b/10",
    "z",
    "é",
    "\uffff",
    "\u{10000}",
    "\u{10000}x",
    "\ue000",
    "😀",
    "B",
    "a\u0000",
  ];
  const seed = (s: StorageBackend) => s.batchSet(scanKeys.map((k) => [k, enc(`v:${k}`)] as const));
  const sorted = [...scanKeys].sort(byteOrder);

  withStore("scans: UTF-8 byte order across all shards, prefixes", async (s) => {
    await seed(s);
    assert.deepEqual(await s.scanKeys(""), sorted);
    assert.deepEqual(await s.scanKeys("ab"), ["ab", "abc", "abd"]);
    assert.deepEqual(await s.scanKeys("b/"), ["b/1", "b/10", "b/2"]);
    assert.deepEqual(await s.scanKeys("\u{10000}"), ["\u{10000}", "\u{10000}x"]);
    assert.deepEqual(await s.scanKeys("\uffff"), ["\uffff"]);
    assert.deepEqual(await s.scanKeys("q"), []);
    assert.deepEqual(await s.scan("ab"), [enc("v:ab"), enc("v:abc"), enc("v:abd")]);
    const kv = await s.scanKeysWithValues("b");
    assert.deepEqual([...kv.keys()], ["b", "b/1", "b/10", "b/2"]);
    assert.equal(dec(kv.get("b/10")), "v:b/10");
  });

  withStore("scans: limit applies to the merged result; after is exclusive; reverse", async (s) => {
    await seed(s);
    assert.deepEqual(await s.scanKeys("", { limit: 3 }), sorted.slice(0, 3));
    assert.deepEqual(await s.scanKeys("", { reverse: true }), [...sorted].reverse());
    assert.deepEqual(
      await s.scanKeys("", { reverse: true, limit: 2 }),
      [...sorted].reverse().slice(0, 2),
    );
    assert.deepEqual(
      await s.scanKeys("", { after: "b" }),
      sorted.filter((k) => byteOrder(k, "b") > 0),
    );
    assert.deepEqual(
      await s.scanKeys("", { after: "b", reverse: true }),
      sorted.filter((k) => byteOrder(k, "b") < 0).reverse(),
    );
    assert.deepEqual(await s.scanKeys("a", { after: "ab", limit: 2 }), ["abc", "abd"]);
    assert.deepEqual(await s.scanKeys("ab", { after: "a" }), ["ab", "abc", "abd"]);
    assert.deepEqual(await s.scanKeys("ab", { after: "abc", reverse: true }), ["ab"]);
    assert.deepEqual(await s.scanKeys("ab", { after: "zzz", reverse: true }), ["abd", "abc", "ab"]);
    assert.deepEqual(await s.scanKeys("ab", { after: "a", reverse: true }), []);
    assert.deepEqual(await s.scan("", { after: "abd", limit: 1 }), [
      enc(`v:${sorted[sorted.indexOf("abd") + 1]}`),
    ]);
    // Paging with after visits every key exactly once.
    const paged: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await s.scanKeys("", { after, limit: 4 });
      paged.push(...page);
      if (page.length < 4) break;
      after = page[page.length - 1];
    }
    assert.deepEqual(paged, sorted);
  });

  withStore("scans: bad options throw", async (s) => {
    for (const limit of [0, -1, 1.5, NaN, "2"]) {
      await assert.rejects(s.scanKeys("", { limit: limit as number }), RangeError);
    }
    await assert.rejects(s.scan(5 as unknown as string), InvalidKeyError);
    await assert.rejects(s.scanKeys("\ud800"), InvalidKeyError);
    await assert.rejects(s.scanKeys("", { reverse: "yes" as unknown as boolean }), TypeError);
    await assert.rejects(s.scanKeys("", { after: 3 as unknown as string }), InvalidKeyError);
  });

  withStore(
    "entries: streams every key in order across pages, with limit/after/reverse",
    async (s) => {
      const keys = Array.from({ length: 700 }, (_, i) => `e:${String(i).padStart(4, "0")}`);
      await s.batchSet(keys.map((k) => [k, enc(k)] as const));
      await s.set("other", enc("x"));
      const all: string[] = [];
      for await (const [k, v] of s.entries("e:")) {
        assert.equal(dec(v), k);
        all.push(k);
      }
      assert.deepEqual(all, keys);
      const some: string[] = [];
      for await (const [k] of s.entries("e:", { after: keys[99], limit: 300, reverse: true })) {
        some
          .push(k);
      }
      assert.deepEqual(some, keys.slice(0, 99).reverse());
      const lim: string[] = [];
      for await (const [k] of s.entries("e:", { limit: 301 })) lim.push(k);
      assert.deepEqual(lim, keys.slice(0, 301));
    },
  );

  // --- closed store ------------------------------------------------------------------------
  withStore("closed: every call rejects with StoreClosedError; close twice is fine", async (s) => {
    await s.set("a", enc("1"));
    await s.close();
    await s.close();
    const calls: Array<() => Promise<unknown>> = [
      () => s.get("a"),
      () => s.set("a", enc("1")),
      () => s.delete("a"),
      () => s.exists("a"),
      () => s.incr("a"),
      () => s.decr("a"),
      () => s.ttl("a"),
      () => s.batchSet([["a", enc("1")]]),
      () => s.batchGet(["a"]),
      () => s.batchDelete(["a"]),
      () => s.scan(""),
      () => s.scanKeys(""),
      () => s.scanKeysWithValues(""),
      async () => {
        for await (const _ of s.entries("")) { /* drain */ }
      },
      () => readTxn(s, (t) => getKey(t, "a")),
      () => writeTxn(s, (t) => setKey(t, "a", enc("1"))),
    ];
    for (const call of calls) await assert.rejects(call(), StoreClosedError);
  });

  // --- transactions ------------------------------------------------------------------------
  withStore("writeTxn: commits all writes at once and sees its own writes", async (s) => {
    await s.set("{u}:gone", enc("x"));
    const result = await writeTxn(s, async (t) => {
      await setKey(t, "{u}:a", enc("1"));
      assert.equal(dec(await getKey(t, "{u}:a")), "1");
      assert.equal(await s.get("{u}:a"), undefined, "not visible outside before commit");
      assert.equal(await deleteKey(t, "{u}:gone"), true);
      assert.equal(await existsKey(t, "{u}:gone"), false);
      assert.equal(await deleteKey(t, "{u}:gone"), false);
      await t.set("{u}:b", enc("2"), { ttl: 500 });
      return "done";
    });
    assert.equal(result, "done");
    assert.equal(dec(await s.get("{u}:a")), "1");
    assert.equal(await s.ttl("{u}:b"), 500);
    assert.equal(await s.exists("{u}:gone"), false);
  });

  withStore("transactions: a body that touches no key just returns its value", async (s) => {
    assert.equal(await writeTxn(s, () => 1), 1);
    assert.equal(await readTxn(s, () => Promise.resolve("r")), "r");
    await s.set("after", enc("ok"));
    assert.equal(dec(await s.get("after")), "ok");
  });

  withStore("writeTxn: a throwing body writes nothing and its error is rethrown", async (s) => {
    await s.set("{u}:a", enc("old"));
    const boom = new Error("boom");
    await assert.rejects(
      writeTxn(s, async (t) => {
        await setKey(t, "{u}:a", enc("new"));
        await deleteKey(t, "{u}:a");
        await setKey(t, "{u}:b", enc("new"));
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(dec(await s.get("{u}:a")), "old");
    assert.equal(await s.get("{u}:b"), undefined);
    // A bad argument inside the body rejects without writing the rest.
    await assert.rejects(
      writeTxn(s, async (t) => {
        await setKey(t, "{u}:c", enc("1"));
        await setKey(t, "", enc("1"));
      }),
      InvalidKeyError,
    );
    assert.equal(await s.get("{u}:c"), undefined);
  });

  withStore("writeTxn: 64 concurrent read-modify-writes of one key are exact", async (s) => {
    await Promise.all(Array.from({ length: 64 }, () =>
      writeTxn(s, async (t) => {
        const v = await getKey(t, "{acct}:n");
        await new Promise((r) => setTimeout(r, 1));
        const n = v === undefined ? 0 : Number(dec(v));
        await setKey(t, "{acct}:n", enc(String(n + 1)));
      })));
    assert.equal(dec(await s.get("{acct}:n")), "64");
  });

  withStore("writeTxn: plain writes to the shard wait for the transaction", async (s) => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const txn = writeTxn(s, async (t) => {
      await getKey(t, "{g}:k");
      await gate;
      await setKey(t, "{g}:k", enc("txn"));
      order.push("txn");
    });
    await new Promise((r) => setTimeout(r, 5));
    const plain = s.set("{g}:k", enc("plain")).then(() => order.push("plain"));
    await new Promise((r) => setTimeout(r, 5));
    release();
    await Promise.all([txn, plain]);
    assert.deepEqual(order, ["txn", "plain"]);
    assert.equal(dec(await s.get("{g}:k")), "plain");
  });

  withStore("readTxn: sees one snapshot while writes wait", async (s) => {
    await s.batchSet([["{r}:a", enc("1")], ["{r}:b", enc("1")]]);
    const seen = await readTxn(s, async (t) => {
      const a = dec(await getKey(t, "{r}:a"));
      const w = s.batchSet([["{r}:a", enc("2")], ["{r}:b", enc("2")]]);
      await new Promise((r) => setTimeout(r, 10));
      const b = dec(await getKey(t, "{r}:b"));
      return { a, b, w };
    });
    assert.deepEqual([seen.a, seen.b], ["1", "1"]);
    await seen.w;
    assert.equal(dec(await s.get("{r}:b")), "2");
    await assert.rejects(
      readTxn(
        s,
        (t) =>
          (t as unknown as { set(k: string, v: Uint8Array): Promise<void> }).set("{r}:a", enc("x")),
      ),
      TypeError,
    );
  });

  withStore(
    "transactions: a body that never settles times out and releases its shard",
    async (s) => {
      await assert.rejects(
        writeTxn(s, async (t) => {
          await setKey(t, "{t}:a", enc("never"));
          await new Promise(() => {});
        }, { timeout: 50 }),
        TransactionTimeoutError,
      );
      assert.equal(await s.get("{t}:a"), undefined);
      await s.set("{t}:a", enc("after"));
      assert.equal(dec(await s.get("{t}:a")), "after");
      await assert.rejects(writeTxn(s, () => 1, { timeout: 0 }), RangeError);
    },
  );

  if (options.shards > 1) {
    // Two keys on different shards, and two hash-tagged keys on one.
    const a = "{x}:1";
    let b = "k0";
    for (let i = 0; shardOf(b, options.shards) === shardOf(a, options.shards); i++) b = `k${i}`;

    withStore(
      "transactions: a key of another shard throws CrossShardTransactionError and rolls back",
      async (s) => {
        await assert.rejects(
          writeTxn(s, async (t) => {
            await setKey(t, a, enc("1"));
            await setKey(t, b, enc("1"));
          }),
          CrossShardTransactionError,
        );
        // Even when the body catches it, the transaction rejects and writes nothing.
        await assert.rejects(
          writeTxn(s, async (t) => {
            await setKey(t, a, enc("1"));
            await setKey(t, b, enc("1")).catch(() => {});
            return "swallowed";
          }),
          CrossShardTransactionError,
        );
        assert.equal(await s.get(a), undefined);
        assert.equal(await s.get(b), undefined);
      },
    );

    withStore(
      "transactions: hash-tagged keys share a shard; other shards are not blocked",
      async (s) => {
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const txn = writeTxn(s, async (t) => {
          await setKey(t, "{user:1}:profile", enc("p"));
          await setKey(t, "{user:1}:cart", enc("c"));
          await gate;
        });
        // A write on another shard completes while the transaction is open.
        await s.set(b, enc("free"));
        assert.equal(dec(await s.get(b)), "free");
        release();
        await txn;
        assert.equal(dec(await s.get("{user:1}:cart")), "c");
      },
    );
  }

  // --- key operations ------------------------------------------------------------------------
  withStore("setIfAbsent: stores only a missing or expired key", async (s, clock) => {
    const store = s as Store;
    assert.equal(await store.setIfAbsent("k", enc("1")), true);
    assert.equal(await store.setIfAbsent("k", enc("2")), false);
    assert.equal(dec(await s.get("k")), "1");
    assert.equal(await store.setIfAbsent("t", enc("a"), { ttl: 100 }), true);
    assert.equal(await s.ttl("t"), 100);
    clock.advance(100);
    assert.equal(await store.setIfAbsent("t", enc("b")), true);
    assert.equal(dec(await s.get("t")), "b");
    assert.equal(await s.ttl("t"), Infinity);
    await assert.rejects(store.setIfAbsent("", enc("x")), InvalidKeyError);
    await assert.rejects(store.setIfAbsent("x", "no" as unknown as Uint8Array), InvalidValueError);
    assert.equal(await s.exists("x"), false);
  });

  withStore("expire and persist change the TTL and keep the value", async (s, clock) => {
    const store = s as Store;
    await s.set("k", enc("v"));
    await s.incr("n", 5);
    assert.equal(await store.expire("missing", 100), false);
    assert.equal(await store.persist("missing"), false);
    assert.equal(await store.expire("k", 100), true);
    assert.equal(await store.expire("n", 200), true);
    assert.equal(await s.ttl("k"), 100);
    assert.equal(dec(await s.get("k")), "v");
    assert.equal(await s.incr("n"), 6, "a counter keeps its TTL and value");
    assert.equal(await s.ttl("n"), 200);
    assert.equal(await store.persist("k"), true);
    assert.equal(await s.ttl("k"), Infinity);
    clock.advance(200);
    assert.equal(dec(await s.get("k")), "v");
    assert.equal(await s.get("n"), undefined);
    assert.equal(await store.expire("n", 100), false, "an expired key is no such key");
    for (const bad of [0, -1, NaN, Infinity, "5" as unknown as number]) {
      await assert.rejects(store.expire("k", bad), RangeError);
    }
    assert.equal(await s.ttl("k"), Infinity);
  });

  withStore("count, deletePrefix and clear see live keys across shards", async (s, clock) => {
    const store = s as Store;
    await s.batchSet(Array.from({ length: 40 }, (_, i) => [`p:${i}`, enc(String(i))] as const));
    await s.batchSet([["q:1", enc("x")], ["p", enc("exact prefix")]]);
    await s.set("p:ttl", enc("t"), { ttl: 10 });
    assert.equal(await store.count("p:"), 41);
    assert.equal(await store.count(""), 43);
    clock.advance(10);
    assert.equal(await store.count("p:"), 40);
    assert.equal(await store.deletePrefix("p:"), 40);
    assert.equal(await store.count("p:"), 0);
    assert.deepEqual(await s.scanKeys(""), ["p", "q:1"]);
    assert.equal(await store.deletePrefix("nothing:"), 0);
    await assert.rejects(store.count(1 as unknown as string), InvalidKeyError);
    await store.clear();
    assert.equal(await store.count(""), 0);
    assert.equal(await s.get("q:1"), undefined);
  });

  withStore("order: a read sees every write called before it, awaited or not", async (s) => {
    const store = s as Store;
    // Nothing below awaits a write before the read that must see it.
    void s.set("o:a", enc("1"));
    assert.equal(dec(await s.get("o:a")), "1");
    void s.incr("o:n");
    void s.incr("o:n", 2);
    assert.equal(decodeCounter((await s.get("o:n"))!), 3);
    void store.expire("o:n", 60_000);
    assert.equal(await s.ttl("o:n"), 60_000);
    void s.delete("o:a");
    assert.equal(await s.exists("o:a"), false);
    void store.atomic().set("o:b", enc("b")).sum("o:n", 1).commit();
    assert.equal(decodeCounter((await store.getEntry("o:n")).value!), 4);
    assert.deepEqual(await s.scanKeys("o:"), ["o:b", "o:n"]);
    void s.batchSet([["o:c", enc("c")], ["o:d", enc("d")]]);
    assert.deepEqual([...(await s.batchGet(["o:c", "o:d"])).keys()], ["o:c", "o:d"]);
    void store.setIfAbsent("o:e", enc("e"));
    assert.equal(await store.count("o:"), 5);
    void store.deletePrefix("o:");
    const left: string[] = [];
    for await (const [key] of store.entries("o:")) left.push(key);
    assert.deepEqual(left, []);
    // A write that waits for an atomic commit holding its shard: the read waits behind it.
    void store.atomic().set("{o}:k", enc("atomic")).commit();
    void s.set("{o}:k", enc("plain"));
    assert.equal(dec(await s.get("{o}:k")), "plain");
  });

  withStore(
    "order: writes of one key apply in call order, also those of several steps",
    async (s) => {
      const store = s as Store;
      // Each pair: a write that reads before it writes, then a plain write of the same key.
      await s.set("w:p/a", enc("old"));
      void store.deletePrefix("w:p/");
      await s.set("w:p/a", enc("new"));
      assert.equal(dec(await s.get("w:p/a")), "new", "deletePrefix, then set");
      await s.set("w:e", enc("e"));
      void store.expire("w:e", 60_000);
      await s.set("w:e", enc("e2"));
      assert.equal(await s.ttl("w:e"), Infinity, "expire, then a set without ttl");
      void s.incr("w:n");
      await s.set("w:n", encodeCounter(100));
      assert.equal(decodeCounter((await s.get("w:n"))!), 100, "incr, then set");
      void s.set("w:s", enc("s"));
      assert.equal(await store.deletePrefix("w:s"), 1, "set, then deletePrefix");
      assert.equal(await store.count("w:s"), 0);
      // An atomic commit over several shards, then a plain write of its last key.
      const keys = Array.from({ length: 8 }, (_, i) => `w:a${i}`);
      let atomic = store.atomic();
      for (const key of keys) atomic = atomic.set(key, enc("atomic"));
      void atomic.commit();
      await s.set(keys[7], enc("plain"));
      assert.equal(dec(await s.get(keys[7])), "plain", "atomic commit, then set");
    },
  );

  withStore("order: a transaction body can read the store while writes wait for it", async (s) => {
    const store = s as Store;
    await s.set("{b}:k", enc("before"));
    const seen = await writeTxn(s, async (t) => {
      await getKey(t, "{b}:k");
      const plain = s.set("{b}:k", enc("plain"));
      // The plain write waits for this transaction; reading it from here must not.
      const value = dec(await s.get("{b}:k"));
      const count = await store.count("{b}:");
      await setKey(t, "{b}:k", enc("txn"));
      return { value, count, plain };
    }, { timeout: 5000 });
    assert.deepEqual([seen.value, seen.count], ["before", 1]);
    await seen.plain;
    assert.equal(dec(await s.get("{b}:k")), "plain");
  });

  withStore("order: close() lets the writes called before it finish", async (s) => {
    const store = s as Store;
    await s.set("c:k", enc("1"));
    // Each second write waits for the first (which reads before it writes) when close() comes.
    const calls = [
      store.expire("c:k", 60_000),
      s.set("c:k", enc("2")),
      s.incr("c:n"),
      s.set("c:n", encodeCounter(5)),
      store.deletePrefix("c:none"),
      s.set("c:m", enc("m")),
    ];
    await store.close();
    const settled = await Promise.allSettled(calls);
    assert.deepEqual(settled.map((r) => r.status), calls.map(() => "fulfilled"));
  });

  withStore("Symbol.asyncDispose closes the store", async (s) => {
    const store = s as Store;
    await store[Symbol.asyncDispose]();
    await assert.rejects(s.get("a"), StoreClosedError);
  });

  // --- entries, atomic commits, watch --------------------------------------------------------
  withStore(
    "getEntry: value, versionstamp and expiry; every write gives a greater versionstamp",
    async (s, clock) => {
      const store = s as Store;
      assert.deepEqual(await store.getEntry("k"), {
        key: "k",
        value: null,
        versionstamp: null,
        expiresAt: null,
      });
      const stamps: string[] = [];
      const stamp = async () => {
        const e = await store.getEntry("k");
        assert.match(e.versionstamp!, /^[0-9a-f]{20}$/);
        stamps.push(e.versionstamp!);
        return e;
      };
      await s.set("k", enc("1"));
      assert.equal(dec((await stamp()).value!), "1");
      await s.set("k", enc("1"));
      await stamp();
      await s.set("k", enc("2"), { ttl: 500 });
      assert.equal((await stamp()).expiresAt, clock.now() + 500);
      await store.persist("k");
      assert.equal((await stamp()).expiresAt, null);
      await store.expire("k", 100);
      await stamp();
      await s.batchSet([["k", enc("3")]]);
      await stamp();
      await writeTxn(s, (t) => setKey(t, "k", enc("4")));
      await stamp();
      await s.delete("k");
      await s.incr("k");
      assert.equal(decodeCounter((await stamp()).value!), 1);
      await s.incr("k");
      await stamp();
      for (let i = 1; i < stamps.length; i++) {
        assert.ok(
          stamps[i] > stamps[i - 1],
          `versionstamp ${i} grew: ${stamps[i - 1]} -> ${stamps[i]}`,
        );
      }
      clock.advance(100_000);
      await s.set("t", enc("x"), { ttl: 10 });
      clock.advance(10);
      assert.deepEqual(await store.getEntry("t"), {
        key: "t",
        value: null,
        versionstamp: null,
        expiresAt: null,
      });
      await assert.rejects(store.getEntry(""), InvalidKeyError);
    },
  );

  withStore("atomic: checks decide; a failed check writes nothing", async (s) => {
    const store = s as Store;
    const first = await store.atomic().check({ key: "a", versionstamp: null }).set("a", enc("1"))
      .set("b", enc("1")).commit();
    assert.equal(first.ok, true);
    const a = await store.getEntry("a");
    assert.equal(first.ok && first.versionstamp, a.versionstamp, "the commit's versionstamp");
    assert.equal((await store.getEntry("b")).versionstamp, a.versionstamp);
    // The same check again fails: "a" exists now.
    const again = await store.atomic().check({ key: "a", versionstamp: null })
      .set("a", enc("2")).delete("b").set("c", enc("new")).commit();
    assert.deepEqual(again, { ok: false });
    assert.equal(dec(await s.get("a")), "1");
    assert.equal(dec(await s.get("b")), "1");
    assert.equal(await s.get("c"), undefined);
    // A check with the current versionstamp holds; after a write it is stale.
    assert.equal((await store.atomic().check(a).set("a", enc("2")).commit()).ok, true);
    assert.deepEqual(await store.atomic().check(a).set("a", enc("3")).commit(), { ok: false });
    assert.equal(dec(await s.get("a")), "2");
    // A rewrite with the same bytes is still a new version.
    const b = await store.getEntry("b");
    await s.set("b", enc("1"));
    assert.deepEqual(await store.atomic().check(b).delete("b").commit(), { ok: false });
    assert.equal(dec(await s.get("b")), "1");
    // Checks only, and an empty commit, succeed with a versionstamp.
    const checksOnly = await store.atomic().check(await store.getEntry("a")).commit();
    assert.equal(checksOnly.ok, true);
    assert.equal((await store.atomic().commit()).ok, true);
    // Two different expectations of one key never both hold.
    const twice = await store.atomic().check({ key: "zz", versionstamp: null })
      .check({ key: "zz", versionstamp: a.versionstamp }).set("zz", enc("x")).commit();
    assert.deepEqual(twice, { ok: false });
    assert.equal(await s.get("zz"), undefined);
  });

  withStore("atomic: set with ttl, delete, sum/min/max on 8-byte counters", async (s, clock) => {
    const store = s as Store;
    await s.set("gone", enc("x"));
    await s.incr("n", 10);
    await store.expire("n", 1000);
    const res = await store.atomic()
      .set("t", enc("ttl"), { ttl: 50 })
      .delete("gone")
      .sum("n", 5)
      .sum("new", -3)
      .min("lo", 7)
      .max("hi", 7)
      .commit();
    assert.equal(res.ok, true);
    assert.equal(await s.get("gone"), undefined);
    assert.equal(decodeCounter((await s.get("n"))!), 15);
    assert.equal(await s.ttl("n"), 1000, "sum keeps the counter's expiry");
    assert.equal(decodeCounter((await s.get("new"))!), -3);
    assert.equal(await s.ttl("t"), 50);
    await store.atomic().min("lo", 9).max("hi", 9).min("n", 4).sum("n", 1).commit();
    assert.equal(decodeCounter((await s.get("lo"))!), 7);
    assert.equal(decodeCounter((await s.get("hi"))!), 9);
    assert.equal(decodeCounter((await s.get("n"))!), 5, "mutations of one key apply in order");
    await store.atomic().sum("big", 2n ** 52n).sum("big", 2n ** 52n - 1n).commit();
    assert.equal(decodeCounter((await s.get("big"))!), 2 ** 53 - 1);
    await assert.rejects(store.atomic().sum("big", 1).set("side", enc("x")).commit(), RangeError);
    assert.equal(decodeCounter((await s.get("big"))!), 2 ** 53 - 1);
    assert.equal(await s.get("side"), undefined);
    clock.advance(50);
    assert.equal(await s.get("t"), undefined);
  });

  withStore("atomic: bad input throws a typed error and writes nothing", async (s) => {
    const store = s as Store;
    assert.throws(() => store.atomic().set("", enc("x")), InvalidKeyError);
    assert.throws(() => store.atomic().set("k", "x" as unknown as Uint8Array), InvalidValueError);
    assert.throws(() => store.atomic().check({ key: "k", versionstamp: "nope" }), TypeError);
    assert.throws(
      () => store.atomic().check(null as unknown as { key: string; versionstamp: null }),
      TypeError,
    );
    assert.throws(() => store.atomic().sum("k", 1.5), RangeError);
    assert.throws(() => store.atomic().max("k", 2n ** 60n), RangeError);
    assert.throws(() => store.atomic().min("k", "1" as unknown as number), RangeError);
    assert.throws(() => store.atomic().set("k", enc("x"), { ttl: -1 }), RangeError);
    await s.set("text", enc("not a counter"));
    await assert.rejects(
      store.atomic().set("other", enc("x")).sum("text", 1).commit(),
      NotACounterError,
    );
    assert.equal(await s.get("other"), undefined);
    assert.equal(dec(await s.get("text")), "not a counter");
    const op = store.atomic().set("once", enc("1"));
    await op.commit();
    await assert.rejects(op.commit(), TypeError);
  });

  withStore(
    "atomic: a commit over many shards is all or nothing; readers never see half",
    async (s) => {
      const store = s as Store;
      const keys = Array.from({ length: 12 }, (_, i) => `acct:${i}`);
      await s.batchSet(keys.map((k) => [k, encodeCounter(100)] as const));
      // All keys in one commit: one versionstamp for all; then a failing check on one of them.
      const all = await keys.reduce((op, k) => op.sum(k, 1), store.atomic()).commit();
      assert.equal(all.ok, true);
      for (const k of keys) {
        assert.equal(
          (await store.getEntry(k)).versionstamp,
          all.ok && all.versionstamp,
        );
      }
      const stale = { key: keys[5], versionstamp: "00000000000000000001" };
      const failed = await keys.reduce((op, k) => op.sum(k, 1), store.atomic().check(stale))
        .commit();
      assert.deepEqual(failed, { ok: false });
      for (const k of keys) assert.equal(decodeCounter((await s.get(k))!), 101);
      // Concurrent transfers keep the total; concurrent multi-key reads never see half of one.
      const total = 101 * keys.length;
      let stop = false;
      const reader = (async () => {
        let reads = 0;
        while (!stop || reads === 0) {
          const got = await s.batchGet(keys);
          let sum = 0;
          for (const k of keys) sum += decodeCounter(got.get(k)!);
          assert.equal(sum, total, "a reader saw part of a commit");
          const scanned = await s.scan("acct:");
          assert.equal(scanned.reduce((n, v) => n + decodeCounter(v), 0), total);
          reads++;
          // Cached reads resolve without I/O: let the writers' file and socket I/O run.
          await new Promise((r) => setTimeout(r, 0));
        }
      })();
      await Promise.all(Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 6; i++) {
          const from = keys[(w + i) % keys.length];
          const to = keys[(w * 5 + i + 1) % keys.length];
          if (from === to) continue;
          const r = await store.atomic().sum(from, -1).sum(to, 1).commit();
          assert.equal(r.ok, true);
        }
      }));
      stop = true;
      await reader;
    },
  );

  withStore("atomic: concurrent check-and-set increments lose no update", async (s) => {
    const store = s as Store;
    const workers = 8;
    const each = 8;
    await Promise.all(Array.from({ length: workers }, async () => {
      for (let i = 0; i < each; i++) {
        for (;;) {
          const [x, y] = await Promise.all([store.getEntry("x"), store.getEntry("{y}y")]);
          const nx = (x.value === null ? 0 : decodeCounter(x.value)) + 1;
          const ny = (y.value === null ? 0 : decodeCounter(y.value)) + 1;
          const r = await store.atomic().check(x, y).set("x", encodeCounter(nx))
            .set("{y}y", encodeCounter(ny)).commit();
          if (r.ok) break;
        }
      }
    }));
    assert.equal(decodeCounter((await s.get("x"))!), workers * each);
    assert.equal(decodeCounter((await s.get("{y}y"))!), workers * each);
  });

  withStore("watch: one event per change of the watched keys, then abort ends it", async (s) => {
    const store = s as Store;
    await s.set("w:1", enc("before"));
    const abort = new AbortController();
    const events = store.watch(["w:1", "w:2"], { signal: abort.signal }).getReader();
    await s.set("other", enc("not watched"));
    await s.set("w:1", enc("one"));
    let e = await nextEvent(events);
    assert.equal(e.key, "w:1");
    assert.equal(dec(e.value!), "one");
    assert.equal(e.versionstamp, (await store.getEntry("w:1")).versionstamp);
    await s.batchSet([["w:2", enc("two")]]);
    e = await nextEvent(events);
    assert.deepEqual([e.key, dec(e.value!)], ["w:2", "two"]);
    await store.atomic().delete("w:1").commit();
    e = await nextEvent(events);
    assert.deepEqual(e, { key: "w:1", value: null, versionstamp: null });
    abort.abort();
    assert.equal((await events.read()).done, true);
    assert.throws(() => store.watch("w:1" as unknown as string[]), TypeError);
    assert.throws(() => store.watch([""]), InvalidKeyError);
  });

  withStore(
    "watch: a prefix, expiry as a deletion, and the end when the store closes",
    async (s, clock) => {
      const store = s as Store;
      const events = store.watch({ prefix: "p:" }).getReader();
      await s.set("q:1", enc("outside"));
      await s.set("p:1", enc("a"), { ttl: 100 });
      let e = await nextEvent(events);
      assert.deepEqual([e.key, dec(e.value!)], ["p:1", "a"]);
      await s.incr("p:n");
      e = await nextEvent(events);
      assert.equal(e.key, "p:n");
      assert.equal(decodeCounter(e.value!), 1);
      clock.advance(100);
      e = await nextEvent(events);
      assert.deepEqual(e, { key: "p:1", value: null, versionstamp: null });
      await s.close();
      assert.equal((await events.read()).done, true);
    },
  );

  // --- cache -------------------------------------------------------------------------------
  if (options.cache) {
    withStore(
      "cache: hits, misses, invalidation by every write path, never stale or expired",
      async (s, clock) => {
        const store = s as Store;
        await s.set("a", enc("1"), { ttl: 1000 });
        assert.equal(dec(await s.get("a")), "1");
        assert.equal(dec(await s.get("a")), "1");
        assert.equal(await s.get("miss"), undefined);
        assert.equal(await s.get("miss"), undefined);
        const st = store.stats().cache!;
        assert.equal(st.hits, 2);
        assert.equal(st.misses, 2);
        await s.set("miss", enc("now"));
        assert.equal(dec(await s.get("miss")), "now");
        await s.batchSet([["a", enc("2")]], { ttl: 1000 });
        assert.equal(dec(await s.get("a")), "2");
        await s.incr("n");
        await s.get("n");
        await s.incr("n");
        assert.equal(decodeCounter((await s.get("n"))!), 2);
        await s.delete("n");
        assert.equal(await s.get("n"), undefined);
        await s.batchDelete(["a"]);
        assert.equal(await s.get("a"), undefined);
        await s.set("t", enc("x"), { ttl: 100 });
        await s.get("t");
        await writeTxn(s, (t) => setKey(t, "t", enc("y"), { ttl: 100 }));
        assert.equal(dec(await s.get("t")), "y");
        clock.advance(100);
        assert.equal(await s.get("t"), undefined, "expired values are never served from the cache");
        assert.equal((await s.batchGet(["t", "miss"])).size, 1);
        // Returned values are copies: mutating one does not change the next hit.
        const v = (await s.get("miss"))!;
        v[0] = 0;
        assert.equal(dec(await s.get("miss")), "now");
      },
      { cache: { maxEntries: 100 } },
    );

    withStore("cache: evicts least recently used entries beyond maxEntries", async (s) => {
      const store = s as Store;
      for (let i = 0; i < 5; i++) await s.set(`k${i}`, enc(String(i)));
      for (let i = 0; i < 5; i++) await s.get(`k${i}`);
      const st = store.stats().cache!;
      assert.equal(st.entries, 3);
      assert.equal(st.evictions, 2);
      await s.get("k4");
      assert.equal(store.stats().cache!.hits, 1);
      await s.get("k0");
      assert.equal(store.stats().cache!.misses, 6);
    }, { cache: { maxEntries: 3 } });
  }
}
