// Model-based testing: seeded random operation sequences run against a store and against a
// plain in-memory model (a Map, keys sorted with compareKeys), compared result by result.
// A failing sequence is shrunk to a short one that still fails. Used by test/model_test.ts and
// bench/model_long.ts.
import {
  compareKeys,
  deleteKey,
  existsKey,
  getKey,
  openStore,
  readTxn,
  setKey,
  shardOf,
  type Store,
  writeTxn,
} from "../mod.ts";
import { prng, tempDir } from "./_helpers.ts";

/** One operation, as plain data so a sequence can be printed, replayed and shrunk. */
export type Op =
  | { op: "set"; key: string; value: number[]; ttl?: number }
  | { op: "get" | "delete" | "exists" | "ttl"; key: string }
  | { op: "incr" | "decr"; key: string; by: number }
  | { op: "batchSet"; entries: [string, number[]][]; ttl?: number }
  | { op: "batchGet" | "batchDelete"; keys: string[] }
  | {
    op: "scan" | "scanKeys" | "scanKeysWithValues" | "entries";
    prefix: string;
    limit?: number;
    after?: string;
    reverse?: boolean;
  }
  | { op: "writeTxn"; steps: TxnStep[]; fail: boolean }
  | { op: "readTxn"; keys: string[] }
  | { op: "advance"; ms: number };

type TxnStep =
  | { op: "set"; key: string; value: number[]; ttl?: number }
  | { op: "delete" | "get" | "exists"; key: string };

interface Entry {
  value: Uint8Array;
  expiresAt: number | null;
}

/** Keys: ASCII, multibyte, astral, around U+FFFF, NUL, and hash tags. */
const KEYS = [
  "a",
  "ab",
  "a\u0000b",
  "b",
  "user:1",
  "user:10",
  "user:2",
  "z",
  "é",
  "é:x",
  "日本",
  "日本語",
  "\uffff",
  "\ue000x",
  "\ud7ff",
  "😀",
  "😀a",
  "\u{10000}",
  "\u{10ffff}",
  "{u1}:a",
  "{u1}:b",
  "{u1}:c",
  "{u2}:a",
  "{u2}:b",
  "{😀}:x",
  "{😀}:y",
  "{}x",
  "x{}",
  "{é}1",
  "{é}2",
];
const PREFIXES = ["", "a", "u", "user:1", "{u1}", "{", "😀", "\uffff", "é", "日本", "\ud7ff", "z"];
const TAGS = ["{u1}:", "{u2}:", "{😀}:", "{é}"];

/** Generates `count` operations from `seed`. */
export function generate(seed: number, count: number): Op[] {
  const r = prng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const key = (): string => r() < 0.9 ? pick(KEYS) : `k${int(50)}`;
  const value = (): number[] => {
    // Some 8-byte values so incr meets both counters and non-counters.
    const len = r() < 0.2 ? 8 : int(6);
    return Array.from({ length: len }, () => r() < 0.7 ? 0 : int(256));
  };
  const ttl = (): number | undefined => r() < 0.6 ? undefined : r() < 0.2 ? 0 : 1 + int(3000);
  const tagged = (tag: string): string => tag + pick(["a", "b", "c", "d"]);
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const x = r();
    if (x < 0.2) ops.push({ op: "set", key: key(), value: value(), ttl: ttl() });
    else if (x < 0.3) ops.push({ op: "get", key: key() });
    else if (x < 0.36) ops.push({ op: "delete", key: key() });
    else if (x < 0.4) ops.push({ op: "exists", key: key() });
    else if (x < 0.44) ops.push({ op: "ttl", key: key() });
    else if (x < 0.5) {
      const by = r() < 0.05 ? Number.MAX_SAFE_INTEGER - int(3) : int(11) - 5;
      ops.push({ op: r() < 0.5 ? "incr" : "decr", key: key(), by });
    } else if (x < 0.56) {
      const n = 1 + int(6);
      ops.push({
        op: "batchSet",
        entries: Array.from({ length: n }, () => [key(), value()]),
        ttl: ttl(),
      });
    } else if (x < 0.6) {
      ops.push({
        op: r() < 0.6 ? "batchGet" : "batchDelete",
        keys: Array.from({ length: int(6) }, key),
      });
    } else if (x < 0.76) {
      ops.push({
        op: pick(["scan", "scanKeys", "scanKeysWithValues", "entries"] as const),
        prefix: pick(PREFIXES),
        limit: r() < 0.5 ? undefined : 1 + int(5),
        after: r() < 0.7 ? undefined : key(),
        reverse: r() < 0.5 ? undefined : r() < 0.5,
      });
    } else if (x < 0.86) {
      const tag = pick(TAGS);
      const steps: TxnStep[] = Array.from({ length: 1 + int(4) }, (): TxnStep => {
        // Now and then a key of another tag: a cross-shard error on a sharded store.
        const k = r() < 0.05 ? tagged(pick(TAGS)) : tagged(tag);
        const y = r();
        if (y < 0.5) return { op: "set", key: k, value: value(), ttl: ttl() };
        if (y < 0.7) return { op: "delete", key: k };
        return { op: y < 0.85 ? "get" : "exists", key: k };
      });
      ops.push({ op: "writeTxn", steps, fail: r() < 0.1 });
    } else if (x < 0.9) {
      const tag = pick(TAGS);
      ops.push({ op: "readTxn", keys: Array.from({ length: 1 + int(3) }, () => tagged(tag)) });
    } else ops.push({ op: "advance", ms: int(1500) });
  }
  return ops;
}

/** The reference: a Map and a clock. */
export class Model {
  #data = new Map<string, Entry>();
  now = 1_700_000_000_000;
  readonly shards: number;

  constructor(shards: number) {
    this.shards = shards;
  }

  #live(key: string, data = this.#data): Entry | undefined {
    const e = data.get(key);
    return e !== undefined && (e.expiresAt === null || this.now < e.expiresAt) ? e : undefined;
  }

  #expiry(ttl: number | undefined): number | null {
    return ttl === undefined || ttl === 0 ? null : this.now + ttl;
  }

  /** The result of `op` (an `{ error }` record for a thrown error) after applying it. */
  apply(op: Op): unknown {
    try {
      return this.#apply(op);
    } catch (e) {
      return { error: (e as Error).name };
    }
  }

  #apply(op: Op): unknown {
    switch (op.op) {
      case "set":
        this.#data.set(op.key, {
          value: Uint8Array.from(op.value),
          expiresAt: this.#expiry(op.ttl),
        });
        return undefined;
      case "get":
        return show(this.#live(op.key)?.value);
      case "exists":
        return this.#live(op.key) !== undefined;
      case "delete": {
        const live = this.#live(op.key) !== undefined;
        this.#data.delete(op.key);
        return live;
      }
      case "ttl": {
        const e = this.#live(op.key);
        return e === undefined
          ? undefined
          : e.expiresAt === null
          ? Infinity
          : e.expiresAt - this.now;
      }
      case "incr":
      case "decr": {
        const e = this.#live(op.key);
        let n = 0;
        if (e !== undefined) {
          if (e.value.length !== 8) throw named("NotACounterError");
          n = Number(new DataView(e.value.buffer).getBigInt64(0));
          if (!Number.isSafeInteger(n)) throw named("RangeError");
        }
        const next = n + (op.op === "incr" ? op.by : -op.by);
        if (!Number.isSafeInteger(next)) throw named("RangeError");
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setBigInt64(0, BigInt(next));
        this.#data.set(op.key, { value: bytes, expiresAt: e?.expiresAt ?? null });
        return next;
      }
      case "batchSet":
        for (const [k, v] of op.entries) {
          this.#data.set(k, { value: Uint8Array.from(v), expiresAt: this.#expiry(op.ttl) });
        }
        return undefined;
      case "batchGet": {
        const out: [string, string][] = [];
        for (const k of new Set(op.keys)) {
          const e = this.#live(k);
          if (e !== undefined) out.push([k, show(e.value)!]);
        }
        return out;
      }
      case "batchDelete": {
        let n = 0;
        for (const k of op.keys) {
          if (this.#live(k) !== undefined) n++;
          this.#data.delete(k);
        }
        return n;
      }
      case "scan":
      case "scanKeys":
      case "scanKeysWithValues":
      case "entries": {
        let keys = [...this.#data.keys()]
          .filter((k) => k.startsWith(op.prefix) && this.#live(k) !== undefined)
          .sort(compareKeys);
        if (op.reverse) keys.reverse();
        if (op.after !== undefined) {
          const after = op.after;
          keys = keys.filter((k) => (op.reverse ? -1 : 1) * compareKeys(k, after) > 0);
        }
        if (op.limit !== undefined) keys = keys.slice(0, op.limit);
        if (op.op === "scanKeys") return keys;
        if (op.op === "scan") return keys.map((k) => show(this.#data.get(k)!.value));
        return keys.map((k) => [k, show(this.#data.get(k)!.value)]);
      }
      case "writeTxn": {
        const copy = new Map(this.#data);
        const results: unknown[] = [];
        const bound = shardOf(op.steps[0].key, this.shards);
        for (const s of op.steps) {
          if (shardOf(s.key, this.shards) !== bound) throw named("CrossShardTransactionError");
          if (s.op === "set") {
            copy.set(s.key, { value: Uint8Array.from(s.value), expiresAt: this.#expiry(s.ttl) });
            results.push(undefined);
          } else if (s.op === "delete") {
            results.push(this.#live(s.key, copy) !== undefined);
            copy.delete(s.key);
          } else if (s.op === "get") results.push(show(this.#live(s.key, copy)?.value));
          else results.push(this.#live(s.key, copy) !== undefined);
        }
        if (op.fail) throw named("Error");
        this.#data = copy;
        return results;
      }
      case "readTxn": {
        const bound = shardOf(op.keys[0], this.shards);
        if (op.keys.some((k) => shardOf(k, this.shards) !== bound)) {
          throw named("CrossShardTransactionError");
        }
        return op.keys.map((k) => show(this.#live(k)?.value));
      }
      case "advance":
        this.now += op.ms;
        return undefined;
    }
  }
}

function named(name: string): Error {
  const e = new Error(name);
  e.name = name;
  return e;
}

/** Bytes as a compact comparable string. */
function show(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined
    ? undefined
    : Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs `op` on `store` and returns its result in the model's shape. */
async function runOnStore(store: Store, clock: { now: number }, op: Op): Promise<unknown> {
  try {
    switch (op.op) {
      case "set":
        return await store.set(op.key, Uint8Array.from(op.value), ttlOption(op.ttl));
      case "get":
        return show(await store.get(op.key));
      case "exists":
        return await store.exists(op.key);
      case "delete":
        return await store.delete(op.key);
      case "ttl":
        return await store.ttl(op.key);
      case "incr":
      case "decr":
        return await store[op.op](op.key, op.by);
      case "batchSet":
        return await store.batchSet(
          op.entries.map(([k, v]) => [k, Uint8Array.from(v)] as const),
          ttlOption(op.ttl),
        );
      case "batchGet":
        return Array.from(await store.batchGet(op.keys), ([k, v]) => [k, show(v)]);
      case "batchDelete":
        return await store.batchDelete(op.keys);
      case "scan":
      case "scanKeys":
      case "scanKeysWithValues":
      case "entries": {
        const options = { limit: op.limit, after: op.after, reverse: op.reverse };
        if (op.op === "scanKeys") return await store.scanKeys(op.prefix, options);
        if (op.op === "scan") return (await store.scan(op.prefix, options)).map(show);
        if (op.op === "scanKeysWithValues") {
          return Array.from(
            await store.scanKeysWithValues(op.prefix, options),
            ([k, v]) => [k, show(v)],
          );
        }
        const out: [string, string | undefined][] = [];
        for await (const [k, v] of store.entries(op.prefix, options)) out.push([k, show(v)]);
        return out;
      }
      case "writeTxn":
        return await writeTxn(store, async (txn) => {
          const results: unknown[] = [];
          for (const s of op.steps) {
            if (s.op === "set") {
              results.push(await setKey(txn, s.key, Uint8Array.from(s.value), ttlOption(s.ttl)));
            } else if (s.op === "delete") results.push(await deleteKey(txn, s.key));
            else if (s.op === "get") results.push(show(await getKey(txn, s.key)));
            else results.push(await existsKey(txn, s.key));
          }
          if (op.fail) throw new Error("rolled back on purpose");
          return results;
        });
      case "readTxn":
        return await readTxn(store, async (txn) => {
          const out: unknown[] = [];
          for (const k of op.keys) out.push(show(await getKey(txn, k)));
          return out;
        });
      case "advance":
        clock.now += op.ms;
        return undefined;
    }
  } catch (e) {
    return { error: (e as Error).name };
  }
}

function ttlOption(ttl: number | undefined): { ttl: number } | undefined {
  return ttl === undefined ? undefined : { ttl };
}

/** The first operation whose result differs between the store and the model. */
export interface Mismatch {
  index: number;
  op: Op;
  expected: unknown;
  actual: unknown;
}

/** Opens a fresh empty store driven by `now`; `dispose` removes what it left on disk. */
export type OpenFresh = (now: () => number) => Promise<{ store: Store; dispose(): Promise<void> }>;

/** Opens a fresh store of `backend` with `shards` (and a read cache when `cache`), removed again by `dispose`. */
export function opener(
  backend: "memory" | "sqlite" | "deno-kv",
  shards: number,
  options: { cache?: boolean } = {},
): OpenFresh {
  // A small cache, so that entries are also evicted.
  const cache = options.cache ? { maxEntries: 8 } : false;
  return async (now) => {
    if (backend === "memory") {
      return {
        store: await openStore("", { backend, shards, now, cache }),
        dispose: async () => {},
      };
    }
    const { dir, dispose } = await tempDir("model");
    return {
      store: await openStore(dir, {
        backend,
        shards,
        now,
        cache,
        durability: backend === "sqlite" ? "relaxed" : undefined,
      }),
      dispose,
    };
  };
}

/** Runs `ops` on a fresh store and the model; returns the first mismatch, if any. */
export async function check(
  ops: readonly Op[],
  options: { shards: number; open: OpenFresh },
): Promise<Mismatch | undefined> {
  const model = new Model(options.shards);
  const clock = { now: model.now };
  const { store, dispose } = await options.open(() => clock.now);
  try {
    for (let index = 0; index < ops.length; index++) {
      const op = ops[index];
      const expected = model.apply(op);
      const actual = await runOnStore(store, clock, op);
      if (!same(expected, actual)) return { index, op, expected, actual };
    }
    return undefined;
  } finally {
    await store.close();
    await dispose();
  }
}

function same(a: unknown, b: unknown): boolean {
  return stringify(a) === stringify(b);
}

/** JSON that keeps `undefined` and `Infinity` apart from `null`. */
export function stringify(x: unknown): string {
  return JSON.stringify(
    x,
    (_k, v) => v === undefined ? "<undefined>" : v === Infinity ? "<Infinity>" : v,
  );
}

/**
 * Shrinks a failing sequence: cut it after the failing operation, then drop chunks of
 * operations (halving the chunk size down to one) while it still fails. At most `budget` runs.
 */
export async function shrink(
  ops: readonly Op[],
  first: Mismatch,
  options: { shards: number; open: OpenFresh; budget?: number },
): Promise<{ ops: Op[]; mismatch: Mismatch }> {
  let best = ops.slice(0, first.index + 1);
  let mismatch = first;
  let budget = options.budget ?? 400;
  for (
    let size = Math.max(1, Math.floor(best.length / 2));
    size >= 1 && budget > 0;
    size = Math.floor(size / 2)
  ) {
    for (let start = 0; start < best.length && budget > 0;) {
      const candidate = [...best.slice(0, start), ...best.slice(start + size)];
      budget--;
      const m = candidate.length > 0 ? await check(candidate, options) : undefined;
      if (m !== undefined) {
        best = candidate.slice(0, m.index + 1);
        mismatch = m;
      } else start += size;
    }
  }
  return { ops: best, mismatch };
}

/** A readable report of a shrunk failure. */
export function report(
  seed: number,
  name: string,
  shrunk: { ops: Op[]; mismatch: Mismatch },
): string {
  const m = shrunk.mismatch;
  return [
    `model mismatch on ${name}, seed ${seed}; shrunk to ${shrunk.ops.length} operations:`,
    ...shrunk.ops.map((op, i) => `  ${i}: ${stringify(op)}`),
    `operation ${m.index}: expected ${stringify(m.expected)}, received ${stringify(m.actual)}`,
  ].join("\n");
}
