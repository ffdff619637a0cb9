/**
 * Key-to-shard routing: FNV-1a 32 over the key's UTF-8 bytes, modulo the shard count,
 * with Redis Cluster's `{hash tag}` rule.
 *
 * @module
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * FNV-1a 32-bit hash of the UTF-8 bytes of `s`.
 *
 * @example
 * ```ts
 * import { fnv1a32 } from "@shardkv/shardkv";
 * fnv1a32("a").toString(16); // "e40c292c"
 * ```
 */
export function fnv1a32(s: string): number {
  return hashRange(s, 0, s.length);
}

// Encodes UTF-8 on the fly so routing never allocates.
function hashRange(s: string, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
      } else {
        h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
      }
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    }
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h >>> 0;
}

/**
 * The shard of `key` among `shards`. When the key has a hash tag (the text between its first
 * `{` and the first `}` after it, if not empty) only the tag is hashed, so
 * `{user:1}:profile` and `{user:1}:cart` share a shard.
 *
 * @example
 * ```ts
 * import { shardOf } from "@shardkv/shardkv";
 * shardOf("{user:1}:profile", 16) === shardOf("{user:1}:cart", 16); // true
 * ```
 */
export function shardOf(key: string, shards: number): number {
  if (shards === 1) return 0;
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) {
      return hashRange(key, open + 1, close) % shards;
    }
  }
  return hashRange(key, 0, key.length) % shards;
}
