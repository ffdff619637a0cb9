/**
 * The sharded store: N independent shard backends behind one `StorageBackend`, routed by
 * `shardOf`, with a lock per shard, batches grouped by shard and run concurrently, scans
 * merged across shards in UTF-8 byte order, an optional LRU read cache and an expiry sweeper.
 *
 * @module
 */
import { StoreClosedError } from "../core/errors.ts";
import { type CacheStats, LruCache, type LruCacheOptions } from "../core/lru_cache.ts";
import { mergeLimited, mergePaged, mergeSorted } from "../core/_merge.ts";
import type { ShardBackend } from "../core/_shard_backend.ts";
import { TXN_HOST, type TxnHost } from "../core/_txn_host.ts";
import type { BatchEntries, ScanOptions, SetOptions, StorageBackend } from "../core/types.ts";
import {
  assertBy,
  assertKey,
  assertPrefix,
  assertValue,
  checkEntries,
  checkKeys,
  checkScanOptions,
  expiresAtOf,
} from "../core/validate.ts";
import { shardOf } from "./router.ts";

/** Statistics reported by {@linkcode Store.stats}. */
export interface StoreStats {
  /** Number of shards. */
  shards: number;
  /** Read-cache counters, or `undefined` when the cache is off. */
  cache: CacheStats | undefined;
  /** Expired rows removed by the background sweeper so far. */
  swept: number;
}

/**
 * A sharded store, as returned by `openStore`.
 *
 * @example
 * ```ts
 * import { openStore, type Store } from "@shardkv/shardkv";
 * const store: Store = await openStore("", { backend: "memory", shards: 4 });
 * store.shards; // 4
 * ```
 */
export interface Store extends StorageBackend {
  /** The store directory (empty for the memory backend). */
  readonly path: string;
  /** Number of shards. */
  readonly shards: number;
  /** Backend name: `"sqlite"`, `"deno-kv"`, `"memory"`, `"redis"` or `"custom"`. */
  readonly backend: string;
  /** Cache and sweeper counters. */
  stats(): StoreStats;
}

/** Schedules `fn` every `ms` without keeping the process alive; returns a canceller. */
export type Scheduler = (fn: () => void, ms: number) => () => void;

/** How a {@linkcode ShardedStore} is put together. */
export interface ShardedStoreInit {
  path: string;
  backend: string;
  shards: readonly ShardBackend[];
  now: () => number;
  cache?: LruCacheOptions | false;
  /** Runs the expiry sweeper; none when absent. */
  schedule?: Scheduler;
  /** Sweep period in ms (default 1000). */
  sweepInterval?: number;
}

const SWEEP_BATCH = 1000;
const ENTRIES_PAGE = 256;

export class ShardedStore implements Store {
  readonly path: string;
  readonly backend: string;
  readonly shards: number;
  #shards: readonly ShardBackend[];
  #now: () => number;
  #cache: LruCache | undefined;
  /** Bumped on every write to a shard, so a read that raced a write is not cached. */
  #epochs: number[];
  #closed = false;
  #closing: Promise<void> | undefined;
  #stopSweeper: (() => void) | undefined;
  #sweeping = false;
  #swept = 0;
  #host: TxnHost;

  constructor(init: ShardedStoreInit) {
    this.path = init.path;
    this.backend = init.backend;
    this.shards = init.shards.length;
    this.#shards = init.shards;
    this.#epochs = init.shards.map(() => 0);
    this.#now = init.now;
    this.#cache = init.cache ? new LruCache(init.cache) : undefined;
    this.#stopSweeper = init.schedule?.(() => void this.#sweep(), init.sweepInterval ?? 1000);
    this.#host = {
      route: (key) => shardOf(key, this.shards),
      lock: (i) => this.#shards[i].lock,
      backend: (i) => this.#shards[i],
      invalidate: (i, keys) => this.#invalidate(i, keys),
      now: this.#now,
      check: (op) => this.#check(op),
    };
  }

  [TXN_HOST](): TxnHost {
    return this.#host;
  }

  stats(): StoreStats {
    return { shards: this.shards, cache: this.#cache?.stats(), swept: this.#swept };
  }

  #check(operation: string): void {
    if (this.#closed) throw new StoreClosedError(operation);
  }

  #shard(key: string): number {
    return this.shards === 1 ? 0 : shardOf(key, this.shards);
  }

  #invalidate(i: number, keys: readonly string[]): void {
    if (this.#cache === undefined) return;
    this.#epochs[i]++;
    for (const key of keys) this.#cache.delete(key);
  }

  /** Runs a write on shard `i` (the shard takes its own lock), dropping cached reads of `keys` around it. */
  async #write<T>(i: number, keys: readonly string[], run: () => Promise<T>): Promise<T> {
    this.#invalidate(i, keys);
    try {
      return await run();
    } finally {
      this.#invalidate(i, keys);
    }
  }

  /** Groups items by the shard of their key, keeping their order within each shard. */
  #group<T>(items: readonly T[], keyOf: (item: T) => string): Map<number, T[]> {
    const groups = new Map<number, T[]>();
    for (const item of items) {
      const i = this.#shard(keyOf(item));
      const g = groups.get(i);
      if (g === undefined) groups.set(i, [item]);
      else g.push(item);
    }
    return groups;
  }

  /** Reads `keys` of shard `i` through the cache. */
  async #cachedGet(i: number, keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const now = this.#now();
    const out = new Map<string, Uint8Array>();
    const missing: string[] = [];
    for (const key of keys) {
      const hit = this.#cache!.lookup(key, now);
      if (hit === undefined) missing.push(key);
      else if (hit.value !== undefined) out.set(key, hit.value.slice());
    }
    if (missing.length > 0) await this.#fill(i, missing, out);
    return out;
  }

  /** The value of one key through the cache, without the batch path's allocations. */
  async #cachedGetOne(i: number, key: string): Promise<Uint8Array | undefined> {
    const hit = this.#cache!.lookup(key, this.#now());
    if (hit !== undefined) return hit.value?.slice();
    const out = new Map<string, Uint8Array>();
    await this.#fill(i, [key], out);
    return out.get(key);
  }

  /** Reads `keys` from shard `i` into `out`, caching them unless a write raced the read. */
  async #fill(i: number, keys: readonly string[], out: Map<string, Uint8Array>): Promise<void> {
    const epoch = this.#epochs[i];
    const found = await this.#shards[i].getEntries(keys);
    const fresh = this.#epochs[i] === epoch;
    for (const key of keys) {
      const e = found.get(key);
      if (fresh) this.#cache!.put(key, { value: e?.value, expiresAt: e?.expiresAt ?? null });
      if (e !== undefined) out.set(key, fresh ? e.value.slice() : e.value);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.#check("get");
    assertKey(key);
    const i = this.#shard(key);
    if (this.#cache === undefined) return await this.#shards[i].get(key);
    return await this.#cachedGetOne(i, key);
  }

  async set(key: string, value: Uint8Array, options?: SetOptions): Promise<void> {
    this.#check("set");
    assertKey(key);
    assertValue(value);
    expiresAtOf(options, this.#now);
    const i = this.#shard(key);
    await this.#write(i, [key], () => this.#shards[i].set(key, value, options));
  }

  async delete(key: string): Promise<boolean> {
    this.#check("delete");
    assertKey(key);
    const i = this.#shard(key);
    return await this.#write(i, [key], () => this.#shards[i].delete(key));
  }

  async exists(key: string): Promise<boolean> {
    this.#check("exists");
    assertKey(key);
    const i = this.#shard(key);
    if (this.#cache === undefined) return await this.#shards[i].exists(key);
    return (await this.#cachedGetOne(i, key)) !== undefined;
  }

  async ttl(key: string): Promise<number | undefined> {
    this.#check("ttl");
    assertKey(key);
    return await this.#shards[this.#shard(key)].ttl(key);
  }

  incr(key: string, by: number = 1): Promise<number> {
    return this.#add("incr", key, by);
  }

  decr(key: string, by: number = 1): Promise<number> {
    return this.#add("decr", key, by);
  }

  async #add(op: "incr" | "decr", key: string, by: number): Promise<number> {
    this.#check(op);
    assertKey(key);
    assertBy(by);
    const i = this.#shard(key);
    return await this.#write(i, [key], () => this.#shards[i][op](key, by));
  }

  async batchSet(entries: BatchEntries, options?: SetOptions): Promise<void> {
    this.#check("batchSet");
    const pairs = checkEntries(entries);
    expiresAtOf(options, this.#now);
    const groups = this.#group(pairs, (p) => p[0]);
    await Promise.all(
      Array.from(
        groups,
        ([i, group]) =>
          this.#write(i, group.map((p) => p[0]), () => this.#shards[i].batchSet(group, options)),
      ),
    );
  }

  async batchGet(keys: Iterable<string>): Promise<Map<string, Uint8Array>> {
    this.#check("batchGet");
    const list = checkKeys(keys);
    const groups = this.#group(list, (k) => k);
    const found = new Map(
      await Promise.all(
        Array.from(groups, async ([i, group]) =>
          [
            i,
            this.#cache === undefined
              ? await this.#shards[i].batchGet(group)
              : await this.#cachedGet(i, group),
          ] as const),
      ),
    );
    // Results follow the order of the requested keys.
    const out = new Map<string, Uint8Array>();
    for (const key of list) {
      const v = found.get(this.#shard(key))!.get(key);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  }

  async batchDelete(keys: Iterable<string>): Promise<number> {
    this.#check("batchDelete");
    const list = checkKeys(keys);
    const groups = this.#group(list, (k) => k);
    const counts = await Promise.all(
      Array.from(
        groups,
        ([i, group]) => this.#write(i, group, () => this.#shards[i].batchDelete(group)),
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async scan(prefix: string, options?: ScanOptions): Promise<Uint8Array[]> {
    const pairs = await this.#scanPairs("scan", prefix, options);
    return pairs.map((p) => p[1]);
  }

  async scanKeys(prefix: string, options?: ScanOptions): Promise<string[]> {
    this.#check("scanKeys");
    assertPrefix(prefix);
    const scan = checkScanOptions(options);
    const { limit, reverse } = scan;
    if (limit !== Infinity) {
      return await this.#limited(scan, (s, o) => s.scanKeys(prefix, o), (k) => k);
    }
    const lists = await Promise.all(this.#shards.map((s) => s.scanKeys(prefix, options)));
    return mergeSorted(lists, { keyOf: (k) => k, limit, reverse });
  }

  async scanKeysWithValues(
    prefix: string,
    options?: ScanOptions,
  ): Promise<Map<string, Uint8Array>> {
    return new Map(await this.#scanPairs("scanKeysWithValues", prefix, options));
  }

  async #scanPairs(
    op: string,
    prefix: string,
    options: ScanOptions | undefined,
  ): Promise<[string, Uint8Array][]> {
    this.#check(op);
    assertPrefix(prefix);
    const scan = checkScanOptions(options);
    const { limit, reverse } = scan;
    if (limit !== Infinity) {
      return await this.#limited(
        scan,
        async (s, o) => Array.from(await s.scanKeysWithValues(prefix, o)),
        (p) => p[0],
      );
    }
    const maps = await Promise.all(
      this.#shards.map((s) => s.scanKeysWithValues(prefix, options)),
    );
    return mergeSorted(maps.map((m) => Array.from(m)), { keyOf: (p) => p[0], limit, reverse });
  }

  /** A scan with a limit: each shard is read a chunk at a time, as the merge needs (see mergeLimited). */
  #limited<T>(
    scan: { after: string | undefined; reverse: boolean; limit: number },
    read: (s: ShardBackend, options: ScanOptions) => Promise<T[]>,
    keyOf: (item: T) => string,
  ): Promise<T[]> {
    const sources = this.#shards.map((s) => (after: string | undefined, limit: number) =>
      read(s, { after: after ?? scan.after, reverse: scan.reverse, limit })
    );
    return mergeLimited(sources, { keyOf, limit: scan.limit, reverse: scan.reverse });
  }

  entries(
    prefix: string,
    options?: ScanOptions,
  ): AsyncIterableIterator<[string, Uint8Array]> {
    this.#check("entries");
    assertPrefix(prefix);
    const scan = checkScanOptions(options);
    const sources = this.#shards.map((s) => async (after: string | undefined) => {
      this.#check("entries");
      const page = await s.scanKeysWithValues(prefix, {
        after: after ?? scan.after,
        reverse: scan.reverse,
        limit: Math.min(ENTRIES_PAGE, scan.limit),
      });
      return Array.from(page);
    });
    return mergePaged(sources, {
      keyOf: (p) => p[0],
      pageSize: Math.min(ENTRIES_PAGE, scan.limit),
      limit: scan.limit,
      reverse: scan.reverse,
    });
  }

  /** Removes expired rows shard by shard; overlapping runs are skipped. */
  async #sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      for (const s of this.#shards) {
        if (this.#closed) return;
        this.#swept += await s.sweep(SWEEP_BATCH);
      }
    } catch {
      // A failed sweep is retried on the next tick; reads already hide expired rows.
    } finally {
      this.#sweeping = false;
    }
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#stopSweeper?.();
      this.#cache?.clear();
      this.#closing = Promise.all(this.#shards.map((s) => s.close())).then(() => {});
    }
    return this.#closing;
  }
}
