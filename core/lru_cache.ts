/**
 * A least-recently-used cache of read results, bounded by entries and bytes. Misses are
 * cached too (as `undefined`), and every entry carries its expiry so a hit never returns
 * an expired value.
 *
 * @module
 */
import { describe } from "./validate.ts";

/** Limits of an {@linkcode LruCache}. */
export interface LruCacheOptions {
  /** Most entries kept (default 10 000). */
  maxEntries?: number;
  /** Most bytes of keys and values kept (default 64 MiB). */
  maxBytes?: number;
}

/** Counters reported by {@linkcode LruCache.stats}. */
export interface CacheStats {
  /** Reads answered from the cache. */
  hits: number;
  /** Reads that went to the backend. */
  misses: number;
  /** Entries dropped to stay within the limits. */
  evictions: number;
  /** Entries held now. */
  entries: number;
  /** Bytes held now (UTF-16 key length × 2 plus value bytes plus a fixed overhead). */
  bytes: number;
}

/** A cached read: the value (`undefined` for a cached miss) and its expiry (`null`: none). */
export interface CachedRead {
  /** The value read, or `undefined` for a cached miss. */
  value: Uint8Array | undefined;
  /** Absolute expiry in ms on the store clock, or `null` for none. */
  expiresAt: number | null;
}

const ENTRY_OVERHEAD = 64;

/**
 * The LRU cache. JS `Map` keeps insertion order, so re-inserting on a hit makes the first
 * key the least recently used one.
 *
 * @example
 * ```ts
 * import { LruCache } from "@shardkv/shardkv";
 * const cache = new LruCache({ maxEntries: 2 });
 * cache.put("a", { value: new Uint8Array(1), expiresAt: null });
 * cache.lookup("a", 0)?.value?.length; // 1
 * ```
 */
export class LruCache {
  #map = new Map<string, CachedRead>();
  #maxEntries: number;
  #maxBytes: number;
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /** Creates a cache with the given limits. */
  constructor(options: LruCacheOptions = {}) {
    const { maxEntries, maxBytes } = checkLruCacheOptions(options);
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  /** The cached read of `key` unless absent or expired at `now`; counts a hit or a miss. */
  lookup(key: string, now: number): CachedRead | undefined {
    const hit = this.#map.get(key);
    if (hit === undefined || (hit.expiresAt !== null && now >= hit.expiresAt)) {
      if (hit !== undefined) this.delete(key);
      this.#misses++;
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, hit);
    this.#hits++;
    return hit;
  }

  /** Caches `read` for `key`, evicting the least recently used entries beyond the limits. */
  put(key: string, read: CachedRead): void {
    this.delete(key);
    const size = sizeOf(key, read);
    if (size > this.#maxBytes) return;
    this.#map.set(key, read);
    this.#bytes += size;
    while (this.#map.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#map.keys().next().value as string;
      this.delete(oldest);
      this.#evictions++;
    }
  }

  /** Forgets `key`. */
  delete(key: string): void {
    const old = this.#map.get(key);
    if (old === undefined) return;
    this.#map.delete(key);
    this.#bytes -= sizeOf(key, old);
  }

  /** Forgets everything. */
  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  /** Hit, miss and eviction counters and the current size. */
  stats(): CacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      entries: this.#map.size,
      bytes: this.#bytes,
    };
  }
}

/**
 * Checks cache limits and fills in the defaults; throws `RangeError` for a limit that is not
 * a positive integer.
 *
 * @example
 * ```ts
 * import { checkLruCacheOptions } from "@shardkv/shardkv";
 * checkLruCacheOptions({ maxEntries: 100 }).maxBytes; // 67108864
 * ```
 */
export function checkLruCacheOptions(
  options: LruCacheOptions,
): { maxEntries: number; maxBytes: number } {
  const { maxEntries = 10_000, maxBytes = 64 * 1024 * 1024 } = options;
  for (const [name, v] of [["maxEntries", maxEntries], ["maxBytes", maxBytes]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RangeError(`cache.${name} must be a positive integer, received ${describe(v)}`);
    }
  }
  return { maxEntries, maxBytes };
}

function sizeOf(key: string, read: CachedRead): number {
  return key.length * 2 + (read.value?.byteLength ?? 0) + ENTRY_OVERHEAD;
}
