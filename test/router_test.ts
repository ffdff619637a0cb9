import { test } from "node:test";
import assert from "node:assert/strict";
import { fnv1a32, shardOf } from "../mod.ts";
import { enc } from "./_helpers.ts";

/** Byte-at-a-time reference FNV-1a over TextEncoder output. */
function reference(s: string): number {
  let h = 0x811c9dc5;
  for (const b of enc(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

test("router: FNV-1a 32 known vectors", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("foobar"), 0xbf9cf968);
});

test("router: FNV-1a hashes the UTF-8 bytes (1-4 byte characters)", () => {
  for (
    const s of [
      "é",
      "€",
      "😀",
      "a\u0000b",
      "ключ",
      "日本語のキー",
      "\uffff\u{10000}\u{10ffff}",
      "user:123",
    ]
  ) {
    assert.equal(fnv1a32(s), reference(s), s);
  }
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 500; i++) {
    const cps = Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => {
      const r = rnd();
      const cp = r < 0.4
        ? Math.floor(rnd() * 0x80)
        : r < 0.7
        ? 0x80 + Math.floor(rnd() * 0x780)
        : r < 0.9
        ? 0xe000 + Math.floor(rnd() * 0x1fff)
        : 0x10000 + Math.floor(rnd() * 0xfffff);
      return String.fromCodePoint(cp);
    });
    const s = cps.join("");
    assert.equal(fnv1a32(s), reference(s), JSON.stringify(s));
  }
});

test("router: shardOf is FNV-1a modulo the shard count, in range", () => {
  for (const key of ["user:1", "user:2", "order:789", "é"]) {
    assert.equal(shardOf(key, 16), reference(key) % 16);
    assert.equal(shardOf(key, 1), 0);
  }
  const counts = new Array(64).fill(0);
  for (let i = 0; i < 64_000; i++) counts[shardOf(`key_${i}`, 64)]++;
  for (const c of counts) assert.ok(c > 700 && c < 1300, `uneven shard: ${c}`);
});

test("router: hash tags follow Redis Cluster's rule", () => {
  const n = 256;
  const tagged = (tag: string) => reference(tag) % n;
  assert.equal(shardOf("{user:1}:profile", n), tagged("user:1"));
  assert.equal(shardOf("{user:1}:cart", n), tagged("user:1"));
  assert.equal(shardOf("x{user:1}y", n), tagged("user:1"));
  // First { and the first } after it.
  assert.equal(shardOf("a{b}c{d}", n), tagged("b"));
  assert.equal(shardOf("{a{b}c}", n), tagged("a{b"));
  // Empty tag or no closing brace: the whole key is hashed.
  assert.equal(shardOf("{}user", n), tagged("{}user"));
  assert.equal(shardOf("x{}{y}", n), tagged("x{}{y}"));
  assert.equal(shardOf("{nope", n), tagged("{nope"));
  assert.equal(shardOf("}{", n), tagged("}{"));
  assert.equal(shardOf("{é😀}:1", n), tagged("é😀"));
});
