import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeLimited, mergePaged, mergeSorted } from "../core/_merge.ts";
import { compareKeys } from "../mod.ts";
import { byteOrder } from "./_helpers.ts";

function randomKeys(seed: number, n: number): string[] {
  const alphabet = ["a", "b", "z", "é", "\uffff", "\u{10000}", "😀", "\ue000", "0"];
  const out = new Set<string>();
  while (out.size < n) {
    seed = (seed * 48271) % 2147483647;
    let k = "";
    for (let l = 1 + (seed % 4); l > 0; l--) {
      seed = (seed * 48271) % 2147483647;
      k += alphabet[seed % alphabet.length];
    }
    out.add(k);
  }
  return [...out];
}

test("merge: compareKeys equals UTF-8 byte order", () => {
  const keys = randomKeys(1, 300);
  assert.deepEqual([...keys].sort(compareKeys), [...keys].sort(byteOrder));
  assert.ok(compareKeys("\uffff", "\u{10000}") < 0);
  assert.ok(compareKeys("\ue000", "\ud800\udc00") < 0);
  assert.ok(compareKeys("a", "a\u0000") < 0);
  assert.equal(compareKeys("x", "x"), 0);
});

test("merge: mergeSorted equals concat-and-sort, with limit and reverse", () => {
  const keys = randomKeys(2, 400);
  const lists: string[][] = [[], [], [], [], []];
  keys.forEach((k, i) => lists[i % 5].push(k));
  for (const reverse of [false, true]) {
    const sign = reverse ? -1 : 1;
    const sorted = lists.map((l) => [...l].sort((a, b) => sign * byteOrder(a, b)));
    const want = [...keys].sort((a, b) => sign * byteOrder(a, b));
    assert.deepEqual(mergeSorted(sorted, { keyOf: (k) => k, reverse }), want);
    assert.deepEqual(
      mergeSorted(sorted, { keyOf: (k) => k, reverse, limit: 17 }),
      want.slice(0, 17),
    );
  }
  assert.deepEqual(mergeSorted([[], ["a"]], { keyOf: (k: string) => k }), ["a"]);
  assert.deepEqual(mergeSorted([], { keyOf: (k: string) => k }), []);
});

test("merge: mergePaged fetches a page only when a source runs out", async () => {
  const keys = randomKeys(3, 300).sort(byteOrder);
  const sources = [0, 1, 2].map((s) => keys.filter((_, i) => i % 3 === s));
  const fetches = [0, 0, 0];
  const page = 10;
  const fetchers = sources.map((src, s) => (after: string | undefined) => {
    fetches[s]++;
    const start = after === undefined ? 0 : src.findIndex((k) => byteOrder(k, after) > 0);
    return Promise.resolve(start < 0 ? [] : src.slice(start, start + page));
  });
  const all: string[] = [];
  for await (const k of mergePaged(fetchers, { keyOf: (k) => k, pageSize: page })) all.push(k);
  assert.deepEqual(all, keys);
  // 100 keys per source in pages of 10: 10 full pages plus one empty probe at most.
  for (const f of fetches) assert.ok(f <= 11, `too many fetches: ${f}`);

  fetches.fill(0);
  const first: string[] = [];
  for await (const k of mergePaged(fetchers, { keyOf: (k) => k, pageSize: page, limit: 5 })) {
    first.push(k);
  }
  assert.deepEqual(first, keys.slice(0, 5));
  assert.deepEqual(fetches, [1, 1, 1]);
});

/** Sorted `lists` as chunk fetchers that count the items they hand out. */
function chunkSources(lists: string[][], reverse: boolean) {
  const sign = reverse ? -1 : 1;
  const sorted = lists.map((l) => [...l].sort((a, b) => sign * byteOrder(a, b)));
  const read = { items: 0, calls: 0 };
  const sources = sorted.map((l) => (after: string | undefined, limit: number) => {
    read.calls++;
    const from = after === undefined ? 0 : l.findIndex((k) => sign * byteOrder(k, after) > 0);
    const items = from === -1 ? [] : l.slice(from, from + limit);
    read.items += items.length;
    return Promise.resolve(items);
  });
  return { sources, read };
}

test("merge: mergeLimited equals concat-and-sort for even, skewed and empty sources", async () => {
  const keys = randomKeys(3, 600);
  const spreads: [string, (i: number) => number][] = [
    ["even", (i) => i % 8],
    ["skewed", (i) => (i % 10 < 7 ? 0 : i % 8)],
    ["one source", () => 5],
  ];
  for (const [name, spread] of spreads) {
    const lists: string[][] = Array.from({ length: 8 }, () => []);
    keys.forEach((k, i) => lists[spread(i)].push(k));
    for (const reverse of [false, true]) {
      const sign = reverse ? -1 : 1;
      const want = [...keys].sort((a, b) => sign * byteOrder(a, b));
      for (const limit of [1, 7, 100, 599, 600, 1000]) {
        const { sources } = chunkSources(lists, reverse);
        const got = await mergeLimited(sources, { keyOf: (k) => k, limit, reverse });
        assert.deepEqual(got, want.slice(0, limit), `${name} reverse=${reverse} limit=${limit}`);
      }
    }
  }
});

test("merge: mergeLimited reads about one page of items from evenly spread sources", async () => {
  const n = 16;
  const lists: string[][] = Array.from({ length: n }, () => []);
  // 20000 keys spread by a hash-like scramble, as shards are.
  for (let i = 0; i < 20_000; i++) {
    lists[(i * 2654435761) % 2 ** 32 % n].push(`k${String(i).padStart(6, "0")}`);
  }
  const { sources, read } = chunkSources(lists, false);
  const page = await mergeLimited(sources, { keyOf: (k) => k, limit: 1000 });
  assert.equal(page.length, 1000);
  assert.ok(read.items <= 1500, `read ${read.items} items for a page of 1000`);
  // The whole set, page by page: every key once, in order.
  const all: string[] = [];
  let after: string | undefined;
  for (;;) {
    const srcs = lists.map((l) => [...l].sort(byteOrder)).map(
      (l) => (a: string | undefined, limit: number) => {
        const cursor = a ?? after;
        const from = cursor === undefined ? 0 : l.findIndex((k) => byteOrder(k, cursor) > 0);
        return Promise.resolve(from === -1 ? [] : l.slice(from, from + limit));
      },
    );
    const got = await mergeLimited(srcs, { keyOf: (k) => k, limit: 1000 });
    all.push(...got);
    if (got.length < 1000) break;
    after = got.at(-1);
  }
  assert.deepEqual(all, lists.flat().sort(byteOrder));
});
