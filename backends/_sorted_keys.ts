// An ordered set of keys for the memory backend: sorted chunks of bounded size, so an
// insert or delete moves at most one chunk's worth of elements instead of the whole set.
import { compareKeys } from "../core/key_order.ts";

const CHUNK = 512;

export class SortedKeys {
  #chunks: string[][] = [];

  get size(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.length;
    return n;
  }

  /** Adds `key` if absent. */
  add(key: string): void {
    const chunks = this.#chunks;
    if (chunks.length === 0) {
      chunks.push([key]);
      return;
    }
    const ci = this.#chunkFor(key);
    const chunk = chunks[ci];
    const i = lowerBound(chunk, key);
    if (i < chunk.length && chunk[i] === key) return;
    chunk.splice(i, 0, key);
    if (chunk.length > CHUNK * 2) chunks.splice(ci + 1, 0, chunk.splice(CHUNK));
  }

  /** Removes `key` if present. */
  delete(key: string): void {
    if (this.#chunks.length === 0) return;
    const ci = this.#chunkFor(key);
    const chunk = this.#chunks[ci];
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return;
    chunk.splice(i, 1);
    if (chunk.length === 0) this.#chunks.splice(ci, 1);
  }

  /**
   * Keys in `[lo, hi)` (either bound open when `undefined`; `lo` exclusive when `loExclusive`),
   * ascending or descending, stopping after `limit` keys that `accept` returns true for.
   */
  range(
    bounds: {
      lo?: string;
      loExclusive?: boolean;
      hi?: string;
      reverse: boolean;
      limit: number;
    },
    accept: (key: string) => boolean,
  ): string[] {
    const out: string[] = [];
    const chunks = this.#chunks;
    if (chunks.length === 0 || bounds.limit <= 0) return out;
    const inLo = (k: string) =>
      bounds.lo === undefined ||
      (bounds.loExclusive ? compareKeys(k, bounds.lo) > 0 : compareKeys(k, bounds.lo) >= 0);
    const inHi = (k: string) => bounds.hi === undefined || compareKeys(k, bounds.hi) < 0;
    if (!bounds.reverse) {
      let ci = bounds.lo === undefined ? 0 : this.#chunkFor(bounds.lo);
      let i = bounds.lo === undefined ? 0 : lowerBound(chunks[ci], bounds.lo);
      for (; ci < chunks.length; ci++, i = 0) {
        const c = chunks[ci];
        for (; i < c.length; i++) {
          const k = c[i];
          if (!inLo(k)) continue;
          if (!inHi(k)) return out;
          if (accept(k) && out.push(k) >= bounds.limit) return out;
        }
      }
    } else {
      let ci = bounds.hi === undefined ? chunks.length - 1 : this.#chunkFor(bounds.hi);
      let i = bounds.hi === undefined ? chunks[ci].length - 1 : lowerBound(chunks[ci], bounds.hi);
      for (; ci >= 0; ci--, i = ci >= 0 ? chunks[ci].length - 1 : 0) {
        const c = chunks[ci];
        for (i = Math.min(i, c.length - 1); i >= 0; i--) {
          const k = c[i];
          if (!inHi(k)) continue;
          if (!inLo(k)) return out;
          if (accept(k) && out.push(k) >= bounds.limit) return out;
        }
      }
    }
    return out;
  }

  /** Index of the chunk whose range holds `key` (the last chunk whose first key is <= key). */
  #chunkFor(key: string): number {
    const chunks = this.#chunks;
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (compareKeys(chunks[mid][0], key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(arr[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
