/**
 * Transaction helpers, the seed's ReadTxn / WriteTxn pattern. A transaction binds to the shard
 * of the first key it touches; a key of another shard throws `CrossShardTransactionError`.
 * Write transactions buffer their writes and commit them in one atomic backend call while
 * holding their shard's lock exclusively; the commit also checks that every key the transaction
 * read is unchanged, and runs the function again when another process or store instance changed
 * one, so transactions are serializable per shard across processes too.
 *
 * @module
 */
import {
  CrossShardTransactionError,
  TransactionConflictError,
  TransactionTimeoutError,
} from "./errors.ts";
import { type Entry, isLive, matches, type WriteOp } from "./driver.ts";
import type { LockMode } from "./shard_lock.ts";
import { hasTxnHost, TXN_HOST, type TxnHost } from "./_txn_host.ts";
import type { SetOptions, StorageBackend } from "./types.ts";
import { assertKey, assertValue, describe, expiresAtOf } from "./validate.ts";

/** Reads inside a transaction. */
export interface ReadTxn {
  /** The value of `key` as this transaction sees it. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Whether `key` holds a live value, as this transaction sees it. */
  exists(key: string): Promise<boolean>;
}

/** Reads and buffered writes inside a write transaction. */
export interface WriteTxn extends ReadTxn {
  /** Buffers a set; it commits when the transaction function resolves. */
  set(key: string, value: Uint8Array, options?: SetOptions): Promise<void>;
  /** Buffers a delete; `true` when the key was live (as this transaction sees it). */
  delete(key: string): Promise<boolean>;
}

/** Options of {@linkcode readTxn} and {@linkcode writeTxn}. */
export interface TxnOptions {
  /**
   * Ms after which an unsettled transaction is rolled back, its shard released and the call
   * rejected with `TransactionTimeoutError` (default {@linkcode DEFAULT_TXN_TIMEOUT}; `Infinity`: never).
   */
  timeout?: number;
}

/** Default transaction timeout in ms. */
export const DEFAULT_TXN_TIMEOUT = 5000;

/**
 * Runs `fn` on one consistent snapshot of a shard: no write lands on that shard meanwhile.
 *
 * @example
 * ```ts
 * import { existsKey, openStore, readTxn } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * const has = await readTxn(store, (txn) => existsKey(txn, "{user:1}:balance"));
 * ```
 */
export function readTxn<T>(
  store: StorageBackend,
  fn: (txn: ReadTxn) => T | Promise<T>,
  options?: TxnOptions,
): Promise<T> {
  return run(store, "read", fn, options);
}

/**
 * Runs `fn` and commits all of its writes at once when it resolves, none when it throws (the
 * error is rethrown). Reads inside see the transaction's own writes.
 *
 * @example
 * ```ts
 * import { decodeCounter, encodeCounter, getKey, openStore, setKey, writeTxn } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await writeTxn(store, async (txn) => {
 *   const old = await getKey(txn, "{user:1}:balance");
 *   await setKey(txn, "{user:1}:balance", encodeCounter((old ? decodeCounter(old) : 0) + 10));
 * });
 * ```
 */
export function writeTxn<T>(
  store: StorageBackend,
  fn: (txn: WriteTxn) => T | Promise<T>,
  options?: TxnOptions,
): Promise<T> {
  return run(store, "exclusive", fn, options);
}

/**
 * Reads `key` in a transaction.
 *
 * @example
 * ```ts
 * import { getKey, openStore, readTxn } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await readTxn(store, (txn) => getKey(txn, "a")); // undefined
 * ```
 */
export function getKey(txn: ReadTxn, key: string): Promise<Uint8Array | undefined> {
  return txn.get(key);
}

/**
 * Whether `key` is live in a transaction.
 *
 * @example
 * ```ts
 * import { existsKey, openStore, readTxn } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await readTxn(store, (txn) => existsKey(txn, "a")); // false
 * ```
 */
export function existsKey(txn: ReadTxn, key: string): Promise<boolean> {
  return txn.exists(key);
}

/**
 * Sets `key` in a write transaction.
 *
 * @example
 * ```ts
 * import { openStore, setKey, writeTxn } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await writeTxn(store, (txn) => setKey(txn, "a", new Uint8Array([1]), { ttl: 1000 }));
 * ```
 */
export function setKey(
  txn: WriteTxn,
  key: string,
  value: Uint8Array,
  options?: SetOptions,
): Promise<void> {
  return txn.set(key, value, options);
}

/**
 * Deletes `key` in a write transaction; `true` when it was live.
 *
 * @example
 * ```ts
 * import { deleteKey, openStore, writeTxn } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await writeTxn(store, (txn) => deleteKey(txn, "a")); // false
 * ```
 */
export function deleteKey(txn: WriteTxn, key: string): Promise<boolean> {
  return txn.delete(key);
}

function hostOf(store: StorageBackend): TxnHost {
  if (hasTxnHost(store)) return store[TXN_HOST]();
  throw new TypeError(
    `Transactions need a store from openStore() or a built-in backend, received ${describe(store)}`,
  );
}

/** Attempts of a transaction whose reads another process or store instance changed. */
const MAX_TXN_ATTEMPTS = 100;

async function run<T, X extends ReadTxn>(
  store: StorageBackend,
  mode: LockMode,
  fn: (txn: X) => T | Promise<T>,
  options: TxnOptions = {},
): Promise<T> {
  if (typeof fn !== "function") {
    throw new TypeError(`Transaction body must be a function, received ${describe(fn)}`);
  }
  const timeout = options.timeout ?? DEFAULT_TXN_TIMEOUT;
  if (typeof timeout !== "number" || !(timeout > 0)) {
    throw new RangeError(`timeout must be a positive number of ms, received ${describe(timeout)}`);
  }
  const host = hostOf(store);
  host.check(mode === "read" ? "readTxn" : "writeTxn");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    if (Number.isFinite(timeout)) {
      timer = setTimeout(() => reject(new TransactionTimeoutError(timeout)), timeout);
    }
  });
  expired.catch(() => {});
  try {
    // Optimistic across processes: the shard lock orders this store's transactions, and the
    // commit checks that every key read still holds what was read (atomically with the writes);
    // when another process or store instance changed one, `fn` runs again on fresh reads.
    for (let attempt = 1;; attempt++) {
      const txn = new Txn(host, mode);
      try {
        const result = await Promise.race([
          Promise.resolve().then(() => fn(txn as unknown as X)),
          expired,
        ]);
        if (await Promise.race([txn.commit(), expired])) return result;
        if (attempt >= MAX_TXN_ATTEMPTS) throw new TransactionConflictError(txn.reads);
      } catch (e) {
        throw txn.failure ?? e;
      } finally {
        txn.end();
      }
      // Backs off for a random while that grows with the attempts, so racing writers spread out.
      await Promise.race([
        new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 50))),
        expired,
      ]);
    }
  } finally {
    clearTimeout(timer);
  }
}

class Txn implements WriteTxn {
  #host: TxnHost;
  #mode: LockMode;
  #shard = -1;
  /** Resolves once the shard lock is held. */
  #locked: Promise<void> | undefined;
  /** Buffered writes: an entry to set, or `null` for a delete. */
  #writes = new Map<string, Entry | null>();
  /** What each key read from the shard held when first read (`null`: missing). */
  #reads = new Map<string, Entry | null>();
  #ended = false;
  /** A cross-shard access: the transaction fails even if `fn` caught it. */
  failure: CrossShardTransactionError | undefined;

  constructor(host: TxnHost, mode: LockMode) {
    this.#host = host;
    this.#mode = mode;
  }

  /** Checks `key`, binds the transaction to its shard, and returns the shard. */
  #bind(key: string): number {
    if (this.#ended) {
      throw new Error("This transaction has already ended (committed, failed or timed out)");
    }
    this.#host.check("use a transaction");
    assertKey(key);
    const shard = this.#host.route(key);
    if (this.#shard === -1) {
      this.#shard = shard;
      this.#locked = this.#host.lock(shard).acquireForTransaction(this.#mode);
    } else if (shard !== this.#shard) {
      this.failure ??= new CrossShardTransactionError(key, {
        boundShard: this.#shard,
        keyShard: shard,
      });
      throw this.failure;
    }
    return shard;
  }

  /** The entry of `key` as this transaction sees it. */
  async #read(key: string, shard: number): Promise<Entry | undefined> {
    const buffered = this.#writes.get(key);
    if (buffered === null) return undefined;
    if (buffered !== undefined) {
      return isLive(buffered, this.#host.now()) ? buffered : undefined;
    }
    await this.#locked;
    const e = (await this.#host.backend(shard).getEntries([key])).get(key);
    if (!this.#reads.has(key)) this.#reads.set(key, e ?? null);
    return e;
  }

  /** How many keys this transaction read from its shard. */
  get reads(): number {
    return this.#reads.size;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.#read(key, this.#bind(key)))?.value.slice();
  }

  async exists(key: string): Promise<boolean> {
    return (await this.#read(key, this.#bind(key))) !== undefined;
  }

  set(key: string, value: Uint8Array, options?: SetOptions): Promise<void> {
    try {
      this.#writable();
      this.#bind(key);
      assertValue(value);
      const expiresAt = expiresAtOf(options, this.#host.now);
      // Buffered synchronously, so an un-awaited set still commits.
      this.#writes.set(key, { value: value.slice(), expiresAt });
      return this.#locked!;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  delete(key: string): Promise<boolean> {
    try {
      this.#writable();
      const before = this.#read(key, this.#bind(key));
      this.#writes.set(key, null);
      return before.then((e) => e !== undefined);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #writable(): void {
    if (this.#mode !== "exclusive") {
      throw new TypeError("A read transaction cannot write; use writeTxn");
    }
  }

  /**
   * Applies the buffered writes atomically, under the lock, if every key read still holds what
   * was read; `false` (nothing written) when one changed. A transaction that only read checks
   * that its reads came from one snapshot.
   */
  async commit(): Promise<boolean> {
    if (this.failure !== undefined) throw this.failure;
    if (this.#writes.size === 0 && this.#reads.size < 2) return true;
    await this.#locked;
    const backend = this.#host.backend(this.#shard);
    if (this.#writes.size === 0) {
      const now = await backend.getEntries([...this.#reads.keys()]);
      for (const [key, read] of this.#reads) if (!matches(now.get(key), read)) return false;
      return true;
    }
    const ops: WriteOp[] = [];
    const version = this.#host.version();
    for (const [key, e] of this.#writes) {
      ops.push(e === null ? { key } : { key, value: e.value, expiresAt: e.expiresAt, version });
    }
    const keys = Array.from(this.#writes.keys());
    this.#host.invalidate(this.#shard, keys);
    try {
      return await backend.apply(ops, this.#reads);
    } finally {
      this.#host.written(this.#shard, keys);
    }
  }

  /** Ends the transaction and releases the lock once it is (or would have been) acquired. */
  end(): void {
    this.#ended = true;
    this.#writes.clear();
    this.#reads.clear();
    // A transaction that touched no key never bound a shard or took a lock.
    if (this.#locked === undefined) return;
    const lock = this.#host.lock(this.#shard);
    this.#locked?.then(() => lock.releaseTransaction());
  }
}
