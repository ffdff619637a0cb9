// Lets a user-supplied whole StorageBackend (the older shape of a custom backend) serve as a
// shard driver. The driver calls are built from its public methods, so `apply` (transaction
// commits) is only as atomic as the backend's own calls, and expired rows are left to the
// backend to purge. A custom backend that returns a Driver needs none of this.
import type { Checks, Driver, Entry, RangeQuery, RangeResult, WriteOp } from "../core/driver.ts";
import { matches } from "../core/driver.ts";
import type { StorageBackend } from "../core/types.ts";

export class CustomDriver implements Driver {
  #b: StorageBackend;
  #now: () => number;

  constructor(backend: StorageBackend, now: () => number) {
    this.#b = backend;
    this.#now = now;
  }

  async getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    await Promise.all(keys.map(async (key) => {
      const [value, ttl] = await Promise.all([this.#b.get(key), this.#b.ttl(key)]);
      if (value === undefined || ttl === undefined) return;
      out.set(key, { value, expiresAt: ttl === Infinity ? null : this.#now() + ttl });
    }));
    return out;
  }

  async range(q: RangeQuery): Promise<RangeResult> {
    const options = {
      after: q.after,
      reverse: q.reverse,
      limit: q.limit === Infinity ? undefined : q.limit,
    };
    if (q.keysOnly) return { keys: await this.#b.scanKeys(q.prefix, options), values: [] };
    const found = await this.#b.scanKeysWithValues(q.prefix, options);
    return { keys: Array.from(found.keys()), values: Array.from(found.values()) };
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
        const ttl = op.expiresAt == null ? undefined : Math.max(1, op.expiresAt - this.#now());
        await this.#b.set(op.key, op.value, { ttl });
      }
    }
    return true;
  }

  remove(keys: readonly string[]): Promise<number> {
    return this.#b.batchDelete(keys);
  }

  add(key: string, by: number): Promise<number> {
    return this.#b.incr(key, by);
  }

  sweep(): Promise<number> {
    return Promise.resolve(0);
  }

  close(): Promise<void> {
    return this.#b.close();
  }
}
