/**
 * The `StorageBackend` interface shared by every backend and by the sharded store.
 *
 * @module
 */

/** Options of a write. */
export interface SetOptions {
  /** Time to live in ms; `0` or absent: no expiry (and an earlier TTL is cleared). */
  ttl?: number;
}

/** Options of a scan. */
export interface ScanOptions {
  /** At most this many results (a positive integer), taken after merging all shards. */
  limit?: number;
  /** Exclusive cursor: resume after this key (before it when `reverse`). */
  after?: string;
  /** Descending UTF-8 byte order instead of ascending. */
  reverse?: boolean;
}

/** Entries accepted by `batchSet`: pairs or a plain record. */
export type BatchEntries =
  | Iterable<readonly [string, Uint8Array]>
  | Record<string, Uint8Array>;

/**
 * What every backend and the sharded store implement, so code written against one shard runs
 * unchanged against 64. Keys sort by their UTF-8 bytes; expired keys are invisible to every read.
 *
 * @example
 * ```ts
 * import { openStore, type StorageBackend } from "@shardkv/shardkv";
 * async function touch(kv: StorageBackend): Promise<number> {
 *   return await kv.incr("visits");
 * }
 * await touch(await openStore("", { backend: "memory" }));
 * ```
 */
export interface StorageBackend {
  /** The value of `key`, or `undefined` when it is missing or expired. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores `value` under `key`; without `ttl` an earlier TTL is cleared. */
  set(key: string, value: Uint8Array, options?: SetOptions): Promise<void>;
  /** Removes `key`; `true` when a live key was removed. */
  delete(key: string): Promise<boolean>;
  /** Whether `key` holds a live value. */
  exists(key: string): Promise<boolean>;
  /** Adds `by` (default 1) to the 8-byte big-endian counter at `key` and returns the new value. */
  incr(key: string, by?: number): Promise<number>;
  /** Subtracts `by` (default 1) from the counter at `key` and returns the new value. */
  decr(key: string, by?: number): Promise<number>;
  /** Ms left before `key` expires; `Infinity`: no expiry; `undefined`: no such key. */
  ttl(key: string): Promise<number | undefined>;

  /** Stores every entry: one transaction per shard; duplicate keys: the last one wins. */
  batchSet(entries: BatchEntries, options?: SetOptions): Promise<void>;
  /** The values of the keys that were found. */
  batchGet(keys: Iterable<string>): Promise<Map<string, Uint8Array>>;
  /** Removes every key; returns how many live keys were removed. */
  batchDelete(keys: Iterable<string>): Promise<number>;

  /** Values of the keys that start with `prefix`, in key order. */
  scan(prefix: string, options?: ScanOptions): Promise<Uint8Array[]>;
  /** Keys that start with `prefix`, in key order. */
  scanKeys(prefix: string, options?: ScanOptions): Promise<string[]>;
  /** Keys and values that start with `prefix`, in key order. */
  scanKeysWithValues(
    prefix: string,
    options?: ScanOptions,
  ): Promise<Map<string, Uint8Array>>;
  /** Streams the entries that start with `prefix`, in key order, a page at a time. */
  entries(
    prefix: string,
    options?: ScanOptions,
  ): AsyncIterableIterator<[string, Uint8Array]>;

  /** Flushes pending writes and releases the files; later calls reject with `StoreClosedError`. */
  close(): Promise<void>;
}

/** How hard a commit tries to reach the disk. */
export type Durability = "relaxed" | "normal" | "full";
