/**
 * The driver interface: the storage of one shard, and nothing else. The engine (what
 * `openStore` returns) validates arguments once, routes keys to shards, holds the shard locks,
 * runs transactions, caches, pages scans and converts TTLs; a driver only reads and writes
 * entries with absolute expiry times. Every built-in backend is a driver, and a custom one is
 * passed to `openStore` as `backend: (shardPath, shardIndex) => Promise<Driver>`.
 *
 * @module
 */
import { compareKeys, prefixEnd } from "./key_order.ts";

/** A stored value with its absolute expiry time (ms on the store clock), `null` for none. */
export interface Entry {
  /** The value bytes. */
  value: Uint8Array;
  /** When the entry expires (`now >= expiresAt`: gone), or `null`. */
  expiresAt: number | null;
  /**
   * The entry's version: a positive integer that grows with every write of the key (see
   * {@linkcode WriteOp.version}); `0` or absent from storage written before versions existed
   * or from a driver that keeps none.
   */
  version?: number;
}

/** One write of an atomic group: a set when `value` is present, else a delete. */
export interface WriteOp {
  /** The key written. */
  key: string;
  /** The new value; absent: delete the key. */
  value?: Uint8Array;
  /** The new expiry time of a set (`null` or absent: none). */
  expiresAt?: number | null;
  /**
   * The version the engine gives a set. A driver that keeps versions stores
   * `max(version, previous + 1)`, where `previous` is the version of the row it replaces (live
   * or expired, if it still holds it), so a key's version always grows, also when processes
   * with different clocks write it. Absent: the driver picks `previous + 1` (or 1).
   */
  version?: number;
}

/**
 * What a compare-and-set commit expects: per key, the live entry it must still hold (value,
 * expiry and, when both sides have one, version), or `null` when it must still be missing (or
 * expired).
 */
export type Checks = ReadonlyMap<string, Entry | null>;

/**
 * A key range in scan order: keys from `lo` (exclusive when `loExclusive`) up to `hi`
 * (exclusive), live entries only, at most `limit` of them, descending when `reverse`. `prefix`
 * and `after` say which scan the range came from.
 */
export interface RangeQuery {
  /** The scanned prefix. */
  prefix: string;
  /** The exclusive cursor of the scan, if any. */
  after: string | undefined;
  /** Lower bound, `undefined` for none. */
  lo: string | undefined;
  /** Whether `lo` itself is excluded. */
  loExclusive: boolean;
  /** Exclusive upper bound, `undefined` for none. */
  hi: string | undefined;
  /** Descending order. */
  reverse: boolean;
  /** At most this many keys (`Infinity`: no limit). */
  limit: number;
  /** Only keys are needed: `values` may stay empty. */
  keysOnly: boolean;
  /**
   * Also fill `expiresAt` with each key's expiry, read with its value (backup and reshard copy
   * value and expiry in one call per page). Ignored by a keys-only query.
   */
  withExpiry?: boolean;
}

/** Keys in scan order with their values (`values` stays empty for a keys-only query). */
export interface RangeResult {
  /** The keys, in scan order. */
  keys: string[];
  /** The values of `keys`, in the same order. */
  values: Uint8Array[];
  /**
   * The expiry times of `keys` (absolute ms, `null`: none), in the same order; filled when the
   * query asked `withExpiry` (a driver that leaves it out costs the engine one more read).
   */
  expiresAt?: (number | null)[];
}

/**
 * The storage of one shard. Keys and values reach it already validated; times are absolute ms
 * on the store clock; a key whose `expiresAt` is reached is invisible to every read.
 *
 * @example
 * ```ts
 * import { type Driver, type Entry, openStore } from "@shardkv/shardkv";
 * function open(driver: () => Promise<Driver>) {
 *   return openStore("./custom-store", { backend: () => driver() });
 * }
 * ```
 */
export interface Driver {
  /**
   * Optional: `true` when the driver applies calls in the order they are made, so that a read
   * sees every write called before it, also one that has not settled yet (a driver that runs
   * calls synchronously or queues them in order). Otherwise the engine holds a read (or a
   * write that reads first) back until the writes of its keys called before it have settled.
   */
  readonly ordered?: boolean;
  /** Live entries of `keys` (missing and expired keys are absent), read from one snapshot. */
  getEntries(keys: readonly string[]): Promise<Map<string, Entry>>;
  /** Optional fast path of `getEntries([key])`: the live entry of `key`, or `undefined`. */
  getEntry?(key: string): Promise<Entry | undefined>;
  /** Live keys (and values, and expiry times when asked) of a range. */
  range(query: RangeQuery): Promise<RangeResult>;
  /**
   * Applies every op, in order, as one atomic commit, provided every key of `checks` still
   * holds what it expects (checked atomically with the writes, against other processes too).
   * Resolves `false`, writing nothing, when a check fails.
   */
  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean>;
  /** Atomically deletes `keys`; resolves how many of them were live. */
  remove(keys: readonly string[]): Promise<number>;
  /**
   * Atomically adds `by` to the 8-byte big-endian counter at `key` (missing or expired: 0),
   * keeping its expiry, and resolves the new value (see `nextCounter` semantics: `RangeError`
   * outside the safe integers, `NotACounterError` for a value that is not 8 bytes). `version`
   * is as in {@linkcode WriteOp.version}.
   */
  add(key: string, by: number, version?: number): Promise<number>;
  /** Removes up to `max` expired entries; resolves how many were removed. */
  sweep(max: number): Promise<number>;
  /**
   * Optional: opens a write transaction that holds the shard's write lock against every other
   * writer (other processes and store instances too) and reads the live entries of `keys`
   * under it. The engine then calls exactly one of `commit` or `release`, and no write method
   * of this driver until it has (reads may arrive meanwhile: they see committed data only, as
   * `commit` writes and commits in one step). A cross-shard atomic commit begins every shard it
   * touches (in shard order) before it writes any; without `begin` it falls back to
   * compare-and-set `apply` calls, which other processes' writers can make it retry.
   */
  begin?(keys: readonly string[]): Promise<ShardTxn>;
  /**
   * Optional: a number that changes whenever the shard's data may have changed, by this or
   * another process (SQLite's `data_version` plus local commits). `watch` polls only shards
   * whose number moved; without it every poll reads the watched keys.
   */
  changes?(): Promise<number>;
  /** Flushes and releases the storage; called once, after every other call settled. */
  close(): Promise<void>;
}

/** A write transaction opened by {@linkcode Driver.begin}. */
export interface ShardTxn {
  /** The live entries of the keys passed to `begin`, read under the lock. */
  readonly entries: Map<string, Entry>;
  /** Applies `ops` (in order) as one atomic commit and releases the lock. */
  commit(ops: readonly WriteOp[]): Promise<void>;
  /** Releases the lock, writing nothing. */
  release(): Promise<void>;
}

/**
 * Where the engine records a cross-shard atomic commit while it applies it, so that a commit a
 * crash interrupted is rolled back (from the record's before-images) when the store next opens.
 * A record must survive the process once `write` resolves (and the machine too when the store
 * is opened with `durability: "full"`).
 */
export interface Journal {
  /** Stores `record` under `id`. */
  write(id: string, record: Uint8Array): Promise<void>;
  /** Removes the record `id` (no error when missing). */
  remove(id: string): Promise<void>;
  /** Every record left behind, by id. */
  list(): Promise<Map<string, Uint8Array>>;
  /**
   * Optional: keeps the record `id` (one this process wrote) but no longer as a commit in
   * flight, as if its writer had died: its commit failed half written and could not be undone,
   * so `list()` returns it and {@linkcode JournalState.stale} reports it for rollback.
   */
  release?(id: string): Promise<void>;
  /**
   * Optional: what a reader of several shards needs to never see a commit of another process
   * (or store object) half applied. The generation must be read before the records are looked
   * at, and `write` must change it after the record is stored and before it resolves: then a
   * reader that finds no record in flight, reads, and finds the same generation again saw no
   * shard write of a commit that started meanwhile. Without it, only this store object's own
   * commits are waited for.
   */
  state?(): Promise<JournalState>;
}

/** What {@linkcode Journal.state} reports. */
export interface JournalState {
  /** Changes whenever a record is written (compared with `===` only). */
  generation: string | number;
  /** A record of a live writer exists: a commit is in flight. */
  busy: boolean;
  /** A record of a writer that is gone exists: `list()` returns it for rollback. */
  stale: boolean;
}

/** Whether `entry` is live at `now`. */
export function isLive(entry: Entry, now: number): boolean {
  return entry.expiresAt === null || now < entry.expiresAt;
}

/** Whether the live entry `current` (`undefined`: missing) is what `expected` says. */
export function matches(current: Entry | undefined, expected: Entry | null): boolean {
  if (expected === null || current === undefined) {
    return expected === null && current === undefined;
  }
  if (current.expiresAt !== expected.expiresAt) return false;
  if (current.version && expected.version && current.version !== expected.version) return false;
  const a = current.value;
  const b = expected.value;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The range of a prefix scan with an optional exclusive `after` cursor. */
export function rangeOf(
  prefix: string,
  scan: { after: string | undefined; reverse: boolean; limit: number },
  keysOnly: boolean,
): RangeQuery {
  const end = prefixEnd(prefix);
  const q: RangeQuery = {
    prefix,
    after: scan.after,
    lo: prefix === "" ? undefined : prefix,
    loExclusive: false,
    hi: end,
    reverse: scan.reverse,
    limit: scan.limit,
    keysOnly,
  };
  const { after } = scan;
  if (after !== undefined) {
    if (!scan.reverse && compareKeys(after, prefix) >= 0) {
      q.lo = after;
      q.loExclusive = true;
    } else if (scan.reverse && (end === undefined || compareKeys(after, end) < 0)) {
      q.hi = after;
    }
  }
  return q;
}

/** Whether `x` looks like a {@linkcode Driver} (rather than a whole `StorageBackend`). */
export function isDriver(x: unknown): x is Driver {
  const d = x as Partial<Driver> | null;
  return typeof d?.getEntries === "function" && typeof d.range === "function" &&
    typeof d.apply === "function" && typeof d.remove === "function" &&
    typeof d.add === "function";
}
