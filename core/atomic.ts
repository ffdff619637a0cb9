/**
 * Versioned entries and atomic commits, shaped like Deno KV's: `getEntry` returns a value with
 * its versionstamp, and `atomic()` builds a commit of checks and mutations that applies whole
 * or not at all, across shards too.
 *
 * @module
 */
import type { SetOptions } from "./types.ts";
import { assertKey, assertValue, describe, expiresAtOf } from "./validate.ts";

/** A key's entry as {@linkcode Store.getEntry} reads it. */
export interface KvEntry {
  /** The key read. */
  key: string;
  /** Its value, `null` when missing or expired. */
  value: Uint8Array | null;
  /** Its versionstamp, `null` when missing or expired. */
  versionstamp: string | null;
  /** When it expires (absolute ms on the store clock), `null` for never (or missing). */
  expiresAt: number | null;
}

/** A condition of an atomic commit: `key` must still have `versionstamp` (`null`: be absent). */
export interface AtomicCheck {
  /** The key checked. */
  key: string;
  /** The versionstamp it must have, or `null` when it must be missing (or expired). */
  versionstamp: string | null;
}

/** What {@linkcode AtomicOperation.commit} resolves. */
export type CommitResult = { ok: true; versionstamp: string } | { ok: false };

/**
 * Checks and mutations committed together by `commit()`: all or nothing, across shards too,
 * and `{ ok: false }` (nothing written) when a check fails.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory", shards: 4 });
 * const a = await store.getEntry("account:a");
 * const res = await store.atomic()
 *   .check(a)
 *   .sum("account:a", -10)
 *   .sum("account:b", 10)
 *   .commit();
 * res.ok; // true unless account:a changed since it was read
 * ```
 */
export interface AtomicOperation {
  /** Adds checks: each key must still have the versionstamp given (`null`: be absent). */
  check(...checks: AtomicCheck[]): this;
  /** Sets `key` (with an optional TTL). */
  set(key: string, value: Uint8Array, options?: SetOptions): this;
  /** Deletes `key`. */
  delete(key: string): this;
  /** Adds `n` to the 8-byte counter at `key` (missing: 0), like `incr`. */
  sum(key: string, n: number | bigint): this;
  /** Stores the smaller of the counter at `key` and `n` (missing: `n`). */
  min(key: string, n: number | bigint): this;
  /** Stores the larger of the counter at `key` and `n` (missing: `n`). */
  max(key: string, n: number | bigint): this;
  /** Commits; `{ ok: false }` and nothing written when a check fails. */
  commit(): Promise<CommitResult>;
}

/** One mutation of an atomic commit, as the engine applies it. */
export type Mutation =
  | { type: "set"; key: string; value: Uint8Array; expiresAt: number | null }
  | { type: "delete"; key: string }
  | { type: "sum" | "min" | "max"; key: string; n: number };

/** The widest versionstamp: 20 hex digits, like Deno KV's. */
const STAMP_DIGITS = 20;

/** The versionstamp of a version number. */
export function versionstampOf(version: number): string {
  return version.toString(16).padStart(STAMP_DIGITS, "0");
}

/** The version number of a versionstamp given by a caller; `TypeError` when it is not one. */
export function versionOf(stamp: unknown): number {
  if (typeof stamp !== "string" || !/^[0-9a-f]{20}$/.test(stamp)) {
    throw new TypeError(
      `versionstamp must be null or 20 lowercase hex digits, received ${describe(stamp)}`,
    );
  }
  return parseInt(stamp, 16);
}

/** What {@linkcode AtomicBuilder} hands to the engine on `commit()`. */
export type CommitFn = (
  checks: ReadonlyMap<string, number | null>,
  mutations: readonly Mutation[],
) => Promise<CommitResult>;

/** The engine's {@linkcode AtomicOperation}: validates each call as it is made. */
export class AtomicBuilder implements AtomicOperation {
  #checks = new Map<string, number | null>();
  #mutations: Mutation[] = [];
  #now: () => number;
  #commit: CommitFn;
  #committed = false;

  constructor(now: () => number, commit: CommitFn) {
    this.#now = now;
    this.#commit = commit;
  }

  check(...checks: AtomicCheck[]): this {
    for (const c of checks) {
      if (typeof c !== "object" || c === null) {
        throw new TypeError(`a check is { key, versionstamp }, received ${describe(c)}`);
      }
      assertKey(c.key);
      const version = c.versionstamp === null ? null : versionOf(c.versionstamp);
      const earlier = this.#checks.get(c.key);
      if (earlier !== undefined && earlier !== version) {
        // Two different expectations of one key can never both hold.
        this.#checks.set(c.key, -1);
      } else this.#checks.set(c.key, version);
    }
    return this;
  }

  set(key: string, value: Uint8Array, options?: SetOptions): this {
    assertKey(key);
    assertValue(value);
    const expiresAt = expiresAtOf(options, this.#now);
    this.#mutations.push({ type: "set", key, value: value.slice(), expiresAt });
    return this;
  }

  delete(key: string): this {
    assertKey(key);
    this.#mutations.push({ type: "delete", key });
    return this;
  }

  sum(key: string, n: number | bigint): this {
    return this.#counter("sum", key, n);
  }

  min(key: string, n: number | bigint): this {
    return this.#counter("min", key, n);
  }

  max(key: string, n: number | bigint): this {
    return this.#counter("max", key, n);
  }

  #counter(type: "sum" | "min" | "max", key: string, n: number | bigint): this {
    assertKey(key);
    const value = typeof n === "bigint" ? Number(n) : n;
    if (
      (typeof n !== "number" && typeof n !== "bigint") || !Number.isSafeInteger(value) ||
      (typeof n === "bigint" && BigInt(value) !== n)
    ) {
      throw new RangeError(`${type}() takes a safe integer, received ${describe(n)}`);
    }
    this.#mutations.push({ type, key, n: value });
    return this;
  }

  commit(): Promise<CommitResult> {
    if (this.#committed) {
      return Promise.reject(new TypeError("This atomic operation was already committed"));
    }
    this.#committed = true;
    return this.#commit(this.#checks, this.#mutations);
  }
}

/**
 * The value a counter mutation leaves: `current` is the key's value before it (`undefined`:
 * missing). Throws `RangeError` past the safe integers, before anything is written.
 */
export function counterResult(
  m: { type: "sum" | "min" | "max"; key: string; n: number },
  current: number | undefined,
): number {
  if (current === undefined) return m.n;
  const next = m.type === "sum"
    ? current + m.n
    : m.type === "min"
    ? Math.min(current, m.n)
    : Math.max(current, m.n);
  if (!Number.isSafeInteger(next)) {
    throw new RangeError(
      `sum(${JSON.stringify(m.key)}, ${m.n}) leaves ${current} + ${m.n} outside the safe integers`,
    );
  }
  return next;
}
