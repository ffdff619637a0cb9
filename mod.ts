/**
 * shardkv: a sharded embedded key-value store for Deno and Bun.
 *
 * Keys are routed by FNV-1a (with Redis-style `{hash tags}`) to N independent shards, each a
 * WAL-mode SQLite file (default), a Deno KV file, or memory. Writes issued together share
 * one commit per shard; batches run on all shards at once; scans merge every shard in UTF-8
 * byte order.
 *
 * @example
 * ```ts
 * import { openStore, structured, typed } from "@shardkv/shardkv";
 * const store = await openStore("./data", { shards: 16 });
 * const users = typed<{ name: string; joined: Date }>(store, structured);
 * await users.set("user:1", { name: "Ada", joined: new Date() }, { ttl: 60_000 });
 * console.log((await users.get("user:1"))?.name); // "Ada"
 * await store.close();
 * ```
 *
 * @module
 */
export {
  autoWorkers,
  type BackendFactory,
  type BackendName,
  DEFAULT_SHARDS,
  openStore,
  type StoreOptions,
} from "./shard/open_store.ts";
export type { Store, StoreStats } from "./core/engine.ts";
export type { AtomicCheck, AtomicOperation, CommitResult, KvEntry } from "./core/atomic.ts";
export type { WatchEvent, WatchOptions } from "./core/watch.ts";
export type { RedisBackendOptions } from "./backends/redis.ts";
export {
  type BackendDescriptor,
  denoKv,
  memory,
  redis,
  sqlite,
  type SqliteOptions,
} from "./backends/descriptors.ts";
export {
  hosted,
  type HostedDriver,
  type HostedDriverInit,
  type HostedDriverOpener,
} from "./backends/hosted.ts";
export { fnv1a32, shardOf } from "./shard/router.ts";
export type {
  BatchEntries,
  Durability,
  ScanOptions,
  SetOptions,
  StorageBackend,
} from "./core/types.ts";
export {
  BackendMismatchError,
  CorruptStoreError,
  CrossShardTransactionError,
  InvalidKeyError,
  InvalidManifestError,
  InvalidValueError,
  MissingManifestError,
  NotACounterError,
  ShardCountMismatchError,
  StorageError,
  type StorageErrorInit,
  StorageFullError,
  StoreClosedError,
  TransactionConflictError,
  TransactionTimeoutError,
  ValueTooLargeError,
} from "./core/errors.ts";
export { decodeCounter, encodeCounter } from "./core/counter.ts";
export {
  type Codec,
  DecodeError,
  json,
  structured,
  text,
  typed,
  type TypedBatchEntries,
  type TypedStore,
} from "./core/codec.ts";
export { compareKeys } from "./core/key_order.ts";
export { MAX_KEY_BYTES, MAX_VALUE_BYTES } from "./core/validate.ts";
export type { CacheStats, LruCacheOptions } from "./core/lru_cache.ts";
export type {
  Checks,
  Driver,
  Entry,
  RangeQuery,
  RangeResult,
  ShardTxn,
  WriteOp,
} from "./core/driver.ts";
export {
  DEFAULT_TXN_TIMEOUT,
  deleteKey,
  existsKey,
  getKey,
  type ReadTxn,
  readTxn,
  setKey,
  type TxnOptions,
  type WriteTxn,
  writeTxn,
} from "./core/txn.ts";
export { recoverReshard, reshard, type ReshardOptions } from "./shard/reshard.ts";
export {
  type ShardVerifyReport,
  type VerifyOptions,
  type VerifyProgress,
  type VerifyReport,
  verifyStore,
} from "./shard/verify.ts";
export {
  CorruptBackupError,
  type ExportOptions,
  exportStore,
  type ImportOptions,
  importStore,
} from "./shard/backup.ts";
