/**
 * The `"memory"` backend: a shard held in a `Map` plus an ordered key index. Nothing touches
 * the disk; the data is gone on `close()`.
 *
 * @module
 */
import {
  BaseBackend,
  isLive,
  type RangeQuery,
  type RangeResult,
  type Update,
} from "../core/_base_backend.ts";
import { type Checks, type Entry, matches, type WriteOp } from "../core/_shard_backend.ts";
import { SortedKeys } from "../core/_sorted_keys.ts";
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
  return Promise.resolve(new MemoryBackend(options.now ?? Date.now));
}

class MemoryBackend extends BaseBackend {
  #data = new Map<string, Entry>();
  #index = new SortedKeys();

  protected readEntry(key: string): Entry | undefined {
    const e = this.#data.get(key);
    if (e === undefined) return undefined;
    if (isLive(e, this.now())) return { value: e.value.slice(), expiresAt: e.expiresAt };
    this.#remove(key);
    return undefined;
  }

  getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    for (const key of keys) {
      const e = this.readEntry(key);
      if (e !== undefined) out.set(key, e);
    }
    return Promise.resolve(out);
  }

  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    this.check("write");
    if (checks !== undefined) {
      for (const [key, expected] of checks) {
        if (!matches(this.readEntry(key), expected)) return Promise.resolve(false);
      }
    }
    for (const op of ops) {
      if (op.value === undefined) this.#remove(op.key);
      else this.#put(op.key, { value: op.value.slice(), expiresAt: op.expiresAt ?? null });
    }
    return Promise.resolve(true);
  }

  protected update<R>(key: string, fn: (current: Entry | undefined) => Update<R>): Promise<R> {
    const current = this.#data.get(key);
    const live = current !== undefined && isLive(current, this.now()) ? current : undefined;
    try {
      const { next, result } = fn(live);
      if (next === null) this.#remove(key);
      else if (next !== undefined) this.#put(key, next);
      return Promise.resolve(result);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  protected removeAll(keys: readonly string[]): Promise<number> {
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

  protected range(q: RangeQuery): Promise<RangeResult> {
    const now = this.now();
    const keys = this.#index.range(q, (k) => isLive(this.#data.get(k)!, now));
    const values = q.keysOnly ? [] : keys.map((k) => this.#data.get(k)!.value.slice());
    return Promise.resolve({ keys, values });
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

  #put(key: string, entry: Entry): void {
    if (!this.#data.has(key)) this.#index.add(key);
    this.#data.set(key, entry);
  }

  #remove(key: string): void {
    if (this.#data.delete(key)) this.#index.delete(key);
  }
}
