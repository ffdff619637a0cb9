// Lets a user-supplied StorageBackend serve as a shard. The extra primitives are built from
// its public methods, so `apply` (transaction commits) is only as atomic as the backend's
// own calls, and expired rows are left to the backend to purge.
import {
  type Checks,
  type Entry,
  matches,
  SHARD_BACKEND,
  type ShardBackend,
  type WriteOp,
} from "../core/_shard_backend.ts";
import { ShardLock } from "../core/shard_lock.ts";
import type { BatchEntries, ScanOptions, SetOptions, StorageBackend } from "../core/types.ts";

export class CustomShard implements ShardBackend {
  readonly [SHARD_BACKEND] = true as const;
  readonly lock: ShardLock = new ShardLock();
  #b: StorageBackend;
  readonly now: () => number;

  constructor(backend: StorageBackend, now: () => number) {
    this.#b = backend;
    this.now = now;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#b.get(key);
  }
  set(key: string, value: Uint8Array, options?: SetOptions): Promise<void> {
    return this.#locked(() => this.#b.set(key, value, options));
  }
  delete(key: string): Promise<boolean> {
    return this.#locked(() => this.#b.delete(key));
  }
  exists(key: string): Promise<boolean> {
    return this.#b.exists(key);
  }
  incr(key: string, by?: number): Promise<number> {
    return this.#locked(() => this.#b.incr(key, by));
  }
  decr(key: string, by?: number): Promise<number> {
    return this.#locked(() => this.#b.decr(key, by));
  }
  ttl(key: string): Promise<number | undefined> {
    return this.#b.ttl(key);
  }
  batchSet(entries: BatchEntries, options?: SetOptions): Promise<void> {
    return this.#locked(() => this.#b.batchSet(entries, options));
  }
  batchGet(keys: Iterable<string>): Promise<Map<string, Uint8Array>> {
    return this.#b.batchGet(keys);
  }
  batchDelete(keys: Iterable<string>): Promise<number> {
    return this.#locked(() => this.#b.batchDelete(keys));
  }
  scan(prefix: string, options?: ScanOptions): Promise<Uint8Array[]> {
    return this.#b.scan(prefix, options);
  }
  scanKeys(prefix: string, options?: ScanOptions): Promise<string[]> {
    return this.#b.scanKeys(prefix, options);
  }
  scanKeysWithValues(prefix: string, options?: ScanOptions): Promise<Map<string, Uint8Array>> {
    return this.#b.scanKeysWithValues(prefix, options);
  }
  entries(prefix: string, options?: ScanOptions): AsyncIterableIterator<[string, Uint8Array]> {
    return this.#b.entries(prefix, options);
  }
  close(): Promise<void> {
    return this.#b.close();
  }

  /** The inner backend reports its own closed state. */
  check(): void {}

  #locked<T>(run: () => Promise<T>): Promise<T> {
    return this.lock.with("write", run);
  }

  async getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    await Promise.all(keys.map(async (key) => {
      const [value, ttl] = await Promise.all([this.#b.get(key), this.#b.ttl(key)]);
      if (value === undefined || ttl === undefined) return;
      out.set(key, { value, expiresAt: ttl === Infinity ? null : this.now() + ttl });
    }));
    return out;
  }

  /** The checks are made before the writes, not atomically with them (see the README). */
  async apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    if (checks !== undefined && checks.size > 0) {
      const current = await this.getEntries([...checks.keys()]);
      for (const [key, expected] of checks) {
        // Expiry times are derived from ttl() here, so they drift by the ms between two reads.
        const e = current.get(key);
        if (!matches(e, expected && { ...expected, expiresAt: e?.expiresAt ?? null })) return false;
      }
    }
    for (const op of ops) {
      if (op.value === undefined) await this.#b.delete(op.key);
      else {
        const ttl = op.expiresAt == null ? undefined : Math.max(1, op.expiresAt - this.now());
        await this.#b.set(op.key, op.value, { ttl });
      }
    }
    return true;
  }

  sweep(): Promise<number> {
    return Promise.resolve(0);
  }
}
