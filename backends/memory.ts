/**
 * The `"memory"` backend: a shard held in a `Map` plus an ordered key index. Nothing touches
 * the disk; the data is gone on `close()`.
 *
 * @module
 */
import { BaseDriver, type Update } from "../core/base_driver.ts";
import {
  type Checks,
  type Driver,
  type Entry,
  isLive,
  matches,
  type RangeQuery,
  type RangeResult,
  type ShardTxn,
  type WriteOp,
} from "../core/driver.ts";
import { Engine } from "../core/engine.ts";
import { SortedKeys } from "./_sorted_keys.ts";
import type { StorageBackend } from "../core/types.ts";

/** Options of {@linkcode openMemoryBackend}. */
export interface MemoryBackendOptions {
  /** Clock in ms used for TTLs (default `Date.now`). */
  now?: () => number;
}

/**
 * Opens one in-memory shard. Values are copied in and out, so callers may reuse their buffers.
 *
 * @example
 * ```ts
 * import { openMemoryBackend } from "@shardkv/shardkv/memory";
 * const shard = await openMemoryBackend();
 * await shard.set("a", new Uint8Array([1]));
 * ```
 */
export function openMemoryBackend(
  options: MemoryBackendOptions = {},
): Promise<StorageBackend> {
  const now = options.now ?? Date.now;
  return Promise.resolve(
    new Engine({ path: "", backend: "memory", drivers: [new MemoryDriver(now)], now }),
  );
}

/**
 * Opens the driver of one in-memory shard, for `openStore`'s `backend` factory or a wrapper.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { openMemoryDriver } from "@shardkv/shardkv/memory";
 * const store = await openStore("./unused", { backend: () => openMemoryDriver(), shards: 2 });
 * ```
 */
export function openMemoryDriver(options: MemoryBackendOptions = {}): Promise<Driver> {
  return Promise.resolve(new MemoryDriver(options.now ?? Date.now));
}

class MemoryDriver extends BaseDriver {
  /** Every call takes effect before it returns. */
  readonly ordered = true;
  #data = new Map<string, Entry>();
  #index = new SortedKeys();
  /** Bumped by every write, for `changes()`. */
  #writes = 0;

  #readEntry(key: string): Entry | undefined {
    const e = this.#data.get(key);
    if (e === undefined) return undefined;
    if (isLive(e, this.now())) {
      return { value: e.value.slice(), expiresAt: e.expiresAt, version: e.version };
    }
    this.#remove(key);
    return undefined;
  }

  getEntry(key: string): Promise<Entry | undefined> {
    return Promise.resolve(this.#readEntry(key));
  }

  getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    for (const key of keys) {
      const e = this.#readEntry(key);
      if (e !== undefined) out.set(key, e);
    }
    return Promise.resolve(out);
  }

  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    this.check("write");
    if (checks !== undefined) {
      for (const [key, expected] of checks) {
        if (!matches(this.#readEntry(key), expected)) return Promise.resolve(false);
      }
    }
    this.#write(ops);
    return Promise.resolve(true);
  }

  #write(ops: readonly WriteOp[]): void {
    for (const op of ops) {
      if (op.value === undefined) this.#remove(op.key);
      else {
        const entry = { value: op.value.slice(), expiresAt: op.expiresAt ?? null };
        this.#put(op.key, entry, op.version);
      }
    }
  }

  /** One thread owns the data, and the engine's shard lock keeps its writers out meanwhile. */
  begin(keys: readonly string[]): Promise<ShardTxn> {
    this.check("write");
    const entries = new Map<string, Entry>();
    for (const key of keys) {
      const e = this.#readEntry(key);
      if (e !== undefined) entries.set(key, e);
    }
    return Promise.resolve({
      entries,
      commit: (ops) => {
        this.check("write");
        this.#write(ops);
        return Promise.resolve();
      },
      release: () => Promise.resolve(),
    });
  }

  changes(): Promise<number> {
    return Promise.resolve(this.#writes);
  }

  protected update<R>(key: string, fn: (current: Entry | undefined) => Update<R>): Promise<R> {
    const current = this.#data.get(key);
    const live = current !== undefined && isLive(current, this.now()) ? current : undefined;
    try {
      const { next, result } = fn(live);
      if (next === null) this.#remove(key);
      else if (next !== undefined) this.#put(key, next, next.version);
      return Promise.resolve(result);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  remove(keys: readonly string[]): Promise<number> {
    const now = this.now();
    let live = 0;
    for (const key of keys) {
      const e = this.#data.get(key);
      if (e === undefined) continue;
      if (isLive(e, now)) live++;
      this.#remove(key);
    }
    return Promise.resolve(live);
  }

  range(q: RangeQuery): Promise<RangeResult> {
    const now = this.now();
    const keys = this.#index.range(q, (k) => isLive(this.#data.get(k)!, now));
    if (q.keysOnly) return Promise.resolve({ keys, values: [] });
    const values = keys.map((k) => this.#data.get(k)!.value.slice());
    if (!q.withExpiry) return Promise.resolve({ keys, values });
    return Promise.resolve({
      keys,
      values,
      expiresAt: keys.map((k) => this.#data.get(k)!.expiresAt),
    });
  }

  sweep(max: number): Promise<number> {
    const now = this.now();
    let n = 0;
    for (const [key, e] of this.#data) {
      if (n >= max) break;
      if (!isLive(e, now)) {
        this.#remove(key);
        n++;
      }
    }
    return Promise.resolve(n);
  }

  protected closeBackend(): Promise<void> {
    this.#data.clear();
    this.#index = new SortedKeys();
    return Promise.resolve();
  }

  /** Stores `entry` with version max(`version`, previous + 1). */
  #put(key: string, entry: Entry, version: number | undefined): void {
    const previous = this.#data.get(key);
    if (previous === undefined) this.#index.add(key);
    entry.version = Math.max(version ?? 0, (previous?.version ?? 0) + 1);
    this.#data.set(key, entry);
    this.#writes++;
  }

  #remove(key: string): void {
    if (this.#data.delete(key)) {
      this.#index.delete(key);
      this.#writes++;
    }
  }
}
