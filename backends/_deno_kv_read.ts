// Reads of the deno-kv shard: heads, the chunks of large values, and key ranges (the layout is
// described in _deno_kv_layout.ts). A missing chunk means a newer write has collected it, so
// the head is read again.
import type { Entry, RangeQuery, RangeResult } from "../core/driver.ts";
import { compareKeys } from "../core/key_order.ts";
import type { DenoKv, KvKey } from "./_deno_kv_api.ts";
import { checksum } from "./_sqlite_verify.ts";
import {
  chunkKey,
  DamagedRecordError,
  decodeHead,
  type Head,
  type HeadKey,
  headKeyOf,
  HEADS_END,
  HEADS_START,
  isLongHeadKey,
  MARK_KEY,
  MAX_READ_KEYS,
  SHORT_KEY,
} from "./_deno_kv_layout.ts";

/** A head as read: its Deno KV key, versionstamp (`null`: missing) and record. */
export interface Stored {
  hk: HeadKey;
  versionstamp: string | null;
  head: Head | undefined;
}

/** Chunks of one id. */
export interface Chunks {
  id: Uint8Array;
  count: number;
  size: number;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

export const isLiveHead = (head: Head, now: number): boolean =>
  head.expiresAt === null || now < head.expiresAt;

/** Reads heads, values and ranges of one database. */
export class DenoKvReader {
  #kv: DenoKv;

  constructor(kv: DenoKv) {
    this.#kv = kv;
  }

  async readHead(key: string): Promise<Stored> {
    const hk = headKeyOf(key);
    const e = await this.#kv.get(hk.kvKey);
    return storedOf(key, hk, e.value, e.versionstamp);
  }

  async readHeads(keys: readonly string[]): Promise<Map<string, Stored>> {
    if (keys.length === 1) return new Map([[keys[0], await this.readHead(keys[0])]]);
    const hks = keys.map(headKeyOf);
    const kvKeys = hks.map((h) => h.kvKey);
    let found: { value: unknown; versionstamp: string | null }[];
    if (kvKeys.length <= MAX_READ_KEYS) found = await this.#kv.getMany([...kvKeys]);
    else {
      // getMany reads at most 10 keys at once: the change mark (rewritten by every commit that
      // changes heads) read before and after the reads proves they saw one state.
      for (;;) {
        const before = await this.#kv.get(MARK_KEY);
        const reads = [];
        for (let i = 0; i < kvKeys.length; i += MAX_READ_KEYS) {
          reads.push(this.#kv.getMany(kvKeys.slice(i, i + MAX_READ_KEYS)));
        }
        found = (await Promise.all(reads)).flat();
        if ((await this.#kv.get(MARK_KEY)).versionstamp === before.versionstamp) break;
      }
    }
    const out = new Map<string, Stored>();
    keys.forEach((key, i) =>
      out.set(key, storedOf(key, hks[i], found[i].value, found[i].versionstamp))
    );
    return out;
  }

  /** The whole value of a chunked head, or `undefined` when a chunk is gone. */
  async readChunks(c: Chunks): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(c.size);
    let i = 0;
    let at = 0;
    const batchSize = Math.min(c.count, 200);
    for await (
      const e of this.#kv.list({ start: chunkKey(c.id, 0), end: chunkKey(c.id, c.count) }, {
        batchSize,
      })
    ) {
      const piece = e.value as Uint8Array;
      if (e.key[2] !== i || at + piece.length > c.size) return undefined;
      out.set(piece, at);
      at += piece.length;
      i++;
    }
    return i === c.count && at === c.size ? out : undefined;
  }

  /** The live entry behind `stored`, reading the head again while its chunks are being replaced. */
  async entry(key: string, stored: Stored, now: number): Promise<Entry | undefined> {
    for (let s = stored;;) {
      const head = s.head;
      if (head === undefined || !isLiveHead(head, now)) return undefined;
      const value = head.inline ?? await this.readChunks(head.chunks!);
      if (value !== undefined) {
        return {
          value: checked(key, head, value),
          expiresAt: head.expiresAt,
          version: head.version,
        };
      }
      const again = await this.readHead(key);
      if (again.versionstamp === s.versionstamp) {
        throw new DamagedRecordError("the stored value lost chunks", key);
      }
      s = again;
    }
  }

  /** Live entries of `keys`; `clock` is read once the heads are in. */
  async getEntries(keys: readonly string[], clock: () => number): Promise<Map<string, Entry>> {
    const heads = await this.readHeads(keys);
    const now = clock();
    const out = new Map<string, Entry>();
    for (const [key, stored] of heads) {
      const e = await this.entry(key, stored, now);
      if (e !== undefined) out.set(key, e);
    }
    return out;
  }

  async range(q: RangeQuery, now: number): Promise<RangeResult> {
    const keys: string[] = [];
    const values: Uint8Array[] = [];
    const expiresAt: (number | null)[] = [];
    const withExpiry = q.withExpiry === true && !q.keysOnly;
    const result = (): RangeResult => withExpiry ? { keys, values, expiresAt } : { keys, values };
    if (q.lo !== undefined && q.hi !== undefined && compareKeys(q.lo, q.hi) >= 0) return result();
    // Long keys come in groups (same first part) in hash order: collect, sort, then take.
    let group: { key: string; head: Head; versionstamp: string }[] = [];
    let groupPart: Uint8Array | undefined;
    const take = async (key: string, head: Head, versionstamp: string): Promise<void> => {
      if (keys.length >= q.limit || !isLiveHead(head, now)) return;
      if (q.lo !== undefined) {
        const c = compareKeys(key, q.lo);
        if (c < 0 || (c === 0 && q.loExclusive)) return;
      }
      if (q.hi !== undefined && compareKeys(key, q.hi) >= 0) return;
      if (q.keysOnly) {
        keys.push(key);
        return;
      }
      // A chunked value being replaced is read again with its (new) head.
      const entry = head.inline !== undefined
        ? { value: checked(key, head, head.inline), expiresAt: head.expiresAt }
        : await this.entry(key, { hk: headKeyOf(key), versionstamp, head }, now);
      if (entry === undefined) return;
      keys.push(key);
      values.push(entry.value);
      if (withExpiry) expiresAt.push(entry.expiresAt);
    };
    const flush = async (): Promise<void> => {
      group.sort((a, b) => q.reverse ? compareKeys(b.key, a.key) : compareKeys(a.key, b.key));
      for (const g of group) await take(g.key, g.head, g.versionstamp);
      group = [];
      groupPart = undefined;
    };
    const batchSize = Math.max(1, Math.min(q.limit === Infinity ? 500 : q.limit + 1, 500));
    for await (const e of this.#kv.list(selectorOf(q), { reverse: q.reverse, batchSize })) {
      const long = isLongHeadKey(e.key);
      const head = decodeHead(e.value, long ? undefined : text.decode(e.key[0] as Uint8Array));
      if (long) {
        const part = e.key[0] as Uint8Array;
        if (groupPart !== undefined && !sameBytes(part, groupPart)) {
          await flush();
          if (keys.length >= q.limit) break;
        }
        groupPart = part;
        group.push({ key: text.decode(head.longKey), head, versionstamp: e.versionstamp });
        continue;
      }
      await flush();
      await take(text.decode(e.key[0] as Uint8Array), head, e.versionstamp);
      if (keys.length >= q.limit) break;
    }
    await flush();
    return result();
  }
}

/** `value`, once it matches the checksum of its head (older heads carry none). */
function checked(key: string, head: Head, value: Uint8Array): Uint8Array {
  if (head.crc === undefined || checksum(key, value) === head.crc) return value;
  throw new DamagedRecordError(
    `stored value (${value.length} bytes) does not match its checksum`,
    key,
  );
}

function storedOf(key: string, hk: HeadKey, value: unknown, versionstamp: string | null): Stored {
  if (versionstamp === null) return { hk, versionstamp, head: undefined };
  const head = decodeHead(value, key);
  if (hk.longKey !== undefined && !sameBytes(hk.longKey, head.longKey)) {
    throw new Error(
      `deno-kv: key ${JSON.stringify(key.slice(0, 40))}… collides with another key's hash`,
    );
  }
  return { hk, versionstamp, head };
}

/** list() bounds of a range query. Bounds longer than SHORT_KEY bytes widen to their whole
 * long-key group; range() filters by the exact bounds. */
function selectorOf(q: RangeQuery): { start: KvKey; end: KvKey } {
  let start = HEADS_START;
  let end = HEADS_END;
  if (q.lo !== undefined) {
    const lo = utf8.encode(q.lo);
    start = [lo.length > SHORT_KEY ? lo.subarray(0, SHORT_KEY) : lo];
  }
  if (q.hi !== undefined) {
    const hi = utf8.encode(q.hi);
    end = hi.length > SHORT_KEY ? [hi.subarray(0, SHORT_KEY), ""] : [hi];
  }
  return { start, end };
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
