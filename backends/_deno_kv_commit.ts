// The commit protocol of the deno-kv shard (the layout is described in _deno_kv_layout.ts).
// A write runs in three steps, one write at a time per shard (the backend's write chain):
//   1. stage: values larger than INLINE_MAX are written as chunks under a fresh id, with a
//      "p" record so a crash before step 2 leaves only reclaimable garbage;
//   2. flip: every head (plus expiry index, "g" records for superseded chunks, deletion of the
//      "p" records) in ONE atomic(), or, when that does not fit one atomic(), through a redo
//      log whose "w" marker commits atomically and is replayed on the next open after a crash;
//   3. collect: chunks of superseded values are deleted.
import type { WriteOp } from "../core/driver.ts";
import type { DenoKv, KvKey } from "./_deno_kv_api.ts";
import {
  chunkKey,
  encodeHead,
  encodeLog,
  encodeRecord,
  expiryKey,
  garbageKey,
  type Head,
  headKeyOf,
  INLINE_MAX,
  logKey,
  MARK_KEY,
  type Mutation,
  newId,
  packCommits,
  pendingKey,
  splitChunks,
} from "./_deno_kv_layout.ts";
import type { Chunks, Stored } from "./_deno_kv_read.ts";
import { checksum } from "./_sqlite_verify.ts";

/** A versionstamp check of one atomic(). */
export type KvCheck = { key: KvKey; versionstamp: string | null };

/** What a commit changed: each written key's new head (`undefined`: deleted), and the
 * versionstamp they now carry (`undefined` when a redo log applied them in several atomics). */
export interface Written {
  heads: Map<string, Head | undefined>;
  versionstamp: string | undefined;
}

/** The value of the mark and of expiry index entries. */
export const EMPTY = new Uint8Array(0);
/** How long a commit keeps retrying while another handle holds the database's write lock. */
const BUSY_TIMEOUT_MS = 5000;

/** Stages, flips and collects the writes of one database. */
export class DenoKvCommitter {
  #kv: DenoKv;

  constructor(kv: DenoKv) {
    this.#kv = kv;
  }

  /**
   * Stages, flips and collects; `false` (nothing visible changed) when a check failed. `old`
   * holds the heads being replaced (read by the caller): it decides each new version, which
   * chunks to collect and which deletes to skip; `checks` (see DenoKvBackend's #readHeads) make
   * the commit fail when one of them changed since it was read. `unlock` (the lock holder's
   * delete of the lock record) commits with the heads, or after them when they need several
   * atomics, or alone when nothing changes.
   */
  async commit(
    ops: readonly WriteOp[],
    old: Map<string, Stored>,
    checks: KvCheck[],
    unlock?: Mutation,
  ): Promise<Written | false> {
    const last = new Map<string, WriteOp>();
    for (const op of ops) {
      last.delete(op.key);
      last.set(op.key, op);
    }
    const staging: Mutation[] = [];
    const staged: Chunks[] = [];
    const flip: Mutation[] = [];
    const garbage: Chunks[] = [];
    const heads = new Map<string, Head | undefined>();
    for (const op of last.values()) {
      const stored = old.get(op.key);
      const hk = stored?.hk ?? headKeyOf(op.key);
      const before = stored?.head;
      if (op.value === undefined) {
        if (before === undefined) continue;
        flip.push({ key: hk.kvKey });
        heads.set(op.key, undefined);
      } else {
        const expiresAt = op.expiresAt ?? null;
        // The contract's max(version, previous + 1): `before` is the head this commit replaces
        // (live or expired), read in the same versionstamp-checked round as the commit.
        const version = Math.max(op.version ?? 0, (before?.version ?? 0) + 1);
        const head: Head = {
          version,
          crc: checksum(op.key, op.value),
          expiresAt,
          longKey: hk.longKey,
          inline: op.value,
          chunks: undefined,
        };
        if (op.value.length > INLINE_MAX) {
          const chunks = this.#stage(op.value, staging);
          staged.push(chunks);
          flip.push({ key: pendingKey(chunks.id) });
          head.inline = undefined;
          head.chunks = chunks;
        }
        flip.push({ key: hk.kvKey, value: encodeHead(head) });
        heads.set(op.key, head);
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
    if (flip.length === 0) {
      if (unlock !== undefined && !(await this.atomic([unlock], checks))) return false;
      return { heads, versionstamp: undefined };
    }
    // Last, so that a logged flip moves the mark with (or after) its last heads.
    flip.push({ key: MARK_KEY, value: EMPTY });
    for (const group of packCommits(staging)) await this.atomic(group);
    const flips = packCommits(unlock === undefined ? flip : [...flip, unlock]);
    const done = flips.length <= 1
      ? await this.stamped(flips[0], checks)
      : await this.#logged(flip, checks, unlock);
    if (done === false) {
      await this.drop(staged, pendingKey);
      return false;
    }
    await this.drop(garbage, garbageKey);
    return { heads, versionstamp: typeof done === "string" && done !== "" ? done : undefined };
  }

  /** Adds the "p" record and the chunks of `value` to `staging`. */
  #stage(value: Uint8Array, staging: Mutation[]): Chunks {
    const id = newId();
    const pieces = splitChunks(value);
    staging.push({ key: pendingKey(id), value: encodeRecord(pieces.length, Date.now()) });
    pieces.forEach((piece, i) => staging.push({ key: chunkKey(id, i), value: piece }));
    return { id, count: pieces.length, size: value.length };
  }

  async atomic(mutations: readonly Mutation[], checks: KvCheck[] = []): Promise<boolean> {
    return (await this.stamped(mutations, checks)) !== false;
  }

  /** Commits one atomic(): its versionstamp, or `false` when a check failed. */
  async stamped(mutations: readonly Mutation[], checks: KvCheck[]): Promise<string | false> {
    for (let waited = 0;;) {
      const op = this.#kv.atomic();
      if (checks.length > 0) op.check(...checks);
      for (const m of mutations) {
        if (m.value === undefined) op.delete(m.key);
        else op.set(m.key, m.value);
      }
      try {
        const result = await op.commit();
        return result.ok ? result.versionstamp ?? "" : false;
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
    checks: KvCheck[],
    unlock: Mutation | undefined,
  ): Promise<boolean> {
    const staging: Mutation[] = [];
    const log = this.#stage(encodeLog(flip), staging);
    for (const group of packCommits(staging)) await this.atomic(group);
    const marked = await this.atomic([
      { key: logKey(log.id), value: encodeRecord(log.count, log.size) },
      { key: pendingKey(log.id) },
    ], checks);
    if (!marked) {
      await this.drop([log], pendingKey);
      return false;
    }
    await this.replay(log, flip);
    // The lock (checked by `checks`, still ours) goes once every head is in place.
    if (unlock !== undefined) await this.atomic([unlock], checks);
    return true;
  }

  /** Applies a committed redo log, then retires it. Replaying twice is harmless. */
  async replay(log: Chunks, flip: readonly Mutation[]): Promise<void> {
    for (const group of packCommits(flip)) await this.atomic(group);
    await this.atomic([
      { key: logKey(log.id) },
      { key: garbageKey(log.id), value: encodeRecord(log.count, 0) },
      // Also for logs of older versions, whose flips did not move the mark.
      { key: MARK_KEY, value: EMPTY },
    ]);
    await this.drop([log], garbageKey);
  }

  /** Deletes the chunks of each id, then the record (`recordKey`) that tracked them. */
  async drop(items: readonly Chunks[], recordKey: (id: Uint8Array) => KvKey): Promise<void> {
    const deletes: Mutation[] = [];
    for (const { id, count } of items) {
      for (let i = 0; i < count; i++) deletes.push({ key: chunkKey(id, i) });
      deletes.push({ key: recordKey(id) });
    }
    for (const group of packCommits(deletes)) await this.atomic(group);
  }
}
