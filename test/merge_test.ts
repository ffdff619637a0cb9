import { test } from "node:test";
import assert from "node:assert/strict";
import { mergePaged, mergeSorted } from "../core/_merge.ts";
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
    assert.deepEqual(mergeSorted(sorted, { keyOf: (k) => k, reverse, limit: 17 }), want.slice(0, 17));
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
