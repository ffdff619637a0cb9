/**
 * The engine: the whole `StorageBackend` API written once over N shard drivers. It validates
 * every call once, routes keys to shards, holds the shard locks, runs transactions (through
 * `TXN_HOST`), keeps the optional LRU read cache, converts TTLs to absolute expiry times, pages
 * and merges scans across shards in UTF-8 byte order, and sweeps expired entries. A bare
 * backend is the engine with one shard; `openStore` gives it N.
 *
 * @module
 */
import {
  type Driver,
  type Entry,
  type Journal,
  rangeOf,
  type RangeResult,
  type WriteOp,
} from "./driver.ts";
import { AtomicBuilder, type AtomicOperation, type KvEntry, versionstampOf } from "./atomic.ts";
import { commitAtomic, type CommitHost, recoverCommits } from "./_atomic_commit.ts";
import { type WatchEvent, WatchHub, type WatchOptions } from "./watch.ts";
import { StorageError, StoreClosedError } from "./errors.ts";
import { type CacheStats, LruCache, type LruCacheOptions } from "./lru_cache.ts";
import { mergeLimited, mergePaged, mergeSorted } from "./_merge.ts";
import { ShardLock } from "./shard_lock.ts";
import { WriteOrder } from "./_write_order.ts";
import { TXN_HOST, type TxnHost } from "./_txn_host.ts";
import type { BatchEntries, ScanOptions, SetOptions, StorageBackend } from "./types.ts";
import {
  assertBy,
  assertKey,
  assertPrefix,
  assertValue,
  checkEntries,
  checkKeys,
  checkScanOptions,
  describe,
  expiresAtOf,
  expiryAfter,
} from "./validate.ts";

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
 * A store, as returned by `openStore`.
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
  /**
   * Stores `value` under `key` only when `key` is missing or expired (Redis `SET NX`); `true`
   * when it was stored. Atomic against other processes too.
   */
  setIfAbsent(key: string, value: Uint8Array, options?: SetOptions): Promise<boolean>;
  /**
   * Makes `key` expire in `ttl` ms (a finite number > 0, else `RangeError`) without rewriting
   * its value; `false` when there is no such key.
   */
  expire(key: string, ttl: number): Promise<boolean>;
  /** Removes the TTL of `key`, keeping its value; `false` when there is no such key. */
  persist(key: string): Promise<boolean>;
  /** How many live keys start with `prefix`. */
  count(prefix: string): Promise<number>;
  /** Deletes every live key that starts with `prefix` (atomically per shard); returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** Deletes every key. */
  clear(): Promise<void>;
  /** `close()`, for `await using store = await openStore(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * The entry of `key`: value, versionstamp and expiry (`null`s when it is missing). A key's
   * versionstamp grows with every write of it, also by other processes.
   */
  getEntry(key: string): Promise<KvEntry>;
  /**
   * Starts an atomic commit: checks of versionstamps and mutations applied all or nothing, on
   * one shard or several, also against other processes and after a crash.
   */
  atomic(): AtomicOperation;
  /**
   * A stream of changes of `keys` (or of every key under `{ prefix }`), one event per change
   * from the moment of the call, including writes by other processes and store instances. It
   * ends when `signal` aborts or the store closes; a slow reader gets each key's newest change.
   */
  watch(
    target: readonly string[] | { prefix: string },
    options?: WatchOptions,
  ): ReadableStream<WatchEvent>;
}

/** Attempts of a compare-and-set key operation that loses to other writers. */
const CAS_ATTEMPTS = 100;

/** Schedules `fn` every `ms` without keeping the process alive; returns a canceller. */
export type Scheduler = (fn: () => void, ms: number) => () => void;

/** How an {@linkcode Engine} is put together. */
export interface EngineInit {
  path: string;
  backend: string;
  drivers: readonly Driver[];
  now: () => number;
  /** The shard of `key` among `shards` (unused with one shard). */
  route?: (key: string, shards: number) => number;
  cache?: LruCacheOptions | false;
  /** Runs the expiry sweeper; none when absent. */
  schedule?: Scheduler;
  /** Sweep period in ms (default 1000). */
  sweepInterval?: number;
  /** Where multi-shard atomic commits are recorded while they apply; none: no crash rollback. */
  journal?: Journal;
  /** How often `watch` polls for other processes' writes and expiries, in ms (default 100). */
  watchInterval?: number;
  /**
   * How long a read of several shards waits for other processes' multi-shard commits in flight
   * (see `Journal.state`) before it rejects with `StorageError`, in ms (default 10 000).
   */
  journalWait?: number;
}

/** Default of {@linkcode EngineInit.journalWait}. */
const JOURNAL_WAIT = 10_000;

const SWEEP_BATCH = 1000;
const ENTRIES_PAGE = 256;

export class Engine implements Store {
  readonly path: string;
  readonly backend: string;
  readonly shards: number;
  #drivers: readonly Driver[];
  #locks: ShardLock[];
  #route: (key: string, shards: number) => number;
  #now: () => number;
  #cache: LruCache | undefined;
  /** Bumped on every write to a shard, so a read that raced a write is not cached. */
  #epochs: number[];
  /**
   * Per shard, the writes a read must not overtake: those called earlier and still in flight
   * that the driver itself would not order before the read (see `Driver.ordered`).
   */
  #order: WriteOrder[];
  /** Per shard, whether its driver applies calls in the order they are made. */
  #ordered: boolean[];
  #closed = false;
  #closing: Promise<void> | undefined;
  #stopSweeper: (() => void) | undefined;
  #sweeping = false;
  #swept = 0;
  #host: TxnHost;
  #commits: CommitHost;
  /** The newest version this store gave (a hybrid clock: store time in ms × 1024, then +1). */
  #lastVersion = 0;
  /** Multi-shard commits writing right now, and a counter bumped as each starts and ends. */
  #gates = 0;
  #gateEpoch = 0;
  #gateWaiters: (() => void)[] = [];
  #journal: Journal | undefined;
  #journalWait: number;
  /** A journal generation found with no commit in flight (see `#consistent`). */
  #quiet: string | number | undefined;
  /** The rollback of dead writers' commits a reader started, while it runs. */
  #recovering: Promise<number> | undefined;
  #watch: WatchHub;

  constructor(init: EngineInit) {
    this.path = init.path;
    this.backend = init.backend;
    this.shards = init.drivers.length;
    this.#drivers = init.drivers;
    this.#locks = init.drivers.map(() => new ShardLock());
    this.#order = init.drivers.map(() => new WriteOrder());
    this.#ordered = init.drivers.map((d) => d.ordered === true);
    this.#epochs = init.drivers.map(() => 0);
    this.#route = init.route ?? (() => 0);
    this.#now = init.now;
    this.#cache = init.cache ? new LruCache(init.cache) : undefined;
    this.#stopSweeper = init.schedule?.(() => void this.#sweep(), init.sweepInterval ?? 1000);
    this.#journal = init.journal;
    this.#journalWait = init.journalWait ?? JOURNAL_WAIT;
    this.#host = {
      route: (key) => this.#shard(key),
      lock: (i) => this.#locks[i],
      backend: (i) => this.#drivers[i],
      invalidate: (i, keys) => this.#invalidate(i, keys),
      written: (i, keys) => this.#written(i, keys),
      now: this.#now,
      check: (op) => this.#check(op),
      version: () => this.#version(),
    };
    this.#commits = {
      shardOf: (key) => this.#shard(key),
      driver: (i) => this.#drivers[i],
      lock: (i) => this.#locks[i],
      version: () => this.#version(),
      journal: init.journal,
      invalidate: (i, keys) => this.#invalidate(i, keys),
      written: (i, keys) => this.#written(i, keys),
      gate: (run) => this.#gated(run),
    };
    this.#watch = new WatchHub({
      shards: this.shards,
      shardOf: (key) => this.#shard(key),
      read: (i, keys) => this.#drivers[i].getEntries(keys),
      range: (i, prefix) =>
        this.#drivers[i].range(
          rangeOf(prefix, { after: undefined, reverse: false, limit: Infinity }, false),
        ),
      changes: async (i) => await this.#drivers[i].changes?.(),
      version: () => this.#lastVersion,
    }, init.watchInterval ?? 100);
  }

  /** A new version: greater than every earlier one of this store, close to its clock. */
  #version(): number {
    const t = Math.floor(this.#now()) * 1024;
    this.#lastVersion = t > this.#lastVersion ? t : this.#lastVersion + 1;
    return this.#lastVersion;
  }

  /** Runs the writes of a multi-shard commit while multi-shard reads wait. */
  async #gated<T>(run: () => Promise<T>): Promise<T> {
    this.#gates++;
    this.#gateEpoch++;
    try {
      return await run();
    } finally {
      this.#gates--;
      this.#gateEpoch++;
      if (this.#gates === 0) { for (const wake of this.#gateWaiters.splice(0)) wake(); }
    }
  }

  /**
   * Runs a read of several shards (the first is `shard`) so that it sees no multi-shard commit
   * half applied: none of this store object (the gate), nor, with a journal that has `state`,
   * of other processes and store objects. The read counts when the journal's generation after
   * it is one that an earlier look found with no commit in flight (see `Journal.state`: a
   * commit that starts after that look moves the generation before it writes any shard); the
   * last such generation is kept, so a read costs one look while nothing is written. Commits of
   * writers that died are rolled back first (as `openStore` does). After `journalWait` ms of
   * other writers' commits in flight the read gives up with a `StorageError`.
   */
  async #consistent<T>(read: () => Promise<T>, shard: number): Promise<T> {
    const journal = this.#journal?.state === undefined ? undefined : this.#journal;
    let since: number | undefined;
    const waited = (): void => {
      since ??= Date.now();
      if (Date.now() - since < this.#journalWait) return;
      throw new StorageError(
        `multi-shard commits of other processes or store objects were in flight for over ` +
          `${this.#journalWait} ms (a writer that is alive but does not finish?); the read was ` +
          `not made: retry it`,
        { shard, path: this.path },
      );
    };
    for (let attempt = 0;; attempt++) {
      while (this.#gates > 0) await new Promise<void>((r) => this.#gateWaiters.push(r));
      const epoch = this.#gateEpoch;
      let quiet = this.#quiet;
      if (journal !== undefined && quiet === undefined) {
        const before = await journal.state!();
        if (before.busy || before.stale) {
          if (before.stale && (await this.#recoverForReaders()) > 0) continue;
          waited();
          await pause(attempt);
          continue;
        }
        quiet = this.#quiet = before.generation;
      }
      const out = await read();
      if (epoch !== this.#gateEpoch) continue;
      if (journal === undefined) return out;
      const after = await journal.state!();
      this.#quiet = after.busy || after.stale ? undefined : after.generation;
      if (after.generation === quiet) return out;
      waited();
    }
  }

  /** Rolls back dead writers' commits for a reader; one run at a time. */
  #recoverForReaders(): Promise<number> {
    this.#recovering ??= this.#gated(() => recoverCommits(this.#commits)).finally(() => {
      this.#recovering = undefined;
    });
    return this.#recovering;
  }

  /**
   * Rolls back the multi-shard commits a crash interrupted (see `Journal`); `openStore` calls it
   * before handing out the store. Resolves how many there were.
   */
  recoverCommits(): Promise<number> {
    return recoverCommits(this.#commits);
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
    return this.shards === 1 ? 0 : this.#route(key, this.shards);
  }

  /** Drops cached reads of `keys` (before a write too: nothing is cached while it runs). */
  #invalidate(i: number, keys: readonly string[]): void {
    if (this.#cache === undefined) return;
    this.#epochs[i]++;
    for (const key of keys) this.#cache.delete(key);
  }

  /**
   * After a write of `keys` on shard `i` (applied or failed): drops cached reads and tells
   * watchers. Not before it: a watcher reading then could report the old state as a change.
   */
  #written(i: number, keys: readonly string[]): void {
    this.#invalidate(i, keys);
    if (this.#watch.size > 0) this.#watch.touched(keys);
  }

  /**
   * Runs a write on shard `i` under its lock in "write" mode (so it never lands inside a
   * transaction), dropping cached reads of `keys` around it. A write waits first for the writes
   * of its keys in flight that the driver does not order before it (`#order`): a write of
   * `"several"` steps (a read, then a compare-and-set) is always one of those, so no later write
   * of its keys lands between its steps, and its read sees every earlier write of them. Writes
   * of other keys go on meanwhile. The lock is taken and released
   * here rather than through `ShardLock.with`, and with `then` rather than `await`: this is
   * every single-key write's path, and an uncontended write then costs one promise of its own.
   */
  #write<T>(
    i: number,
    keys: readonly string[],
    run: (d: Driver) => Promise<T>,
    steps: "one" | "several" = "one",
  ): Promise<T> {
    this.#invalidate(i, keys);
    const lock = this.#locks[i];
    // A write that reads first waits for every earlier write of its keys, as a read would.
    const prior = this.#priorWrites(i, keys, steps === "several");
    const now = prior === undefined && lock.tryAcquire("write");
    // A write the driver gets now, in one call, is ordered by a driver that orders its calls.
    // One that reads first holds later writes of its keys back until it settles; one that
    // waits, until it reaches the driver.
    const order = this.#order[i];
    const settled = now && steps === "one" && this.#ordered[i]
      ? undefined
      : order.begin(keys, steps === "several");
    const held = prior !== undefined && steps === "one" ? order.hold(keys) : undefined;
    const go = (): Promise<T> => {
      held?.();
      let running: Promise<T>;
      try {
        running = run(this.#drivers[i]);
      } catch (e) {
        running = Promise.reject(e);
      }
      if (!(running instanceof Promise)) running = Promise.resolve(running);
      return running.then((value) => {
        lock.release();
        this.#written(i, keys);
        settled?.();
        return value;
      }, (error) => {
        lock.release();
        this.#written(i, keys);
        settled?.();
        throw error;
      });
    };
    if (now) return go();
    return prior === undefined
      ? lock.acquire("write").then(go)
      : prior.then(() => lock.acquire("write")).then(go);
  }

  /**
   * The writes of `keys` on shard `i` in flight that a new write of them waits for: the
   * blocking ones, or with `all` (a write that reads first) every tracked one.
   */
  #priorWrites(i: number, keys: readonly string[], all: boolean): Promise<unknown> | undefined {
    const order = this.#order[i];
    let waits: Promise<unknown>[] | undefined;
    for (const key of keys) {
      const w = order.beforeKey(key, !all);
      if (w !== undefined) (waits ??= []).push(w);
    }
    if (waits === undefined || this.#transacting()) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits);
  }

  /**
   * Whether a transaction holds or waits for a shard lock of this store. Its body runs the
   * caller's code, which may call the store while writes wait for the transaction (directly, or
   * behind an atomic commit that waits for it): meanwhile calls do not wait for earlier writes,
   * or such a call could wait for itself.
   */
  #transacting(): boolean {
    for (const lock of this.#locks) if (lock.transactions > 0) return true;
    return false;
  }

  /**
   * Resolves once the writes of `key` called earlier on shard `i` that the driver does not order
   * before a read have settled; `undefined` when there are none (the common case: no promise).
   */
  #earlier(i: number, key: string): Promise<unknown> | undefined {
    const w = this.#order[i].beforeKey(key);
    return w === undefined || this.#transacting() ? undefined : w;
  }

  /** As `#earlier`, for every key of `groups` (keys by shard). */
  #earlierKeys(groups: ReadonlyMap<number, readonly string[]>): Promise<unknown> | undefined {
    let waits: Promise<unknown>[] | undefined;
    for (const [i, keys] of groups) {
      const w = this.#priorWrites(i, keys, true);
      if (w !== undefined) (waits ??= []).push(w);
    }
    return waits === undefined ? undefined : Promise.all(waits);
  }

  /** Resolves once every write called earlier on the shards in `shards` has settled. */
  #earlierAll(shards: Iterable<number>): Promise<unknown> | undefined {
    let waits: Promise<unknown>[] | undefined;
    for (const i of shards) {
      const w = this.#order[i].before();
      if (w !== undefined) (waits ??= []).push(w);
    }
    return waits === undefined || this.#transacting() ? undefined : Promise.all(waits);
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

  /**
   * The live entry of `key` on shard `i`, without the cache. Not `async`: callers are, and a
   * driver's synchronous throw becomes their rejection.
   */
  #entry(i: number, key: string): Promise<Entry | undefined> {
    const d = this.#drivers[i];
    if (d.getEntry !== undefined) return d.getEntry(key);
    return d.getEntries([key]).then((found) => found.get(key));
  }

  /** Values of `keys` (all on shard `i`), through the cache when there is one. */
  async #values(i: number, keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    if (this.#cache === undefined) {
      const found = await this.#drivers[i].getEntries(keys);
      for (const [key, e] of found) out.set(key, e.value);
      return out;
    }
    const now = this.#now();
    const missing: string[] = [];
    for (const key of keys) {
      const hit = this.#cache.lookup(key, now);
      if (hit === undefined) missing.push(key);
      else if (hit.value !== undefined) out.set(key, hit.value.slice());
    }
    if (missing.length > 0) await this.#fill(i, missing, out);
    return out;
  }

  /** The value of one key, through the cache when there is one, without the batch path's maps. */
  async #value(i: number, key: string): Promise<Uint8Array | undefined> {
    if (this.#cache === undefined) return (await this.#entry(i, key))?.value;
    const hit = this.#cache.lookup(key, this.#now());
    if (hit !== undefined) return hit.value?.slice();
    const out = new Map<string, Uint8Array>();
    await this.#fill(i, [key], out);
    return out.get(key);
  }

  /** Reads `keys` from shard `i` into `out`, caching them unless a write raced the read. */
  async #fill(i: number, keys: readonly string[], out: Map<string, Uint8Array>): Promise<void> {
    const epoch = this.#epochs[i];
    const found = await this.#drivers[i].getEntries(keys);
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
    const earlier = this.#earlier(i, key);
    if (earlier !== undefined) await earlier;
    // Without a cache, straight to the driver: one async frame fewer on the hottest read.
    if (this.#cache === undefined) return (await this.#entry(i, key))?.value;
    return await this.#value(i, key);
  }

  async exists(key: string): Promise<boolean> {
    this.#check("exists");
    assertKey(key);
    const i = this.#shard(key);
    const earlier = this.#earlier(i, key);
    if (earlier !== undefined) await earlier;
    return (await this.#value(i, key)) !== undefined;
  }

  async ttl(key: string): Promise<number | undefined> {
    this.#check("ttl");
    assertKey(key);
    const i = this.#shard(key);
    const earlier = this.#earlier(i, key);
    if (earlier !== undefined) await earlier;
    const e = await this.#entry(i, key);
    if (e === undefined) return undefined;
    return e.expiresAt === null ? Infinity : Math.max(0, e.expiresAt - this.#now());
  }

  async set(key: string, value: Uint8Array, options?: SetOptions): Promise<void> {
    this.#check("set");
    assertKey(key);
    assertValue(value);
    const expiresAt = expiresAtOf(options, this.#now);
    const version = this.#version();
    await this.#write(
      this.#shard(key),
      [key],
      (d) => d.apply([{ key, value, expiresAt, version }]),
    );
  }

  async delete(key: string): Promise<boolean> {
    this.#check("delete");
    assertKey(key);
    return (await this.#write(this.#shard(key), [key], (d) => d.remove([key]))) === 1;
  }

  incr(key: string, by: number = 1): Promise<number> {
    return this.#add("incr", key, by, 1);
  }

  decr(key: string, by: number = 1): Promise<number> {
    return this.#add("decr", key, by, -1);
  }

  async #add(op: string, key: string, by: number, sign: 1 | -1): Promise<number> {
    this.#check(op);
    assertKey(key);
    assertBy(by);
    const i = this.#shard(key);
    // A driver that does not order its calls may read, then compare-and-set (redis, deno-kv).
    return await this.#write(
      i,
      [key],
      (d) => d.add(key, sign * by, this.#version()),
      this.#ordered[i] ? "one" : "several",
    );
  }

  async batchSet(entries: BatchEntries, options?: SetOptions): Promise<void> {
    this.#check("batchSet");
    const pairs = checkEntries(entries);
    const expiresAt = expiresAtOf(options, this.#now);
    const groups = this.#group(pairs, (p) => p[0]);
    const version = this.#version();
    await Promise.all(
      Array.from(groups, ([i, group]) => {
        const ops: WriteOp[] = group.map(([key, value]) => ({ key, value, expiresAt, version }));
        return this.#write(i, group.map((p) => p[0]), (d) => d.apply(ops));
      }),
    );
  }

  async batchGet(keys: Iterable<string>): Promise<Map<string, Uint8Array>> {
    this.#check("batchGet");
    const list = checkKeys(keys);
    const groups = this.#group(list, (k) => k);
    const earlier = this.#earlierKeys(groups);
    if (earlier !== undefined) await earlier;
    const read = () => Promise.all(Array.from(groups, ([i, group]) => this.#values(i, group)));
    const found = groups.size > 1
      ? await this.#consistent(read, groups.keys().next().value!)
      : await read();
    const merged = found.length === 1 ? found[0] : new Map(found.flatMap((m) => Array.from(m)));
    // Results follow the order of the requested keys.
    const out = new Map<string, Uint8Array>();
    for (const key of list) {
      const v = merged.get(key);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  }

  async batchDelete(keys: Iterable<string>): Promise<number> {
    this.#check("batchDelete");
    const list = checkKeys(keys);
    const groups = this.#group(list, (k) => k);
    const counts = await Promise.all(
      Array.from(groups, ([i, group]) => this.#write(i, group, (d) => d.remove(group))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async scan(prefix: string, options?: ScanOptions): Promise<Uint8Array[]> {
    return (await this.#scan("scan", prefix, options, false)).values;
  }

  async scanKeys(prefix: string, options?: ScanOptions): Promise<string[]> {
    return (await this.#scan("scanKeys", prefix, options, true)).keys;
  }

  async scanKeysWithValues(
    prefix: string,
    options?: ScanOptions,
  ): Promise<Map<string, Uint8Array>> {
    const { keys, values } = await this.#scan("scanKeysWithValues", prefix, options, false);
    const out = new Map<string, Uint8Array>();
    for (let i = 0; i < keys.length; i++) out.set(keys[i], values[i]);
    return out;
  }

  /** One range over every shard, merged in scan order; `limit` applies to the merged result. */
  async #scan(
    op: string,
    prefix: string,
    options: ScanOptions | undefined,
    keysOnly: boolean,
  ): Promise<RangeResult> {
    this.#check(op);
    assertPrefix(prefix);
    const scan = checkScanOptions(options);
    const q = rangeOf(prefix, scan, keysOnly);
    const earlier = this.#earlierAll(this.#order.keys());
    if (earlier !== undefined) await earlier;
    if (this.#drivers.length > 1 && scan.limit !== Infinity) {
      // A page costs about a page of rows: each shard is read a chunk at a time, as the merge
      // needs its next key (mergeLimited), rather than `limit` rows from every shard.
      const sources = this.#drivers.map((d) => async (after: string | undefined, limit: number) => {
        const r = await d.range(
          after === undefined
            ? { ...q, limit }
            : rangeOf(prefix, { after, reverse: scan.reverse, limit }, keysOnly),
        );
        return r.keys.map((key, i) => ({ key, i, r }));
      });
      const merged = await this.#consistent(() =>
        mergeLimited(sources, {
          keyOf: (x) => x.key,
          limit: scan.limit,
          reverse: scan.reverse,
        }), 0);
      return resultOf(merged, keysOnly);
    }
    if (this.#drivers.length === 1) return await this.#drivers[0].range(q);
    const results = await this.#consistent(
      () => Promise.all(this.#drivers.map((d) => d.range(q))),
      0,
    );
    const lists = results.map((r) => r.keys.map((key, i) => ({ key, i, r })));
    const merged = mergeSorted(lists, {
      keyOf: (x) => x.key,
      limit: scan.limit,
      reverse: scan.reverse,
    });
    return resultOf(merged, keysOnly);
  }

  entries(
    prefix: string,
    options?: ScanOptions,
  ): AsyncIterableIterator<[string, Uint8Array]> {
    return this.#paged(prefix, options, undefined, (page, i) => [page.keys[i], page.values[i]]);
  }

  /**
   * Every live entry that starts with `prefix`, in key order, with its absolute expiry read in
   * the same driver call as its value (one call per page and shard). Expiry times are on
   * `clock` (default: the store's): a different clock gets each remaining TTL added to its
   * reading for the page. Not part of `Store`: backup and reshard copy stores with it.
   */
  records(prefix: string, clock: () => number = this.#now): AsyncIterableIterator<[string, Entry]> {
    return this.#paged(prefix, undefined, clock, (page, i) => [
      page.keys[i],
      { value: page.values[i], expiresAt: page.expiresAt![i] },
    ]);
  }

  /**
   * Pages of every shard's range, merged in scan order; `item` builds one element. With a
   * `clock`, pages carry expiry times on that clock.
   */
  #paged<T extends [string, unknown]>(
    prefix: string,
    options: ScanOptions | undefined,
    clock: (() => number) | undefined,
    item: (page: RangeResult, i: number) => T,
  ): AsyncIterableIterator<T> {
    const withExpiry = clock !== undefined;
    this.#check("entries");
    assertPrefix(prefix);
    const scan = checkScanOptions(options);
    const pageSize = Math.min(ENTRIES_PAGE, scan.limit);
    // Pages are read as the caller iterates, but after the writes called before this call.
    const earlier = this.#earlierAll(this.#order.keys());
    const sources = this.#drivers.map((d) => async (after: string | undefined) => {
      if (earlier !== undefined) await earlier;
      this.#check("entries");
      const q = rangeOf(
        prefix,
        { after: after ?? scan.after, reverse: scan.reverse, limit: pageSize },
        false,
      );
      if (withExpiry) q.withExpiry = true;
      let page = await d.range(q);
      if (withExpiry && page.expiresAt === undefined) page = await withEntries(d, page);
      if (clock !== undefined && clock !== this.#now) {
        const shift = clock() - this.#now();
        page.expiresAt = page.expiresAt!.map((x) => x === null ? null : x + shift);
      }
      return page.keys.map((_, i) => item(page, i));
    });
    return mergePaged(sources, {
      keyOf: (p) => p[0],
      pageSize,
      limit: scan.limit,
      reverse: scan.reverse,
    });
  }

  async setIfAbsent(key: string, value: Uint8Array, options?: SetOptions): Promise<boolean> {
    this.#check("setIfAbsent");
    assertKey(key);
    assertValue(value);
    const expiresAt = expiresAtOf(options, this.#now);
    const absent = new Map([[key, null]]);
    const version = this.#version();
    return await this.#write(
      this.#shard(key),
      [key],
      (d) => d.apply([{ key, value, expiresAt, version }], absent),
    );
  }

  async expire(key: string, ttl: number): Promise<boolean> {
    this.#check("expire");
    assertKey(key);
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0) {
      throw new RangeError(`ttl must be a finite number of ms > 0, received ${describe(ttl)}`);
    }
    const expiresAt = expiryAfter(this.#now(), ttl);
    return await this.#retime(key, () => expiresAt);
  }

  async persist(key: string): Promise<boolean> {
    this.#check("persist");
    assertKey(key);
    return await this.#retime(key, () => null);
  }

  /** Gives `key` a new expiry time, keeping its value: compare-and-set against other writers. */
  #retime(key: string, expiresAt: () => number | null): Promise<boolean> {
    const i = this.#shard(key);
    return this.#write(i, [key], async (d) => {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const e = (await d.getEntries([key])).get(key);
        if (e === undefined) return false;
        const op = { key, value: e.value, expiresAt: expiresAt(), version: this.#version() };
        if (await d.apply([op], new Map([[key, e]]))) return true;
      }
      throw new Error(
        `Changing the TTL of ${JSON.stringify(key)} lost to other writers ${CAS_ATTEMPTS} times`,
      );
    }, "several");
  }

  async count(prefix: string): Promise<number> {
    this.#check("count");
    assertPrefix(prefix);
    const q = rangeOf(prefix, { after: undefined, reverse: false, limit: Infinity }, true);
    const earlier = this.#earlierAll(this.#order.keys());
    if (earlier !== undefined) await earlier;
    const read = () => Promise.all(this.#drivers.map((d) => d.range(q)));
    const found = this.#drivers.length > 1 ? await this.#consistent(read, 0) : await read();
    return found.reduce((n, r) => n + r.keys.length, 0);
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.#check("deletePrefix");
    assertPrefix(prefix);
    const q = rangeOf(prefix, { after: undefined, reverse: false, limit: Infinity }, true);
    const counts = await Promise.all(this.#drivers.map((d, i) => {
      // After every write called before it (some may still wait for a write of several steps),
      // and under the shard lock, exclusively: none lands between the scan and the delete.
      const earlier = this.#earlierAll([i]);
      const settled = this.#order[i].begin();
      const run = () =>
        this.#locks[i].with("exclusive", async () => {
          const { keys } = await d.range(q);
          if (keys.length === 0) return 0;
          this.#invalidate(i, keys);
          try {
            return await d.remove(keys);
          } finally {
            this.#written(i, keys);
          }
        });
      return (earlier === undefined ? run() : earlier.then(run)).finally(settled);
    }));
    return counts.reduce((a, b) => a + b, 0);
  }

  async clear(): Promise<void> {
    this.#check("clear");
    await this.deletePrefix("");
    this.#cache?.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async getEntry(key: string): Promise<KvEntry> {
    this.#check("getEntry");
    assertKey(key);
    const i = this.#shard(key);
    const earlier = this.#earlier(i, key);
    if (earlier !== undefined) await earlier;
    const e = await this.#entry(i, key);
    if (e === undefined) return { key, value: null, versionstamp: null, expiresAt: null };
    return {
      key,
      value: e.value,
      versionstamp: versionstampOf(e.version ?? 0),
      expiresAt: e.expiresAt,
    };
  }

  atomic(): AtomicOperation {
    this.#check("atomic");
    return new AtomicBuilder(this.#now, (checks, mutations) => {
      this.#check("atomic");
      // Reads called after commit() see it: every shard it touches counts it as in flight.
      // It waits for the writes of its keys called before it that may still be waiting.
      const keys = this.#group([...checks.keys(), ...mutations.map((m) => m.key)], (k) => k);
      const prior = this.#earlierKeys(keys);
      const settled = Array.from(keys, ([i, group]) => this.#order[i].begin(group, true));
      const run = () => commitAtomic(this.#commits, checks, mutations);
      return (prior === undefined ? run() : prior.then(run)).finally(() => {
        for (const s of settled) s();
      });
    });
  }

  watch(
    target: readonly string[] | { prefix: string },
    options: WatchOptions = {},
  ): ReadableStream<WatchEvent> {
    this.#check("watch");
    let spec: { keys?: readonly string[]; prefix?: string };
    if (Array.isArray(target)) {
      for (const key of target) assertKey(key);
      spec = { keys: [...target] };
    } else if (typeof target === "object" && target !== null && "prefix" in target) {
      assertPrefix(target.prefix);
      spec = { prefix: target.prefix };
    } else {
      throw new TypeError(
        `watch takes an array of keys or { prefix }, received ${describe(target)}`,
      );
    }
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`signal must be an AbortSignal, received ${describe(signal)}`);
    }
    return this.#watch.watch(spec, signal);
  }

  /** Removes expired rows shard by shard; overlapping runs are skipped. */
  async #sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      for (let i = 0; i < this.#drivers.length; i++) {
        if (this.#closed) return;
        // Under the shard lock: never inside an atomic commit's open transaction.
        this.#swept += await this.#locks[i].with(
          "write",
          () => this.#drivers[i].sweep(SWEEP_BATCH),
        );
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
      this.#watch.close();
      this.#cache?.clear();
      // Writes called before close() that still wait for other writes go first (close() commits
      // what was called before it); then the drivers commit what they hold and close.
      const pending = this.#earlierAll(this.#order.keys());
      const closeDrivers = () => Promise.all(this.#drivers.map((d) => d.close())).then(() => {});
      this.#closing = pending === undefined ? closeDrivers() : pending.then(closeDrivers);
    }
    return this.#closing;
  }
}

/** A short jittered wait before looking at the journal again, longer as `attempt` grows. */
function pause(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.random() * Math.min(10, 1 + attempt)));
}

/**
 * A page of a driver that left out `expiresAt` (one built for an older interface), completed
 * with one `getEntries` read; keys gone since the range read are dropped.
 */
async function withEntries(d: Driver, page: RangeResult): Promise<RangeResult> {
  const found = await d.getEntries(page.keys);
  const out: RangeResult = { keys: [], values: [], expiresAt: [] };
  for (const key of page.keys) {
    const e = found.get(key);
    if (e === undefined) continue;
    out.keys.push(key);
    out.values.push(e.value);
    out.expiresAt!.push(e.expiresAt);
  }
  return out;
}

/** A merged scan's keys (and values, unless keys only), each row pointing into its shard's result. */
function resultOf(
  merged: readonly { key: string; i: number; r: RangeResult }[],
  keysOnly: boolean,
): RangeResult {
  return {
    keys: merged.map((x) => x.key),
    values: keysOnly ? [] : merged.map((x) => x.r.values[x.i]),
  };
}
