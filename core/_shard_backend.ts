// Internal contract between the sharded store and the built-in backends. Custom
// backends only implement StorageBackend; asShardBackend() fills in the rest.
import type { ShardLock } from "./shard_lock.ts";
import type { StorageBackend } from "./types.ts";

/** A stored value with its absolute expiry time (ms on the store clock), `null` for none. */
export interface Entry {
  value: Uint8Array;
  expiresAt: number | null;
}

/** One write of an atomic group: a set when `value` is present, else a delete. */
export interface WriteOp {
  key: string;
  value?: Uint8Array;
  expiresAt?: number | null;
}

/**
 * What a compare-and-set commit expects: per key, the live entry it must still hold, or
 * `null` when it must still be missing (or expired).
 */
export type Checks = ReadonlyMap<string, Entry | null>;

/** Whether the live entry `current` (`undefined`: missing) is what `expected` says. */
export function matches(current: Entry | undefined, expected: Entry | null): boolean {
  if (expected === null || current === undefined) return expected === null && current === undefined;
  if (current.expiresAt !== expected.expiresAt) return false;
  const a = current.value;
  const b = expected.value;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const SHARD_BACKEND: unique symbol = Symbol("shardkv.shardBackend");

/** What the sharded store needs beyond StorageBackend: entries with expiry, atomic groups, sweeping. */
export interface ShardBackend extends StorageBackend {
  readonly [SHARD_BACKEND]: true;
  /** Taken in "write" mode by every write call, and by transactions on this shard. */
  readonly lock: ShardLock;
  /** The clock of this shard's TTLs. */
  readonly now: () => number;
  /** Throws StoreClosedError once closed. */
  check(operation: string): void;
  /** Live entries of `keys` (missing and expired keys are absent), read from one snapshot. */
  getEntries(keys: readonly string[]): Promise<Map<string, Entry>>;
  /**
   * Applies every op, in order, as one atomic commit, provided every key of `checks` still
   * holds what it expects (checked atomically with the writes, against other processes too).
   * Resolves `false`, writing nothing, when a check fails. Arguments are already validated.
   */
  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean>;
  /** Removes up to `max` expired rows; returns how many were removed. */
  sweep(max: number): Promise<number>;
}

export function isShardBackend(b: StorageBackend): b is ShardBackend {
  return (b as Partial<ShardBackend>)[SHARD_BACKEND] === true;
}
