// Redis keys (binary, any length, 16 databases) mapped onto shardkv keys (non-empty UTF-8
// strings of at most MAX_KEY_BYTES), plus Redis's glob matching and SCAN cursors.
//
// The mapping keeps database 0's ordinary keys unchanged, so library code and Redis clients
// share them: a key of db 0 that is valid UTF-8, non-empty and does not start with U+0000 is
// stored as itself. Every other Redis key is stored as
//   "\0" + <db as one hex digit> + "u" + <the key as UTF-8 text>      (valid UTF-8 keys)
//   "\0" + <db as one hex digit> + "b" + <one char U+0000..U+00FF per byte> (other keys)
// A db-0 key that starts with U+0000 is itself stored under "\0" + "0u", so no Redis key of one
// database can collide with a key of another. Hash tags survive the mapping (the prefix has no
// braces), so keys that share a {tag} still share a shard.
import { MAX_KEY_BYTES, shardOf, type Store } from "../mod.ts";
import { CommandError, encoder, fromLatin1, latin1, utf8 } from "./_cmd_args.ts";

/** Redis's databases: SELECT 0..15. */
export const DATABASES = 16;
/** Keys of db 0 stored as themselves sort after this one (plus the db's "\0" + "0" ranges). */
const PLAIN_AFTER = "\0\u{10FFFF}";

/** The store key of Redis key `bytes` in database `db`. */
export function storeKey(db: number, bytes: Uint8Array): string {
  const text = utf8(bytes);
  let key: string;
  if (text !== undefined) {
    key = db === 0 && text !== "" && text.charCodeAt(0) !== 0
      ? text
      : `\0${db.toString(16)}u${text}`;
  } else key = `\0${db.toString(16)}b${latin1(bytes)}`;
  // The UTF-8 length is at most 3 bytes per UTF-16 unit: count exactly only near the limit.
  if (key.length * 3 > MAX_KEY_BYTES && encoder.encode(key).byteLength > MAX_KEY_BYTES) {
    throw new CommandError(
      `ERR key too long: shardkv keys are at most ${MAX_KEY_BYTES} bytes, received ${bytes.length}`,
    );
  }
  return key;
}

/** The Redis key (bytes) a store key of database `db` holds. */
export function redisKey(key: string): Uint8Array {
  if (key.charCodeAt(0) !== 0) return encoder.encode(key);
  return key[2] === "b" ? fromLatin1(key.slice(3)) : encoder.encode(key.slice(3));
}

/** The database of a store key. */
export function dbOf(key: string): number {
  return key.charCodeAt(0) === 0 ? parseInt(key[1], 16) : 0;
}

/** The shard of a store key. */
export function shardOfKey(store: Store, key: string): number {
  return shardOf(key, store.shards);
}

/** One prefix range of a database: scan `prefix`, starting after `after` when given. */
export interface KeyRange {
  prefix: string;
  after?: string;
}

/** The valid UTF-8 text of the longest prefix of `bytes` that is whole characters. */
function utf8Prefix(bytes: Uint8Array): string | undefined {
  for (let cut = 0; cut <= 3 && cut <= bytes.length; cut++) {
    const text = utf8(bytes.subarray(0, bytes.length - cut));
    if (text !== undefined) return text;
  }
  return undefined;
}

/** The store ranges holding the keys of `db` that start with the bytes `prefix`. */
export function rangesOf(db: number, prefix: Uint8Array): KeyRange[] {
  const text = utf8Prefix(prefix);
  const h = db.toString(16);
  const ranges: KeyRange[] = [];
  if (db === 0 && text !== undefined && prefix[0] !== 0) {
    ranges.push(text === "" ? { prefix: "", after: PLAIN_AFTER } : { prefix: text });
  }
  if (text !== undefined) ranges.push({ prefix: `\0${h}u${text}` });
  ranges.push({ prefix: `\0${h}b${latin1(prefix)}` });
  return ranges;
}

/** Every store key of `db` matching `pattern` (null: all), a page at a time. */
export async function* keysOf(
  store: Store,
  db: number,
  pattern: Uint8Array | null,
): AsyncGenerator<string> {
  const glob = pattern === null ? null : new Glob(pattern);
  for (const range of rangesOf(db, glob === null ? new Uint8Array(0) : glob.prefix)) {
    let after = range.after;
    for (;;) {
      const page = await store.scanKeys(range.prefix, { limit: 1000, after });
      for (const key of page) if (glob === null || glob.matches(redisKey(key))) yield key;
      if (page.length < 1000) break;
      after = page[page.length - 1];
    }
  }
}

/** Keys of `db`, counted. */
export async function countDb(store: Store, db: number): Promise<number> {
  let n = 0;
  for await (const _ of keysOf(store, db, null)) n++;
  return n;
}

/** Deletes every key of `db`; returns how many. */
export async function flushDb(store: Store, db: number): Promise<number> {
  let batch: string[] = [];
  let n = 0;
  for await (const key of keysOf(store, db, null)) {
    batch.push(key);
    if (batch.length === 1000) {
      n += await store.batchDelete(batch);
      batch = [];
    }
  }
  return n + (batch.length > 0 ? await store.batchDelete(batch) : 0);
}

/**
 * A Redis glob pattern (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes), matched over bytes exactly as
 * Redis's stringmatchlen does, including its treatment of unbalanced `[` and trailing `\`.
 * Written here because Redis's corner cases differ from every glob library's.
 */
export class Glob {
  readonly #p: Uint8Array;
  /** The literal bytes before the first wildcard: the scan narrows to keys starting with them. */
  readonly prefix: Uint8Array;

  constructor(pattern: Uint8Array) {
    this.#p = pattern;
    const lit: number[] = [];
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === 0x2a || c === 0x3f || c === 0x5b) break;
      if (c === 0x5c && i + 1 < pattern.length) lit.push(pattern[++i]);
      else lit.push(c);
    }
    this.prefix = new Uint8Array(lit);
  }

  /** Whether `s` matches. */
  matches(s: Uint8Array): boolean {
    return this.#match(0, s, 0, { skip: false });
  }

  #match(pi: number, s: Uint8Array, si: number, state: { skip: boolean }): boolean {
    const p = this.#p;
    const signed = (b: number): number => (b > 127 ? b - 256 : b);
    while (pi < p.length && si < s.length) {
      switch (p[pi]) {
        case 0x2a: { // *
          while (pi + 1 < p.length && p[pi + 1] === 0x2a) pi++;
          if (pi === p.length - 1) return true;
          while (si < s.length) {
            if (this.#match(pi + 1, s, si, state)) return true;
            if (state.skip) return false;
            si++;
          }
          state.skip = true;
          return false;
        }
        case 0x3f: // ?
          si++;
          break;
        case 0x5b: { // [
          pi++;
          const not = p[pi] === 0x5e;
          if (not) pi++;
          let match = false;
          for (;;) {
            if (p[pi] === 0x5c && p.length - pi >= 2) {
              pi++;
              if (p[pi] === s[si]) match = true;
            } else if (p[pi] === 0x5d) {
              break;
            } else if (pi >= p.length) {
              pi--;
              break;
            } else if (p.length - pi >= 3 && p[pi + 1] === 0x2d) {
              let start = signed(p[pi]);
              let end = signed(p[pi + 2]);
              const c = signed(s[si]);
              if (start > end) [start, end] = [end, start];
              pi += 2;
              if (c >= start && c <= end) match = true;
            } else if (p[pi] === s[si]) {
              match = true;
            }
            pi++;
          }
          if (not) match = !match;
          if (!match) return false;
          si++;
          break;
        }
        case 0x5c: // backslash
          if (p.length - pi >= 2) pi++;
          if (p[pi] !== s[si]) return false;
          si++;
          break;
        default:
          if (p[pi] !== s[si]) return false;
          si++;
      }
      pi++;
      if (si === s.length) {
        while (p[pi] === 0x2a) pi++;
        break;
      }
    }
    return pi >= p.length && si === s.length;
  }
}

/**
 * SCAN cursors. redis-cli parses a cursor as an unsigned 64-bit integer, so the cursor cannot be
 * the store's `after` key itself: each unfinished scan stores where it stopped under a number
 * (1, 2, ...) and the client sends that number back. "0" starts and ends a scan. The table keeps
 * the newest {@linkcode ScanCursors.limit} cursors; an older one gets `-ERR invalid cursor`.
 *
 * @example
 * ```ts
 * import { ScanCursors } from "@shardkv/shardkv/server";
 * const cursors = new ScanCursors();
 * const id = cursors.save("user:42");
 * cursors.resume(id); // "user:42"
 * ```
 */
export class ScanCursors {
  /** How many unfinished cursors are kept. */
  static readonly limit = 10_000;
  #next = 1;
  #afters = new Map<string, string>();

  /** Stores `after` and returns its cursor. */
  save(after: string): string {
    const id = String(this.#next++);
    this.#afters.set(id, after);
    if (this.#afters.size > ScanCursors.limit) {
      this.#afters.delete(this.#afters.keys().next().value!);
    }
    return id;
  }

  /** The `after` key of `cursor` (`undefined` for "0"); throws for an unknown cursor. */
  resume(cursor: string): string | undefined {
    if (cursor === "0") return undefined;
    const after = this.#afters.get(cursor);
    if (after === undefined) throw new CommandError("ERR invalid cursor");
    return after;
  }
}
