/**
 * Error classes thrown by shardkv. Bad arguments are `TypeError`/`RangeError`
 * subclasses; conditions a caller is expected to catch are named classes.
 *
 * @module
 */

/**
 * A key that is not a non-empty, well-formed string of at most 2048 UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { InvalidKeyError, openStore } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await store.get("").catch((e) => e instanceof InvalidKeyError); // true
 * ```
 */
export class InvalidKeyError extends TypeError {
  /** Always `"InvalidKeyError"`. */
  override readonly name = "InvalidKeyError";
}

/**
 * A value that is not a `Uint8Array`.
 *
 * @example
 * ```ts
 * import { InvalidValueError } from "@shardkv/shardkv";
 * new InvalidValueError("value must be a Uint8Array").name; // "InvalidValueError"
 * ```
 */
export class InvalidValueError extends TypeError {
  /** Always `"InvalidValueError"`. */
  override readonly name = "InvalidValueError";
}

/**
 * A value larger than the 16 MiB every backend accepts.
 *
 * @example
 * ```ts
 * import { ValueTooLargeError } from "@shardkv/shardkv";
 * new ValueTooLargeError("too large") instanceof RangeError; // true
 * ```
 */
export class ValueTooLargeError extends RangeError {
  /** Always `"ValueTooLargeError"`. */
  override readonly name = "ValueTooLargeError";
}

/**
 * `incr`/`decr` met a stored value that is not an 8-byte counter.
 *
 * @example
 * ```ts
 * import { NotACounterError, openStore } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await store.set("name", new TextEncoder().encode("ada"));
 * await store.incr("name").catch((e) => e instanceof NotACounterError); // true
 * ```
 */
export class NotACounterError extends Error {
  /** Always `"NotACounterError"`. */
  override readonly name = "NotACounterError";
}

/**
 * A call was made on a store (or backend) after `close()`.
 *
 * @example
 * ```ts
 * import { openStore, StoreClosedError } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await store.close();
 * await store.get("k").catch((e) => e instanceof StoreClosedError); // true
 * ```
 */
export class StoreClosedError extends Error {
  /** Always `"StoreClosedError"`. */
  override readonly name = "StoreClosedError";
  /** Creates the error; the message names the operation that was refused. */
  constructor(operation: string, options?: ErrorOptions) {
    super(`Cannot ${operation}: the store is closed`, options);
  }
}

/**
 * `openStore` was given a `shards` count that differs from the existing store's manifest.
 *
 * @example
 * ```ts
 * import { ShardCountMismatchError } from "@shardkv/shardkv";
 * const e = new ShardCountMismatchError("./data", { expected: 16, received: 4 });
 * e.expected; // 16
 * ```
 */
export class ShardCountMismatchError extends Error {
  /** Always `"ShardCountMismatchError"`. */
  override readonly name = "ShardCountMismatchError";
  /** The shard count recorded in the manifest. */
  readonly expected: number;
  /** The shard count that was asked for. */
  readonly received: number;
  /** Creates the error for the store at `path`. */
  constructor(
    path: string,
    counts: { expected: number; received: number },
    options?: ErrorOptions,
  ) {
    super(
      `Store at "${path}" has ${counts.expected} shards, but shards: ${counts.received} was requested; use reshard() to change it`,
      options,
    );
    this.expected = counts.expected;
    this.received = counts.received;
  }
}

/**
 * `openStore` was given a backend that differs from the existing store's manifest.
 *
 * @example
 * ```ts
 * import { BackendMismatchError } from "@shardkv/shardkv";
 * new BackendMismatchError("./data", { expected: "sqlite", received: "deno-kv" }).expected; // "sqlite"
 * ```
 */
export class BackendMismatchError extends Error {
  /** Always `"BackendMismatchError"`. */
  override readonly name = "BackendMismatchError";
  /** The backend recorded in the manifest. */
  readonly expected: string;
  /** The backend that was asked for. */
  readonly received: string;
  /** Creates the error for the store at `path`. */
  constructor(
    path: string,
    backends: { expected: string; received: string },
    options?: ErrorOptions,
  ) {
    super(
      `Store at "${path}" uses backend "${backends.expected}", but backend "${backends.received}" was requested`,
      options,
    );
    this.expected = backends.expected;
    this.received = backends.received;
  }
}

/**
 * A transaction touched a key on a different shard than its first key.
 * Use a hash tag (`{user:1}:a`, `{user:1}:b`) to keep related keys on one shard.
 *
 * @example
 * ```ts
 * import { CrossShardTransactionError } from "@shardkv/shardkv";
 * new CrossShardTransactionError("a", { boundShard: 1, keyShard: 2 }).keyShard; // 2
 * ```
 */
export class CrossShardTransactionError extends Error {
  /** Always `"CrossShardTransactionError"`. */
  override readonly name = "CrossShardTransactionError";
  /** The shard the transaction is bound to. */
  readonly boundShard: number;
  /** The shard of the offending key. */
  readonly keyShard: number;
  /** Creates the error for `key`. */
  constructor(
    key: string,
    shards: { boundShard: number; keyShard: number },
    options?: ErrorOptions,
  ) {
    super(
      `Transaction is bound to shard ${shards.boundShard}, but key ${
        JSON.stringify(key)
      } lives on shard ${shards.keyShard}; use a {hash tag} to co-locate keys`,
      options,
    );
    this.boundShard = shards.boundShard;
    this.keyShard = shards.keyShard;
  }
}

/**
 * A transaction did not settle within its timeout; it was rolled back and its shard released.
 *
 * @example
 * ```ts
 * import { TransactionTimeoutError } from "@shardkv/shardkv";
 * new TransactionTimeoutError(5000).timeout; // 5000
 * ```
 */
export class TransactionTimeoutError extends Error {
  /** Always `"TransactionTimeoutError"`. */
  override readonly name = "TransactionTimeoutError";
  /** The timeout that elapsed, in ms. */
  readonly timeout: number;
  /** Creates the error for a transaction that ran longer than `timeout` ms. */
  constructor(timeout: number, options?: ErrorOptions) {
    super(
      `Transaction did not settle within ${timeout} ms; it was rolled back`,
      options,
    );
    this.timeout = timeout;
  }
}

/**
 * A store's manifest (`shardkv.json`) is unreadable, not JSON, or not a manifest this version
 * understands. Nothing was changed.
 *
 * @example
 * ```ts
 * import { InvalidManifestError } from "@shardkv/shardkv";
 * new InvalidManifestError("./data/shardkv.json", "is not valid JSON").path; // "./data/shardkv.json"
 * ```
 */
export class InvalidManifestError extends Error {
  /** Always `"InvalidManifestError"`. */
  override readonly name = "InvalidManifestError";
  /** The manifest file. */
  readonly path: string;
  /** Creates the error for the manifest at `path`; `problem` says what is wrong with it. */
  constructor(path: string, problem: string, options?: ErrorOptions) {
    super(`Manifest ${path} ${problem}`, options);
    this.path = path;
  }
}

/**
 * A shard file of an existing store is missing or cannot be read as a database. Nothing was
 * changed; restore the file from a backup (see `importStore`).
 *
 * @example
 * ```ts
 * import { CorruptStoreError } from "@shardkv/shardkv";
 * new CorruptStoreError("./data", { shard: 2, file: "shard-002.sqlite", problem: "is missing" }).shard; // 2
 * ```
 */
export class CorruptStoreError extends Error {
  /** Always `"CorruptStoreError"`. */
  override readonly name = "CorruptStoreError";
  /** The store directory. */
  readonly path: string;
  /** Index of the damaged shard. */
  readonly shard: number;
  /** Creates the error for shard `damage.shard` of the store at `path`. */
  constructor(
    path: string,
    damage: { shard: number; file: string; problem: string },
    options?: ErrorOptions,
  ) {
    super(`Store at "${path}": shard ${damage.shard} (${damage.file}) ${damage.problem}`, options);
    this.path = path;
    this.shard = damage.shard;
  }
}

/**
 * A write transaction was not committed because another client changed a key it read (only
 * backends shared by several clients, such as `"redis"`, can detect this). Nothing was written;
 * run the transaction again.
 *
 * @example
 * ```ts
 * import { TransactionConflictError } from "@shardkv/shardkv";
 * new TransactionConflictError(3).keys; // 3
 * ```
 */
export class TransactionConflictError extends Error {
  /** Always `"TransactionConflictError"`. */
  override readonly name = "TransactionConflictError";
  /** How many keys the transaction had read. */
  readonly keys: number;
  /** Creates the error for a transaction that had read `keys` keys. */
  constructor(keys: number, options?: ErrorOptions) {
    super(
      `Transaction not committed: another client changed one of the ${keys} keys it read; nothing was written, retry it`,
      options,
    );
    this.keys = keys;
  }
}
