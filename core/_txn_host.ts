// core's internal contract (one of the `_name.ts` files other folders may import, listed in
// test/layers_test.ts; today only core/ itself uses it).
// What the transaction helpers need from a store: routing, the shard locks, the shard
// backends and cache invalidation. Reached through a symbol so it stays out of the public API.
import type { Driver } from "./driver.ts";
import type { ShardLock } from "./shard_lock.ts";

export const TXN_HOST: unique symbol = Symbol("shardkv.txnHost");

export interface TxnHost {
  route(key: string): number;
  lock(shard: number): ShardLock;
  backend(shard: number): Driver;
  /** Drops cached reads of `keys` on `shard` (no-op without a cache). */
  invalidate(shard: number, keys: readonly string[]): void;
  /** Drops cached reads of `keys` after they were written and tells watchers. */
  written(shard: number, keys: readonly string[]): void;
  now(): number;
  /** Throws StoreClosedError when the store is closed. */
  check(operation: string): void;
  /** A new version for a write (see `WriteOp.version`). */
  version(): number;
}

export interface HasTxnHost {
  [TXN_HOST](): TxnHost;
}

export function hasTxnHost(store: unknown): store is HasTxnHost {
  return typeof (store as Partial<HasTxnHost>)?.[TXN_HOST] === "function";
}
