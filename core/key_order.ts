/**
 * Key order: UTF-8 byte order, what SQLite's BINARY comparison gives.
 *
 * @module
 */

/**
 * Compares two well-formed strings by their UTF-8 bytes, without encoding them.
 * UTF-16 order only differs from code point (= UTF-8) order where a surrogate meets a unit
 * in U+E000..U+FFFF, so only that case is remapped.
 *
 * @example
 * ```ts
 * import { compareKeys } from "@shardkv/shardkv";
 * ["\u{10000}", "\uffff"].sort(compareKeys); // ["\uffff", "\u{10000}"]
 * ```
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

/**
 * The smallest string greater than every string that starts with `prefix`, or `undefined`
 * when there is none (empty prefix, or only U+10FFFF). UTF-8 is prefix-free and keeps code
 * point order, so bumping the last code point gives an exact exclusive upper bound.
 */
export function prefixEnd(prefix: string): string | undefined {
  let end = prefix;
  while (end.length > 0) {
    const last = end.codePointAt(end.length - 1)!;
    // A trailing low surrogate belongs to a pair: step back over both units.
    const isPair = last >= 0xdc00 && last <= 0xdfff;
    const cp = isPair ? end.codePointAt(end.length - 2)! : last;
    end = end.slice(0, end.length - (isPair ? 2 : 1));
    if (cp < 0x10ffff) {
      return end + String.fromCodePoint(cp === 0xd7ff ? 0xe000 : cp + 1);
    }
  }
  return undefined;
}
