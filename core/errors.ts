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

/** Where a storage failure happened: the shard and its file. */
export interface StorageErrorInit {
  /** Index of the shard (0 for a backend opened on its own). */
  shard: number;
  /** The shard's file (or the store directory when no single file is at fault). */
  path: string;
  /** The key whose stored value failed its check, when one is known. */
  key?: string;
}

/**
 * The storage under a shard failed (an I/O error, a file that cannot be opened): the operation
 * did not happen. The base class of {@linkcode StorageFullError} and
 * {@linkcode CorruptStoreError}; `cause` holds the driver's own error.
 *
 * @example
 * ```ts
 * import { StorageError } from "@shardkv/shardkv";
 * const e = new StorageError("disk I/O error", { shard: 3, path: "./data/shard-003.sqlite" });
 * e.shard; // 3
 * ```
 */
export class StorageError extends Error {
  /** `"StorageError"`, or the name of the subclass. */
  override readonly name: string = "StorageError";
  /** Index of the shard (0 for a backend opened on its own). */
  readonly shard: number;
  /** The shard's file (or the store directory when no single file is at fault). */
  readonly path: string;
  /** Creates the error; `problem` says what failed, the message adds shard and path. */
  constructor(problem: string, where: StorageErrorInit, options?: ErrorOptions) {
    super(`Shard ${where.shard} (${where.path}): ${problem}`, options);
    this.shard = where.shard;
    this.path = where.path;
  }
}

/**
 * The disk (or quota) under a shard is full: the write was not made, nothing acknowledged was
 * lost, and the store works again once space is freed.
 *
 * @example
 * ```ts
 * import { StorageError, StorageFullError } from "@shardkv/shardkv";
 * const e = new StorageFullError("database or disk is full", { shard: 0, path: "./a.sqlite" });
 * e instanceof StorageError; // true
 * ```
 */
export class StorageFullError extends StorageError {
  /** Always `"StorageFullError"`. */
  override readonly name: string = "StorageFullError";
}

/**
 * A shard's data is damaged: a shard file of an existing store is missing, empty or not a
 * shardkv database, SQLite reports corruption, or a stored value fails its checksum (`key`).
 * A shard found corrupt refuses further writes until the store is reopened. Restore the file
 * from a backup (see `importStore`); `verifyStore` reports every damaged shard and key.
 *
 * @example
 * ```ts
 * import { CorruptStoreError } from "@shardkv/shardkv";
 * const e = new CorruptStoreError("is empty", { shard: 2, path: "./data/shard-002.sqlite" });
 * e.shard; // 2
 * ```
 */
export class CorruptStoreError extends StorageError {
  /** Always `"CorruptStoreError"`. */
  override readonly name: string = "CorruptStoreError";
  /** The key whose value failed its checksum, when the damage was found reading one. */
  readonly key?: string;
  /** Creates the error; `problem` says what is damaged. */
  constructor(problem: string, where: StorageErrorInit, options?: ErrorOptions) {
    super(
      where.key === undefined ? problem : `key ${JSON.stringify(where.key)}: ${problem}`,
      where,
      options,
    );
    if (where.key !== undefined) this.key = where.key;
  }
}

/**
 * `openStore` found shard files in a directory without a manifest (`shardkv.json`): the store
 * cannot be opened safely (its shard count is unknown) and is never re-created over them.
 * Restore the manifest, or move the files away.
 *
 * @example
 * ```ts
 * import { MissingManifestError } from "@shardkv/shardkv";
 * new MissingManifestError("./data", ["shard-000.sqlite"]).files; // ["shard-000.sqlite"]
 * ```
 */
export class MissingManifestError extends Error {
  /** Always `"MissingManifestError"`. */
  override readonly name = "MissingManifestError";
  /** The store directory. */
  readonly path: string;
  /** The shard files found there. */
  readonly files: string[];
  /** Creates the error for the directory `path` holding `files`. */
  constructor(path: string, files: string[], options?: ErrorOptions) {
    const shown = files.slice(0, 8).join(", ") + (files.length > 8 ? ", ..." : "");
    super(
      `Directory "${path}" holds ${files.length} shard file(s) (${shown}) but no shardkv.json manifest; restore the manifest (the shard count cannot be guessed) or move the files away`,
      options,
    );
    this.path = path;
    this.files = files;
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
