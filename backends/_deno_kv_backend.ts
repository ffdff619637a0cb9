// The deno-kv shard: one Deno KV database, laid out as described in _deno_kv_layout.ts.
//
// A write (apply, update, removeAll) runs in three steps, one write at a time per shard:
//   1. stage: values larger than INLINE_MAX are written as chunks under a fresh id, with a
//      "p" record so a crash before step 2 leaves only reclaimable garbage;
//   2. flip: every head (plus expiry index, "g" records for superseded chunks, deletion of the
//      "p" records) in ONE atomic(), or, when that does not fit one atomic(), through a redo
//      log whose "w" marker commits atomically and is replayed on the next open after a crash;
//   3. collect: chunks of superseded values are deleted.
// Readers read a head, then the chunks of its id; a missing chunk means a newer write has
// collected them, so they read the head again.
import { BaseDriver, type Update } from "../core/base_driver.ts";
import {
  type Checks,
  type Entry,
  matches,
  type RangeQuery,
  type RangeResult,
  type WriteOp,
} from "../core/driver.ts";
import { compareKeys } from "../core/key_order.ts";
import type { DenoKv, KvKey } from "./_deno_kv_api.ts";
import {
  chunkKey,
  decodeHead,
  decodeLog,
  decodeRecord,
  encodeHead,
  encodeLog,
  encodeRecord,
  expiryKey,
  garbageKey,
  type Head,
  type HeadKey,
  headKeyOf,
  HEADS_END,
  HEADS_START,
  INLINE_MAX,
  isLongHeadKey,
  logKey,
  MAX_CHECKS,
  MAX_READ_KEYS,
  type Mutation,
  newId,
  packCommits,
  pendingKey,
  SHORT_KEY,
  splitChunks,
} from "./_deno_kv_layout.ts";

/** What {@linkcode createDenoKvBackend} needs besides the database. */
export interface DenoKvBackendInit {
  now: () => number;
  /** Staging ("p" records) older than this many wall-clock ms is reclaimed (default 60 s). */
  staleStagingMs?: number;
}

/** A head as read: its Deno KV key, versionstamp (`null`: missing) and record. */
interface Stored {
  hk: HeadKey;
  versionstamp: string | null;
  head: Head | undefined;
}

/** Chunks of one id. */
interface Chunks {
  id: Uint8Array;
  count: number;
  size: number;
}

const EMPTY = new Uint8Array(0);
/** How long a commit keeps retrying while another handle holds the database's write lock. */
const BUSY_TIMEOUT_MS = 5000;
const utf8 = new TextEncoder();
const text = new TextDecoder();

const isLiveHead = (head: Head, now: number): boolean =>
  head.expiresAt === null || now < head.expiresAt;

/** Wraps an open database as a shard; replays an interrupted commit first. */
export async function createDenoKvBackend(
  kv: DenoKv,
  init: DenoKvBackendInit,
): Promise<DenoKvBackend> {
  const backend = new DenoKvBackend(kv, init);
  await backend.recover();
  return backend;
}

export class DenoKvBackend extends BaseDriver {
  #kv: DenoKv;
  #staleStagingMs: number;
  /** False while the database holds no chunks (checked on open); writes then skip reads. */
  #mayHaveChunks = true;
  /** Tail of the chain that runs this shard's writes one at a time. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(kv: DenoKv, init: DenoKvBackendInit) {
    super(init.now);
    this.#kv = kv;
    this.#staleStagingMs = init.staleStagingMs ?? 60_000;
  }

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#writes.then(run);
    this.#writes = next.catch(() => {});
    return next;
  }

  // --- reads --------------------------------------------------------------------------------

  async #readHead(key: string): Promise<Stored> {
    const hk = headKeyOf(key);
    const e = await this.#kv.get(hk.kvKey);
    return this.#stored(key, hk, e.value, e.versionstamp);
  }

  async #readHeads(keys: readonly string[]): Promise<Map<string, Stored>> {
    const hks = keys.map(headKeyOf);
    const reads: Promise<{ value: unknown; versionstamp: string | null }[]>[] = [];
    for (let i = 0; i < hks.length; i += MAX_READ_KEYS) {
      reads.push(this.#kv.getMany(hks.slice(i, i + MAX_READ_KEYS).map((h) => h.kvKey)));
    }
    const found = (await Promise.all(reads)).flat();
    const out = new Map<string, Stored>();
    keys.forEach((key, i) =>
      out.set(key, this.#stored(key, hks[i], found[i].value, found[i].versionstamp))
    );
    return out;
  }

  #stored(key: string, hk: HeadKey, value: unknown, versionstamp: string | null): Stored {
    if (versionstamp === null) return { hk, versionstamp, head: undefined };
    const head = decodeHead(value);
    if (hk.longKey !== undefined && !sameBytes(hk.longKey, head.longKey)) {
      throw new Error(
        `deno-kv: key ${JSON.stringify(key.slice(0, 40))}… collides with another key's hash`,
      );
    }
    return { hk, versionstamp, head };
  }

  /** The whole value of a chunked head, or `undefined` when a chunk is gone. */
  async #readChunks(c: Chunks): Promise<Uint8Array | undefined> {
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
  async #entry(key: string, stored: Stored, now: number): Promise<Entry | undefined> {
    for (let s = stored;;) {
      const head = s.head;
      if (head === undefined || !isLiveHead(head, now)) return undefined;
      const value = head.inline ?? await this.#readChunks(head.chunks!);
      if (value !== undefined) return { value, expiresAt: head.expiresAt };
      const again = await this.#readHead(key);
      if (again.versionstamp === s.versionstamp) {
        throw new Error(`deno-kv: the value of ${JSON.stringify(key.slice(0, 40))} lost chunks`);
      }
      s = again;
    }
  }

  async getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    const heads = await this.#readHeads(keys);
    const now = this.now();
    const out = new Map<string, Entry>();
    for (const [key, stored] of heads) {
      const e = await this.#entry(key, stored, now);
      if (e !== undefined) out.set(key, e);
    }
    return out;
  }

  async range(q: RangeQuery): Promise<RangeResult> {
    const keys: string[] = [];
    const values: Uint8Array[] = [];
    if (q.lo !== undefined && q.hi !== undefined && compareKeys(q.lo, q.hi) >= 0) {
      return { keys, values };
    }
    const now = this.now();
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
      const value = head.inline ??
        (await this.#entry(key, { hk: headKeyOf(key), versionstamp, head }, now))?.value;
      if (value === undefined) return;
      keys.push(key);
      values.push(value);
    };
    const flush = async (): Promise<void> => {
      group.sort((a, b) => q.reverse ? compareKeys(b.key, a.key) : compareKeys(a.key, b.key));
      for (const g of group) await take(g.key, g.head, g.versionstamp);
      group = [];
      groupPart = undefined;
    };
    const batchSize = Math.max(1, Math.min(q.limit === Infinity ? 500 : q.limit + 1, 500));
    for await (const e of this.#kv.list(selectorOf(q), { reverse: q.reverse, batchSize })) {
      const head = decodeHead(e.value);
      if (isLongHeadKey(e.key)) {
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
    return { keys, values };
  }

  // --- writes -------------------------------------------------------------------------------

  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    this.check("write");
    return this.#serial(async () => {
      if (checks !== undefined && checks.size > 0) return await this.#checkedWrite(ops, checks);
      // Without chunked values there is nothing to collect, so the old heads need no read.
      if (this.#mayHaveChunks) await this.#write(ops);
      else await this.#commit(ops, undefined, false);
      return true;
    });
  }

  /**
   * Writes `ops` if every checked key still holds what `checks` expects. The heads read for
   * the comparison are versionstamp-checked by the commit, so the comparison holds against other
   * processes; a group of more than MAX_CHECKS keys is checked against this handle's writes only
   * (Deno KV allows no more checks in one atomic()).
   */
  async #checkedWrite(ops: readonly WriteOp[], checks: Checks): Promise<boolean> {
    const keys = [...new Set([...checks.keys(), ...ops.map((op) => op.key)])];
    for (;;) {
      const heads = await this.#readHeads(keys);
      const now = this.now();
      for (const [key, expected] of checks) {
        if (!matches(await this.#entry(key, heads.get(key)!, now), expected)) return false;
      }
      if (await this.#commit(ops, heads, keys.length <= MAX_CHECKS)) return true;
    }
  }

  remove(keys: readonly string[]): Promise<number> {
    return this.#serial(async () => {
      const old = await this.#write(keys.map((key) => ({ key })));
      const now = this.now();
      let live = 0;
      for (const s of old.values()) if (s.head !== undefined && isLiveHead(s.head, now)) live++;
      return live;
    });
  }

  protected update<R>(key: string, fn: (current: Entry | undefined) => Update<R>): Promise<R> {
    return this.#serial(async () => {
      for (;;) {
        const stored = await this.#readHead(key);
        const { next, result } = fn(await this.#entry(key, stored, this.now()));
        if (next === undefined) return result;
        const op: WriteOp = next === null ? { key } : { key, ...next };
        // The versionstamp check makes the read-modify-write atomic against other processes.
        if (await this.#commit([op], new Map([[key, stored]]), true)) return result;
      }
    });
  }

  /** Applies `ops` over freshly read heads; returns the heads they replaced. */
  async #write(ops: readonly WriteOp[]): Promise<Map<string, Stored>> {
    const keys = [...new Set(ops.map((op) => op.key))];
    for (;;) {
      const old = await this.#readHeads(keys);
      // Deno KV allows few checks per atomic(); bigger groups rely on this shard's write chain.
      if (await this.#commit(ops, old, keys.length <= MAX_CHECKS)) return old;
    }
  }

  /**
   * Stages, flips and collects; `false` (nothing visible changed) when a check failed. Without
   * `old` (the heads being replaced) deletes are unconditional and nothing is collected.
   */
  async #commit(
    ops: readonly WriteOp[],
    old: Map<string, Stored> | undefined,
    checked: boolean,
  ): Promise<boolean> {
    const last = new Map<string, WriteOp>();
    for (const op of ops) {
      last.delete(op.key);
      last.set(op.key, op);
    }
    const staging: Mutation[] = [];
    const staged: Chunks[] = [];
    const flip: Mutation[] = [];
    const garbage: Chunks[] = [];
    for (const op of last.values()) {
      const stored = old?.get(op.key);
      const hk = stored?.hk ?? headKeyOf(op.key);
      const before = stored?.head;
      if (op.value === undefined) {
        if (old !== undefined && before === undefined) continue;
        flip.push({ key: hk.kvKey });
      } else {
        const expiresAt = op.expiresAt ?? null;
        const head: Head = { expiresAt, longKey: hk.longKey, inline: op.value, chunks: undefined };
        if (op.value.length > INLINE_MAX) {
          const chunks = this.#stage(op.value, staging);
          staged.push(chunks);
          flip.push({ key: pendingKey(chunks.id) });
          head.inline = undefined;
          head.chunks = chunks;
        }
        flip.push({ key: hk.kvKey, value: encodeHead(head) });
        if (expiresAt !== null) flip.push({ key: expiryKey(expiresAt, hk.kvKey), value: EMPTY });
      }
      if (before?.chunks !== undefined) {
        garbage.push(before.chunks);
        flip.push({
          key: garbageKey(before.chunks.id),
          value: encodeRecord(before.chunks.count, 0),
        });
      }
    }
    if (flip.length === 0) return true;
    for (const group of packCommits(staging)) await this.#atomic(group);
    const checks = checked && old !== undefined
      ? [...old.values()].map((s) => ({ key: s.hk.kvKey, versionstamp: s.versionstamp }))
      : [];
    const flips = packCommits(flip);
    const ok = flips.length <= 1
      ? await this.#atomic(flips[0] ?? [], checks)
      : await this.#logged(flip, checks);
    if (!ok) {
      await this.#drop(staged, pendingKey);
      return false;
    }
    await this.#drop(garbage, garbageKey);
    return true;
  }

  /** Adds the "p" record and the chunks of `value` to `staging`. */
  #stage(value: Uint8Array, staging: Mutation[]): Chunks {
    this.#mayHaveChunks = true;
    const id = newId();
    const pieces = splitChunks(value);
    staging.push({ key: pendingKey(id), value: encodeRecord(pieces.length, Date.now()) });
    pieces.forEach((piece, i) => staging.push({ key: chunkKey(id, i), value: piece }));
    return { id, count: pieces.length, size: value.length };
  }

  async #atomic(
    mutations: readonly Mutation[],
    checks: { key: KvKey; versionstamp: string | null }[] = [],
  ): Promise<boolean> {
    for (let waited = 0;;) {
      const op = this.#kv.atomic();
      if (checks.length > 0) op.check(...checks);
      for (const m of mutations) {
        if (m.value === undefined) op.delete(m.key);
        else op.set(m.key, m.value);
      }
      try {
        return (await op.commit()).ok;
      } catch (e) {
        // Deno KV does not wait for another handle's write lock; nothing was written, so retry.
        if (!/database is locked/.test(String(e)) || waited >= BUSY_TIMEOUT_MS) throw e;
        const pause = Math.min(50, 1 + waited / 10);
        await new Promise((r) => setTimeout(r, pause));
        waited += pause;
      }
    }
  }

  /** A flip too large for one atomic(): the redo log commits atomically, then is applied. */
  async #logged(
    flip: readonly Mutation[],
    checks: { key: KvKey; versionstamp: string | null }[],
  ): Promise<boolean> {
    const staging: Mutation[] = [];
    const log = this.#stage(encodeLog(flip), staging);
    for (const group of packCommits(staging)) await this.#atomic(group);
    const marked = await this.#atomic([
      { key: logKey(log.id), value: encodeRecord(log.count, log.size) },
      { key: pendingKey(log.id) },
    ], checks);
    if (!marked) {
      await this.#drop([log], pendingKey);
      return false;
    }
    await this.#replay(log, flip);
    return true;
  }

  /** Applies a committed redo log, then retires it. Replaying twice is harmless. */
  async #replay(log: Chunks, flip: readonly Mutation[]): Promise<void> {
    for (const group of packCommits(flip)) await this.#atomic(group);
    await this.#atomic([
      { key: logKey(log.id) },
      { key: garbageKey(log.id), value: encodeRecord(log.count, 0) },
    ]);
    await this.#drop([log], garbageKey);
  }

  /** Deletes the chunks of each id, then the record (`recordKey`) that tracked them. */
  async #drop(items: readonly Chunks[], recordKey: (id: Uint8Array) => KvKey): Promise<void> {
    const deletes: Mutation[] = [];
    for (const { id, count } of items) {
      for (let i = 0; i < count; i++) deletes.push({ key: chunkKey(id, i) });
      deletes.push({ key: recordKey(id) });
    }
    for (const group of packCommits(deletes)) await this.#atomic(group);
  }

  /** Replays redo logs left by a crash, and reclaims garbage and abandoned staging. */
  recover(): Promise<void> {
    return this.#serial(async () => {
      for await (const e of this.#kv.list({ start: ["w"], end: ["w", ""] })) {
        const id = e.key[1] as Uint8Array;
        const { count, extra: size } = decodeRecord(e.value);
        const log = { id, count, size };
        const bytes = await this.#readChunks(log);
        if (bytes === undefined) throw new Error("deno-kv: a committed redo log lost chunks");
        await this.#replay(log, decodeLog(bytes));
      }
      await this.#reclaim();
      for await (const _ of this.#kv.list({ start: ["c"], end: ["c", ""] }, { limit: 1 })) return;
      this.#mayHaveChunks = false;
    });
  }

  async #reclaim(): Promise<void> {
    const garbage: Chunks[] = [];
    for await (const e of this.#kv.list({ start: ["g"], end: ["g", ""] })) {
      garbage.push({ id: e.key[1] as Uint8Array, count: decodeRecord(e.value).count, size: 0 });
    }
    await this.#drop(garbage, garbageKey);
    const stale: Chunks[] = [];
    const before = Date.now() - this.#staleStagingMs;
    for await (const e of this.#kv.list({ start: ["p"], end: ["p", ""] })) {
      const { count, extra: startedAt } = decodeRecord(e.value);
      if (startedAt <= before) stale.push({ id: e.key[1] as Uint8Array, count, size: 0 });
    }
    await this.#drop(stale, pendingKey);
  }

  sweep(max: number): Promise<number> {
    this.check("sweep");
    return this.#serial(async () => {
      await this.#reclaim();
      const now = this.now();
      const index: KvKey[] = [];
      for await (const e of this.#kv.list({ start: ["x"], end: ["x", now, ""] }, { limit: max })) {
        index.push(e.key);
      }
      let removed = 0;
      for (let i = 0; i < index.length; i += MAX_CHECKS) {
        removed += await this.#expire(index.slice(i, i + MAX_CHECKS), now);
      }
      return removed;
    });
  }

  /** Deletes the expired heads behind expiry-index entries, and the entries. */
  async #expire(index: readonly KvKey[], now: number): Promise<number> {
    const heads = index.map((k) => k.slice(2));
    const found = await this.#kv.getMany(heads);
    const flip: Mutation[] = [];
    const garbage: Chunks[] = [];
    const checks: { key: KvKey; versionstamp: string | null }[] = [];
    let removed = 0;
    index.forEach((k, i) => {
      flip.push({ key: k });
      const { value, versionstamp } = found[i];
      if (versionstamp === null) return;
      const head = decodeHead(value);
      // A head rewritten since this entry was indexed has its own entry (or no expiry).
      if (head.expiresAt !== k[1] || isLiveHead(head, now)) return;
      checks.push({ key: heads[i], versionstamp });
      flip.push({ key: heads[i] });
      if (head.chunks !== undefined) {
        garbage.push(head.chunks);
        flip.push({ key: garbageKey(head.chunks.id), value: encodeRecord(head.chunks.count, 0) });
      }
      removed++;
    });
    if (!(await this.#atomic(flip, checks))) return 0;
    await this.#drop(garbage, garbageKey);
    return removed;
  }

  protected async closeBackend(): Promise<void> {
    await this.#writes;
    this.#kv.close();
  }
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
