// The public StorageBackend methods, written once over a few primitives that each backend
// provides. Validation, the closed state, TTL rules, counters and scan bounds live here.
import { StoreClosedError } from "./errors.ts";
import { ShardLock } from "./shard_lock.ts";
import { encodeCounter, nextCounter } from "./counter.ts";
import { compareKeys, prefixEnd } from "./key_order.ts";
import {
  assertBy,
  assertKey,
  assertPrefix,
  assertValue,
  checkEntries,
  checkKeys,
  checkScanOptions,
  expiresAtOf,
} from "./validate.ts";
import {
  type Checks,
  type Entry,
  SHARD_BACKEND,
  type ShardBackend,
  type WriteOp,
} from "./_shard_backend.ts";
import type { BatchEntries, ScanOptions, SetOptions } from "./types.ts";

/** A key range in scan order. `lo` is inclusive unless `loExclusive`; `hi` is exclusive. */
export interface RangeQuery {
  lo: string | undefined;
  loExclusive: boolean;
  hi: string | undefined;
  reverse: boolean;
  limit: number;
  keysOnly: boolean;
}

/** Keys in scan order with their values (`values` stays empty for a keys-only query). */
export interface RangeResult {
  keys: string[];
  values: Uint8Array[];
}

/** What a read-modify-write decides: the new entry (`null`: delete; absent: unchanged). */
export interface Update<R> {
  next?: Entry | null;
  result: R;
}

const ENTRIES_PAGE = 256;

export function isLive(entry: Entry, now: number): boolean {
  return entry.expiresAt === null || now < entry.expiresAt;
}

/** Bounds of a prefix scan with an optional exclusive `after` cursor. */
export function rangeOf(
  prefix: string,
  scan: { after: string | undefined; reverse: boolean; limit: number },
  keysOnly: boolean,
): RangeQuery {
  const end = prefixEnd(prefix);
  const q: RangeQuery = {
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

export abstract class BaseBackend implements ShardBackend {
  readonly [SHARD_BACKEND] = true as const;
  readonly lock: ShardLock = new ShardLock();
  readonly now: () => number;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(now: () => number) {
    this.now = now;
  }

  /** The live entry of `key`, or `undefined`. */
  protected abstract readEntry(key: string): Entry | undefined | Promise<Entry | undefined>;
  /** Atomically reads `key` (live entry or undefined) and applies what `fn` decides. */
  protected abstract update<R>(
    key: string,
    fn: (current: Entry | undefined) => Update<R>,
  ): Promise<R>;
  /** Atomically deletes `keys`; returns how many of them were live. */
  protected abstract removeAll(keys: readonly string[]): Promise<number>;
  /** Live keys (and values) of a range. */
  protected abstract range(q: RangeQuery): Promise<RangeResult>;
  /** Releases resources; called once. */
  protected abstract closeBackend(): Promise<void>;

  abstract getEntries(keys: readonly string[]): Promise<Map<string, Entry>>;
  abstract apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean>;
  abstract sweep(max: number): Promise<number>;

  check(operation: string): void {
    if (this.#closed) throw new StoreClosedError(operation);
  }

  /** Runs a write under the shard lock, so it never lands inside a transaction. */
  protected locked<T>(run: () => Promise<T>): Promise<T> {
    return this.lock.with("write", run);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.check("get");
    assertKey(key);
    return (await this.readEntry(key))?.value;
  }

  async set(key: string, value: Uint8Array, options?: SetOptions): Promise<void> {
    this.check("set");
    assertKey(key);
    assertValue(value);
    const expiresAt = expiresAtOf(options, this.now);
    await this.locked(() => this.apply([{ key, value, expiresAt }]));
  }

  async delete(key: string): Promise<boolean> {
    this.check("delete");
    assertKey(key);
    return (await this.locked(() => this.removeAll([key]))) === 1;
  }

  async exists(key: string): Promise<boolean> {
    this.check("exists");
    assertKey(key);
    return (await this.readEntry(key)) !== undefined;
  }

  async ttl(key: string): Promise<number | undefined> {
    this.check("ttl");
    assertKey(key);
    const entry = await this.readEntry(key);
    if (entry === undefined) return undefined;
    return entry.expiresAt === null ? Infinity : Math.max(0, entry.expiresAt - this.now());
  }

  incr(key: string, by: number = 1): Promise<number> {
    return this.#add("incr", key, by, 1);
  }

  decr(key: string, by: number = 1): Promise<number> {
    return this.#add("decr", key, by, -1);
  }

  async #add(op: string, key: string, by: number, sign: 1 | -1): Promise<number> {
    this.check(op);
    assertKey(key);
    assertBy(by);
    return await this.locked(() =>
      this.update(key, (current) => {
        const n = nextCounter(key, current?.value, sign * by);
        return {
          next: { value: encodeCounter(n), expiresAt: current?.expiresAt ?? null },
          result: n,
        };
      })
    );
  }

  async batchSet(entries: BatchEntries, options?: SetOptions): Promise<void> {
    this.check("batchSet");
    const pairs = checkEntries(entries);
    const expiresAt = expiresAtOf(options, this.now);
    if (pairs.length === 0) return;
    await this.locked(() => this.apply(pairs.map(([key, value]) => ({ key, value, expiresAt }))));
  }

  async batchGet(keys: Iterable<string>): Promise<Map<string, Uint8Array>> {
    this.check("batchGet");
    const list = checkKeys(keys);
    const found = await this.getEntries(list);
    const out = new Map<string, Uint8Array>();
    for (const key of list) {
      const e = found.get(key);
      if (e !== undefined) out.set(key, e.value);
    }
    return out;
  }

  async batchDelete(keys: Iterable<string>): Promise<number> {
    this.check("batchDelete");
    const list = checkKeys(keys);
    return list.length === 0 ? 0 : await this.locked(() => this.removeAll(list));
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

  #scan(
    op: string,
    prefix: string,
    options: ScanOptions | undefined,
    keysOnly: boolean,
  ): Promise<RangeResult> {
    try {
      this.check(op);
      assertPrefix(prefix);
      return this.range(rangeOf(prefix, checkScanOptions(options), keysOnly));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  entries(
    prefix: string,
    options?: ScanOptions,
  ): AsyncIterableIterator<[string, Uint8Array]> {
    this.check("entries");
    assertPrefix(prefix);
    const scan = checkScanOptions(options);
    return this.#pages(prefix, scan);
  }

  async *#pages(
    prefix: string,
    scan: { after: string | undefined; reverse: boolean; limit: number },
  ): AsyncGenerator<[string, Uint8Array]> {
    let { after, limit } = scan;
    while (limit > 0) {
      this.check("entries");
      const page = Math.min(limit, ENTRIES_PAGE);
      const { keys, values } = await this.range(
        rangeOf(prefix, { after, reverse: scan.reverse, limit: page }, false),
      );
      for (let i = 0; i < keys.length; i++) yield [keys[i], values[i]];
      if (keys.length < page) return;
      limit -= keys.length;
      after = keys[keys.length - 1];
    }
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#closing = this.closeBackend();
    }
    return this.#closing;
  }
}
