// Model-based testing: seeded random operation sequences run against a store and against a
// plain in-memory model (a Map, keys sorted with compareKeys), compared result by result.
// getEntry and atomic commits also check versionstamps: a key's grows on each write the model
// makes and stays the same otherwise, and a commit's keys carry its versionstamp.
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
  | { op: "advance"; ms: number }
  | { op: "getEntry" | "persist"; key: string }
  | { op: "setIfAbsent"; key: string; value: number[]; ttl?: number }
  | { op: "expire"; key: string; ttl: number }
  | { op: "count" | "deletePrefix"; prefix: string }
  | { op: "clear" }
  | { op: "atomic"; checks: AtomicCheckSpec[]; mutations: AtomicMutation[] };

/** A check of an atomic commit: the key's versionstamp read just before, null, or a stale one. */
type AtomicCheckSpec = { key: string; expect: "current" | "absent" | "stale" };

type AtomicMutation =
  | { type: "set"; key: string; value: number[]; ttl?: number }
  | { type: "delete"; key: string }
  | { type: "sum" | "min" | "max"; key: string; n: number };

/** A versionstamp no key ever has (the store's versions come from a clock in ms). */
const STALE_STAMP = "00000000000000000001";

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
  const counterArg = (): number => r() < 0.05 ? Number.MAX_SAFE_INTEGER - int(3) : int(11) - 5;
  const prefix = (): string => r() < 0.9 ? pick(PREFIXES.filter((p) => p !== "")) : "";
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    // A quarter of the operations: entries, atomic commits and the key operations.
    const y = r();
    if (y < 0.25) {
      if (y < 0.06) ops.push({ op: "getEntry", key: key() });
      else if (y < 0.14) {
        const checks = Array.from({ length: int(3) }, (): AtomicCheckSpec => ({
          key: key(),
          expect: pick(["current", "current", "absent", "stale"] as const),
        }));
        const mutations = Array.from({ length: 1 + int(4) }, (): AtomicMutation => {
          const z = r();
          if (z < 0.35) return { type: "set", key: key(), value: value(), ttl: ttl() };
          if (z < 0.5) return { type: "delete", key: key() };
          return { type: pick(["sum", "sum", "min", "max"] as const), key: key(), n: counterArg() };
        });
        ops.push({ op: "atomic", checks, mutations });
      } else if (y < 0.17) ops.push({ op: "setIfAbsent", key: key(), value: value(), ttl: ttl() });
      else if (y < 0.195) {
        ops.push({ op: "expire", key: key(), ttl: r() < 0.1 ? 0 : 1 + int(3000) });
      } else if (y < 0.21) ops.push({ op: "persist", key: key() });
      else if (y < 0.232) ops.push({ op: "count", prefix: prefix() });
      else if (y < 0.247) ops.push({ op: "deletePrefix", prefix: prefix() });
      else ops.push({ op: "clear" });
      continue;
    }
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
  /** Keys written since their versionstamp was last looked at. */
  #written = new Set<string>();
  now = 1_700_000_000_000;
  readonly shards: number;

  constructor(shards: number) {
    this.shards = shards;
  }

  /** Whether `key` was written since the last call for it. */
  takeWritten(key: string): boolean {
    return this.#written.delete(key);
  }

  #put(key: string, entry: Entry): void {
    this.#data.set(key, entry);
    this.#written.add(key);
  }

  #remove(key: string): void {
    this.#data.delete(key);
    this.#written.add(key);
  }

  /** The counter a sum, min or max leaves (the model's `counterResult`). */
  #counter(m: { type: "sum" | "min" | "max"; n: number }, current: Entry | undefined): number {
    if (current === undefined) return m.n;
    const n = counterOf(current.value);
    const next = m.type === "sum"
      ? n + m.n
      : m.type === "min"
      ? Math.min(n, m.n)
      : Math.max(n, m.n);
    if (!Number.isSafeInteger(next)) throw named("RangeError");
    return next;
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
        this.#put(op.key, {
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
        this.#remove(op.key);
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
        const n = e === undefined ? 0 : counterOf(e.value);
        const next = n + (op.op === "incr" ? op.by : -op.by);
        if (!Number.isSafeInteger(next)) throw named("RangeError");
        this.#put(op.key, { value: counterBytes(next), expiresAt: e?.expiresAt ?? null });
        return next;
      }
      case "batchSet":
        for (const [k, v] of op.entries) {
          this.#put(k, { value: Uint8Array.from(v), expiresAt: this.#expiry(op.ttl) });
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
          this.#remove(k);
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
        for (const s of op.steps) if (s.op === "set" || s.op === "delete") this.#written.add(s.key);
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
      case "getEntry": {
        const e = this.#live(op.key);
        return {
          value: show(e?.value) ?? null,
          expiresAt: e?.expiresAt ?? null,
          versionstamp: e === undefined ? null : "ok",
        };
      }
      case "setIfAbsent":
        if (this.#live(op.key) !== undefined) return false;
        this.#put(op.key, { value: Uint8Array.from(op.value), expiresAt: this.#expiry(op.ttl) });
        return true;
      case "expire":
      case "persist": {
        if (op.op === "expire" && !(op.ttl > 0)) throw named("RangeError");
        const e = this.#live(op.key);
        if (e === undefined) return false;
        this.#put(op.key, {
          value: e.value,
          expiresAt: op.op === "expire" ? this.now + op.ttl : null,
        });
        return true;
      }
      case "count":
        return [...this.#data.keys()]
          .filter((k) => k.startsWith(op.prefix) && this.#live(k) !== undefined).length;
      case "deletePrefix": {
        let n = 0;
        for (const k of [...this.#data.keys()]) {
          if (!k.startsWith(op.prefix)) continue;
          if (this.#live(k) !== undefined) n++;
          this.#remove(k);
        }
        return n;
      }
      case "clear":
        for (const k of [...this.#data.keys()]) this.#remove(k);
        return undefined;
      case "atomic": {
        for (const c of op.checks) {
          // "current" reads the key's versionstamp just before the commit: it always holds.
          if (c.expect === "stale") return { ok: false };
          if (c.expect === "absent" && this.#live(c.key) !== undefined) return { ok: false };
        }
        const next = new Map<string, Entry | null>();
        for (const m of op.mutations) {
          if (m.type === "set") {
            next.set(m.key, { value: Uint8Array.from(m.value), expiresAt: this.#expiry(m.ttl) });
          } else if (m.type === "delete") next.set(m.key, null);
          else {
            const current = next.has(m.key) ? next.get(m.key) ?? undefined : this.#live(m.key);
            next.set(m.key, {
              value: counterBytes(this.#counter(m, current)),
              expiresAt: current?.expiresAt ?? null,
            });
          }
        }
        for (const [k, e] of next) e === null ? this.#remove(k) : this.#put(k, e);
        // What the commit left, as the runner reads it back.
        const left = [...next].filter(([, e]) => e !== null).map(([k, e]) => [k, show(e!.value)]);
        return { ok: true, versionstamp: "ok", left };
      }
    }
  }
}

/** The number in an 8-byte counter; throws like `decodeCounter`. */
function counterOf(value: Uint8Array): number {
  if (value.length !== 8) throw named("NotACounterError");
  const n = Number(new DataView(value.buffer, value.byteOffset, 8).getBigInt64(0));
  if (!Number.isSafeInteger(n)) throw named("RangeError");
  return n;
}

function counterBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, BigInt(n));
  return bytes;
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

/**
 * What the runner knows of versionstamps: the last one seen of each key, and the model, which
 * says whether a key was written since (then its versionstamp must have grown, else stayed).
 */
interface Stamps {
  model: Model;
  last: Map<string, string>;
}

/** "ok" when `stamp`, just read for `key`, fits what came before; else what is wrong. */
function judgeStamp(stamps: Stamps, key: string, stamp: string): string {
  const written = stamps.model.takeWritten(key);
  const last = stamps.last.get(key);
  stamps.last.set(key, stamp);
  if (!/^[0-9a-f]{20}$/.test(stamp)) return `versionstamp ${stamp} is not 20 hex digits`;
  if (last === undefined) return "ok";
  if (written && !(stamp > last)) return `written, but versionstamp ${stamp} is not above ${last}`;
  if (!written && stamp !== last) return `not written, but versionstamp ${last} became ${stamp}`;
  return "ok";
}

/** Runs `op` on `store` and returns its result in the model's shape. */
async function runOnStore(
  store: Store,
  clock: { now: number },
  op: Op,
  stamps: Stamps,
): Promise<unknown> {
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
      case "getEntry": {
        const e = await store.getEntry(op.key);
        if (e.key !== op.key) return { error: `getEntry answered for ${e.key}` };
        return {
          value: show(e.value ?? undefined) ?? null,
          expiresAt: e.expiresAt,
          versionstamp: e.versionstamp === null
            ? (stamps.model.takeWritten(op.key), null)
            : judgeStamp(stamps, op.key, e.versionstamp),
        };
      }
      case "setIfAbsent":
        return await store.setIfAbsent(op.key, Uint8Array.from(op.value), ttlOption(op.ttl));
      case "expire":
        return await store.expire(op.key, op.ttl);
      case "persist":
        return await store.persist(op.key);
      case "count":
        return await store.count(op.prefix);
      case "deletePrefix":
        return await store.deletePrefix(op.prefix);
      case "clear":
        return await store.clear();
      case "atomic": {
        let atomic = store.atomic();
        for (const c of op.checks) {
          const versionstamp = c.expect === "absent"
            ? null
            : c.expect === "stale"
            ? STALE_STAMP
            : (await store.getEntry(c.key)).versionstamp;
          atomic = atomic.check({ key: c.key, versionstamp });
        }
        for (const m of op.mutations) {
          if (m.type === "set") {
            atomic = atomic.set(m.key, Uint8Array.from(m.value), ttlOption(m.ttl));
          } else if (m.type === "delete") atomic = atomic.delete(m.key);
          else atomic = atomic[m.type](m.key, m.n);
        }
        const res = await atomic.commit();
        if (!res.ok) return res;
        // Every key the commit left has its versionstamp, above the key's earlier ones.
        const kept = new Map<string, boolean>();
        for (const m of op.mutations) kept.set(m.key, m.type !== "delete");
        const left: [string, string | undefined][] = [];
        let verdict = "ok";
        for (const [key, k] of kept) {
          if (!k) continue;
          const e = await store.getEntry(key);
          left.push([key, show(e.value ?? undefined)]);
          if (e.versionstamp !== res.versionstamp) {
            verdict = `${key} has ${e.versionstamp}, not ${res.versionstamp}`;
          } else {
            const v = judgeStamp(stamps, key, res.versionstamp);
            if (v !== "ok") verdict = `${key}: ${v}`;
          }
        }
        return { ok: true, versionstamp: verdict, left };
      }
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
  const stamps: Stamps = { model, last: new Map() };
  const clock = { now: model.now };
  const { store, dispose } = await options.open(() => clock.now);
  try {
    for (let index = 0; index < ops.length; index++) {
      const op = ops[index];
      const expected = model.apply(op);
      const actual = await runOnStore(store, clock, op, stamps);
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
