/**
 * A custom backend: a `Driver` is only storage (read entries with their expiry and version,
 * scan a key range, apply a group of writes atomically if some keys still hold what they held,
 * delete, add to a counter, sweep, close). A version grows with every write of a key: the
 * engine proposes one and the driver keeps max(proposed, previous + 1); `getEntry`'s
 * versionstamps and `atomic()`'s checks are built on them. `openStore` puts the engine on top: validation, routing,
 * shard locks, transactions, the read cache, TTLs and merged scans. This one keeps each shard
 * in a `Map` with a sorted key list; `test/conformance_custom_test.ts` runs the conformance
 * suite (`@shardkv/shardkv/testing`) against it.
 *
 * Run: `deno run -A examples/custom_driver.ts` or `bun examples/custom_driver.ts`
 *
 * @module
 */
import process from "node:process";
import {
  type Checks,
  compareKeys,
  decodeCounter,
  type Driver,
  encodeCounter,
  type Entry,
  NotACounterError,
  openStore,
  type RangeQuery,
  type RangeResult,
  type WriteOp,
} from "../mod.ts";

/** Opens one shard of the map driver, on the store's clock. */
export function openMapDriver(now: () => number = Date.now): Promise<Driver> {
  return Promise.resolve(new MapDriver(now));
}

class MapDriver implements Driver {
  #rows = new Map<string, Entry>();
  /** Keys in UTF-8 byte order, for range scans. */
  #sorted: string[] = [];
  #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  #live(key: string): Entry | undefined {
    const e = this.#rows.get(key);
    return e === undefined || (e.expiresAt !== null && this.#now() >= e.expiresAt) ? undefined : e;
  }

  /** Index of the first key not below `key` (binary search). */
  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.#sorted[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #put(key: string, entry: Entry): void {
    const previous = this.#rows.get(key);
    if (previous === undefined) this.#sorted.splice(this.#lowerBound(key), 0, key);
    const version = Math.max(entry.version ?? 0, (previous?.version ?? 0) + 1);
    this.#rows.set(key, { value: entry.value.slice(), expiresAt: entry.expiresAt, version });
  }

  #delete(key: string): void {
    if (this.#rows.delete(key)) this.#sorted.splice(this.#lowerBound(key), 1);
  }

  getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    for (const key of keys) {
      const e = this.#live(key);
      if (e !== undefined) out.set(key, { ...e, value: e.value.slice() });
    }
    return Promise.resolve(out);
  }

  range(q: RangeQuery): Promise<RangeResult> {
    const start = q.lo === undefined ? 0 : this.#lowerBound(q.lo);
    const end = q.hi === undefined ? this.#sorted.length : this.#lowerBound(q.hi);
    const keys: string[] = [];
    const values: Uint8Array[] = [];
    const expiresAt: (number | null)[] = [];
    const step = q.reverse ? -1 : 1;
    for (let i = q.reverse ? end - 1 : start; i >= start && i < end; i += step) {
      const key = this.#sorted[i];
      if (q.loExclusive && key === q.lo) continue;
      const e = this.#live(key);
      if (e === undefined) continue;
      keys.push(key);
      if (!q.keysOnly) values.push(e.value.slice());
      if (q.withExpiry) expiresAt.push(e.expiresAt);
      if (keys.length >= q.limit) break;
    }
    return Promise.resolve(
      q.withExpiry && !q.keysOnly ? { keys, values, expiresAt } : { keys, values },
    );
  }

  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    // Everything below runs synchronously, so no other call of this shard interleaves.
    for (const [key, expected] of checks ?? []) {
      const e = this.#live(key);
      const same = expected === null ? e === undefined : e !== undefined &&
        e.expiresAt === expected.expiresAt && e.version === (expected.version ?? e.version) &&
        sameBytes(e.value, expected.value);
      if (!same) return Promise.resolve(false);
    }
    for (const op of ops) {
      if (op.value === undefined) this.#delete(op.key);
      else {
        this.#put(op.key, {
          value: op.value,
          expiresAt: op.expiresAt ?? null,
          version: op.version,
        });
      }
    }
    return Promise.resolve(true);
  }

  remove(keys: readonly string[]): Promise<number> {
    let live = 0;
    for (const key of keys) {
      if (this.#live(key) !== undefined) live++;
      this.#delete(key);
    }
    return Promise.resolve(live);
  }

  add(key: string, by: number, version?: number): Promise<number> {
    try {
      const e = this.#live(key);
      let n = 0;
      if (e !== undefined) {
        if (e.value.length !== 8) {
          throw new NotACounterError(`Key ${JSON.stringify(key)} holds ${e.value.length} bytes`);
        }
        n = decodeCounter(e.value);
      }
      const next = encodeCounter(n + by); // RangeError outside the safe integers
      this.#put(key, { value: next, expiresAt: e?.expiresAt ?? null, version });
      return Promise.resolve(n + by);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  sweep(max: number): Promise<number> {
    let removed = 0;
    for (const [key, e] of this.#rows) {
      if (removed >= max) break;
      if (e.expiresAt !== null && this.#now() >= e.expiresAt) {
        this.#delete(key);
        removed++;
      }
    }
    return Promise.resolve(removed);
  }

  close(): Promise<void> {
    this.#rows.clear();
    this.#sorted = [];
    return Promise.resolve();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

if (import.meta.main ?? process.argv[1]?.endsWith("custom_driver.ts")) {
  // A custom backend's shards live wherever the driver keeps them; the directory only holds
  // the manifest, which remembers that the store is "custom".
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "shardkv-custom-"));
  try {
    const store = await openStore(join(dir, "store"), {
      backend: () => openMapDriver(),
      shards: 4,
    });
    await store.set("greeting", new TextEncoder().encode("hello"));
    await store.incr("visits", 2);
    console.log(`backend: ${store.backend}, shards: ${store.shards}`);
    console.log(`greeting = ${new TextDecoder().decode(await store.get("greeting"))}`);
    console.log(`visits = ${await store.incr("visits")}`);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
