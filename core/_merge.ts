// K-way merges of per-shard scan results, each already sorted in UTF-8 byte order. A binary
// heap of shard cursors makes a merge O(n log k) and stops as soon as `limit` items are out.
import { compareKeys } from "./key_order.ts";

/** Fetches the next page of one shard after `after` (exclusive), in scan order. */
export type PageFetcher<T> = (after: string | undefined) => Promise<T[]>;

interface Cursor<T> {
  items: T[];
  pos: number;
  /** The source may have more after `items` (only for paged merges). */
  more: boolean;
  fetch?: PageFetcher<T>;
  /** Fetches the source's next chunk (only for limited merges). */
  next?: ChunkFetcher<T>;
}

class CursorHeap<T> {
  #heap: Cursor<T>[] = [];
  #less: (a: Cursor<T>, b: Cursor<T>) => boolean;

  constructor(keyOf: (item: T) => string, reverse: boolean) {
    const sign = reverse ? -1 : 1;
    this.#less = (a, b) => sign * compareKeys(keyOf(a.items[a.pos]), keyOf(b.items[b.pos])) < 0;
  }

  get size(): number {
    return this.#heap.length;
  }

  push(c: Cursor<T>): void {
    const h = this.#heap;
    h.push(c);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  /** The cursor holding the smallest head. */
  top(): Cursor<T> {
    return this.#heap[0];
  }

  pop(): Cursor<T> {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.#siftDown();
    }
    return top;
  }

  /** Restores heap order after the top cursor advanced. */
  #siftDown(): void {
    const h = this.#heap;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l], h[m])) m = l;
      if (r < h.length && this.#less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }

  /** Call after advancing the top cursor that still has items. */
  fixTop(): void {
    this.#siftDown();
  }
}

/** Merges sorted lists into one sorted list of at most `limit` items. */
export function mergeSorted<T>(
  lists: readonly T[][],
  options: { keyOf: (item: T) => string; limit?: number; reverse?: boolean },
): T[] {
  const limit = options.limit ?? Infinity;
  const nonEmpty = lists.filter((l) => l.length > 0);
  if (nonEmpty.length <= 1) return (nonEmpty[0] ?? []).slice(0, limit);
  const heap = new CursorHeap<T>(options.keyOf, options.reverse ?? false);
  for (const items of nonEmpty) heap.push({ items, pos: 0, more: false });
  const out: T[] = [];
  while (heap.size > 0 && out.length < limit) {
    const c = heap.top();
    out.push(c.items[c.pos++]);
    if (c.pos < c.items.length) heap.fixTop();
    else heap.pop();
  }
  return out;
}

/**
 * Lazily merges paged sorted sources: a source is asked for its next page only when its
 * current page runs out; a page shorter than `pageSize` marks it exhausted.
 */
export async function* mergePaged<T>(
  sources: readonly PageFetcher<T>[],
  options: {
    keyOf: (item: T) => string;
    pageSize: number;
    limit?: number;
    reverse?: boolean;
  },
): AsyncGenerator<T, void, undefined> {
  const { keyOf, pageSize } = options;
  let left = options.limit ?? Infinity;
  const heap = new CursorHeap<T>(keyOf, options.reverse ?? false);
  const firsts = await Promise.all(sources.map((fetch) => fetch(undefined)));
  firsts.forEach((items, i) => {
    if (items.length > 0) {
      heap.push({ items, pos: 0, more: items.length >= pageSize, fetch: sources[i] });
    }
  });
  while (heap.size > 0 && left > 0) {
    const c = heap.top();
    const item = c.items[c.pos++];
    left--;
    if (c.pos < c.items.length) heap.fixTop();
    else {
      heap.pop();
      if (c.more) {
        const items = await c.fetch!(keyOf(item));
        if (items.length > 0) {
          heap.push({ items, pos: 0, more: items.length >= pageSize, fetch: c.fetch });
        }
      }
    }
    yield item;
  }
}

/** Fetches up to `limit` items of one source after `after` (exclusive), in scan order. */
export type ChunkFetcher<T> = (after: string | undefined, limit: number) => Promise<T[]>;

/**
 * Merges sorted sources into at most `limit` items while reading about `limit` items in all:
 * each source is asked first for a little more than its even share (`limit / sources`), and
 * again, for a chunk of that size, only when the merge needs the item after its last one. A
 * page of 1000 over 16 shards so reads ~1300 rows rather than 16000.
 */
export async function mergeLimited<T>(
  sources: readonly ChunkFetcher<T>[],
  options: { keyOf: (item: T) => string; limit: number; reverse?: boolean },
): Promise<T[]> {
  const { keyOf, limit } = options;
  if (sources.length === 1) return await sources[0](undefined, limit);
  // Hashing spreads keys evenly, so a source holds ~limit/n of the page give or take its
  // square root: a quarter more plus a few covers most sources without a second round trip.
  const chunk = Math.min(limit, Math.ceil((limit / sources.length) * 1.1) + 4);
  const heap = new CursorHeap<T>(keyOf, options.reverse ?? false);
  const firsts = await Promise.all(sources.map((fetch) => fetch(undefined, chunk)));
  firsts.forEach((items, i) => {
    if (items.length > 0) {
      heap.push({ items, pos: 0, more: items.length >= chunk, next: sources[i] });
    }
  });
  const out: T[] = [];
  while (heap.size > 0 && out.length < limit) {
    const c = heap.top();
    const item = c.items[c.pos++];
    out.push(item);
    if (c.pos < c.items.length) {
      heap.fixTop();
      continue;
    }
    heap.pop();
    const left = limit - out.length;
    if (!c.more || left === 0) continue;
    // This source's next item may come before every other head: fetch it before going on.
    const size = Math.min(left, chunk);
    const items = await c.next!(keyOf(item), size);
    if (items.length > 0) heap.push({ items, pos: 0, more: items.length >= size, next: c.next });
  }
  return out;
}
