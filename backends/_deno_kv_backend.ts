// The deno-kv shard: one Deno KV database, laid out as described in _deno_kv_layout.ts. Reads
// are in _deno_kv_read.ts, the commit protocol (stage, flip, collect, redo log) in
// _deno_kv_commit.ts, crash recovery and sweeping in _deno_kv_recovery.ts; this file runs a
// shard's writes one at a time and makes compare-and-set and read-modify-write atomic.
import { BaseDriver, type Update } from "../core/base_driver.ts";
import {
  type Checks,
  type Entry,
  matches,
  type RangeQuery,
  type RangeResult,
  type ShardTxn,
  type WriteOp,
} from "../core/driver.ts";
import {
  CorruptStoreError,
  type StorageErrorInit,
  TransactionConflictError,
} from "../core/errors.ts";
import type { DenoKv } from "./_deno_kv_api.ts";
import { kvErrorOf } from "./_deno_kv_errors.ts";
import { type HeadsRead, KnownHeads } from "./_deno_kv_known.ts";
import { DenoKvCommitter, type KvCheck } from "./_deno_kv_commit.ts";
import { LOCK_KEY, MARK_KEY, markOf, MAX_CHECKS } from "./_deno_kv_layout.ts";
import { DenoKvLock, LOCK_LEASE_MS } from "./_deno_kv_lock.ts";
import { DenoKvReader, isLiveHead, type Stored } from "./_deno_kv_read.ts";
import { type DenoKvParts, recover, sweep } from "./_deno_kv_recovery.ts";

/** What {@linkcode createDenoKvBackend} needs besides the database. */
export interface DenoKvBackendInit {
  now: () => number;
  /** Staging ("p" records) older than this many wall-clock ms is reclaimed (default 60 s). */
  staleStagingMs?: number;
  /** The shard and its file, named by storage errors (default shard 0, path ""). */
  where?: StorageErrorInit;
  /** How long a begin() lock holds if its holder neither commits nor releases it (a crash):
   * wall-clock ms, default 10 s. Other writers wait for it that long at most. */
  lockLeaseMs?: number;
}

/** Wraps an open database as a shard; replays an interrupted commit first. */
export async function createDenoKvBackend(
  kv: DenoKv,
  init: DenoKvBackendInit,
): Promise<DenoKvBackend> {
  const backend = new DenoKvBackend(kv, init);
  await backend.recover();
  return backend;
}

/** How many heads a shard remembers (without their values: some 100 bytes each). */
const KNOWN_HEADS = 4096;

export class DenoKvBackend extends BaseDriver {
  #kv: DenoKv;
  #reader: DenoKvReader;
  #committer: DenoKvCommitter;
  #lock: DenoKvLock;
  #parts: DenoKvParts;
  /** Tail of the chain that runs this shard's writes one at a time. */
  #writes: Promise<unknown> = Promise.resolve();
  #where: StorageErrorInit;
  /** Heads this handle wrote lately, so rewriting them needs no read (see _deno_kv_known.ts). */
  #known = new KnownHeads(KNOWN_HEADS);
  /** Set once the shard is found damaged: every later write is refused. */
  #corrupt: CorruptStoreError | undefined;

  constructor(kv: DenoKv, init: DenoKvBackendInit) {
    super(init.now);
    this.#kv = kv;
    this.#where = init.where ?? { shard: 0, path: "" };
    this.#reader = new DenoKvReader(kv);
    this.#committer = new DenoKvCommitter(kv);
    this.#lock = new DenoKvLock(kv, this.#committer, init.lockLeaseMs ?? LOCK_LEASE_MS);
    this.#parts = {
      kv,
      reader: this.#reader,
      committer: this.#committer,
      staleStagingMs: init.staleStagingMs ?? 60_000,
    };
  }

  /** Runs a write after the ones before it; refused once the shard was found damaged. */
  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#writes.then(() => {
      if (this.#corrupt !== undefined) {
        throw new CorruptStoreError(
          `refuses writes since it was found damaged (${this.#corrupt.message})`,
          this.#where,
          { cause: this.#corrupt },
        );
      }
      return this.#typed(run());
    });
    this.#writes = next.catch(() => {});
    return next;
  }

  /** `p` with Deno KV's storage errors (and damage we find) as shardkv's typed errors. */
  async #typed<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      this.#known.forget();
      const mapped = kvErrorOf(e, this.#where);
      if (mapped instanceof CorruptStoreError) this.#corrupt ??= mapped;
      throw mapped;
    }
  }

  // --- reads --------------------------------------------------------------------------------

  getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    return this.#typed(this.#reader.getEntries(keys, () => this.now()));
  }

  getEntry(key: string): Promise<Entry | undefined> {
    return this.#typed(
      this.#reader.readHead(key).then((stored) => this.#reader.entry(key, stored, this.now())),
    );
  }

  /** Moves with every commit that changed a head, by any handle or process (see MARK_KEY). */
  changes(): Promise<number> {
    return this.#typed(this.#kv.get(MARK_KEY).then((e) => markOf(e.versionstamp)));
  }

  range(q: RangeQuery): Promise<RangeResult> {
    return this.#typed(this.#reader.range(q, this.now()));
  }

  // --- writes -------------------------------------------------------------------------------

  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    this.check("write");
    return this.#serial(async () => {
      if (checks !== undefined && checks.size > 0) return await this.#checkedWrite(ops, checks);
      // The old heads are read (one getMany per 10 keys) for their versions and chunks.
      await this.#write(ops);
      return true;
    });
  }

  /**
   * Writes `ops` if every checked key still holds what `checks` expects. The heads read for
   * the comparison are checked again by the commit (see #readHeads), so the comparison holds
   * against other processes.
   */
  async #checkedWrite(ops: readonly WriteOp[], checks: Checks): Promise<boolean> {
    const keys = [...new Set([...checks.keys(), ...ops.map((op) => op.key)])];
    for (;;) {
      const read = await this.#readHeads(keys);
      const now = this.now();
      for (const [key, expected] of checks) {
        const current = await this.#reader.entry(key, read.heads.get(key)!, now);
        if (!matches(current, expected)) return false;
      }
      if (await this.#commit(ops, read, keys)) return true;
    }
  }

  /**
   * The heads of `keys` from the database. Past MAX_CHECKS keys the mark is read first; below,
   * a remembered mark comes along, so the commit's check keeps it known.
   */
  async #readHeads(keys: readonly string[], reuse = false): Promise<HeadsRead> {
    if (keys.length > MAX_CHECKS) {
      const mark = (await this.#kv.get(MARK_KEY)).versionstamp;
      // Nothing committed since the remembered mark: remembered heads are still current, and
      // (for a write, which needs no values) only the others are read.
      const current = mark === this.#known.mark;
      const heads = current && reuse ? this.#known.some(keys) : new Map<string, Stored>();
      const missing = keys.filter((k) => !heads.has(k));
      for (const [k, stored] of await this.#reader.readHeads(missing)) heads.set(k, stored);
      return { mark, byMark: true, markMoved: !current, heads };
    }
    const mark = keys.length < MAX_CHECKS ? this.#known.mark : undefined;
    return { mark, heads: await this.#reader.readHeads(keys) };
  }

  /**
   * Commits `ops` over the heads `read` of `keys`, provided none of them changed since (by any
   * handle or process): checked by the change mark when `read` has it (every commit that changes
   * a head moves it; past Deno KV's MAX_CHECKS per atomic() it is read before the heads), else
   * per head. `false`: something changed, or remembered heads could not be confirmed; read again
   * and retry.
   */
  async #commit(
    ops: readonly WriteOp[],
    read: HeadsRead,
    keys: readonly string[],
  ): Promise<boolean> {
    const unchanged: KvCheck[] = read.byMark ? [] : [...read.heads.values()].map((s) => ({
      key: s.hk.kvKey,
      versionstamp: s.versionstamp,
    }));
    if (read.mark !== undefined) unchanged.push({ key: MARK_KEY, versionstamp: read.mark });
    // No handle holds the shard's lock (see _deno_kv_lock.ts): the 10th check.
    unchanged.push({ key: LOCK_KEY, versionstamp: null });
    const written = await this.#committer.commit(ops, read.heads, unchanged);
    // A commit that wrote nothing checked nothing either: remembered heads stay unconfirmed.
    if (written === false || (read.remembered && written.heads.size === 0)) {
      this.#known.forget(keys);
      // Perhaps because another handle holds the lock: wait until it is gone.
      if (written === false) await this.#lock.waitUnlocked();
      return false;
    }
    this.#known.wrote(read, written);
    return true;
  }

  /**
   * Takes the shard's lock record (waiting while another handle or process holds it), then
   * reads `keys`. Until `commit` or `release`, this handle's other writes wait behind it and
   * every other handle's commits fail their lock check and wait (see _deno_kv_lock.ts).
   */
  begin(keys: readonly string[]): Promise<ShardTxn> {
    this.check("write");
    let end!: () => void;
    const ended = new Promise<void>((resolve) => end = resolve);
    const begun = this.#serial(async () => {
      const held = await this.#lock.acquire();
      try {
        const heads = await this.#reader.readHeads(keys);
        const now = this.now();
        const entries = new Map<string, Entry>();
        for (const [key, stored] of heads) {
          const e = await this.#reader.entry(key, stored, now);
          if (e !== undefined) entries.set(key, e);
        }
        return { held, heads, entries };
      } catch (e) {
        await this.#lock.release(held).catch(() => {});
        throw e;
      }
    });
    // This handle's later writes wait until the transaction ends.
    this.#writes = this.#writes.then(() => ended);
    begun.catch(end);
    return begun.then(({ held, heads, entries }): ShardTxn => {
      let done = false;
      const finish = async (run: () => Promise<void>): Promise<void> => {
        if (done) throw new Error("The shard transaction already committed or released");
        done = true;
        try {
          await this.#typed(run());
        } finally {
          this.#known.forget();
          end();
        }
      };
      return {
        entries,
        commit: (ops) =>
          finish(async () => {
            // Only the lock is checked: while it is ours no other handle changes a head.
            await held.settle();
            const written = await this.#committer.commit(ops, heads, [held.check], {
              key: LOCK_KEY,
            });
            if (written === false) {
              throw new TransactionConflictError(keys.length, {
                cause: new Error(
                  `the shard's lock was taken over after its lease ran out; nothing was written`,
                ),
              });
            }
          }),
        release: () =>
          finish(async () => {
            await this.#lock.release(held);
          }),
      };
    });
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
        const read = await this.#readHeads([key]);
        const { next, result } = fn(
          await this.#reader.entry(key, read.heads.get(key)!, this.now()),
        );
        if (next === undefined) return result;
        const op: WriteOp = next === null ? { key } : { key, ...next };
        // The versionstamp check makes the read-modify-write atomic against other processes.
        if (await this.#commit([op], read, [key])) return result;
      }
    });
  }

  /**
   * Applies `ops` over the heads they replace, which it returns: remembered ones first, read
   * ones once those failed. Checked, so that versions grow and old chunks are collected once,
   * also when another process writes the same keys meanwhile.
   */
  async #write(ops: readonly WriteOp[]): Promise<Map<string, Stored>> {
    const keys = [...new Set(ops.map((op) => op.key))];
    for (let remember = true;; remember = false) {
      const known = remember ? this.#known.lookup(keys, keys.length > MAX_CHECKS) : undefined;
      const read = known ?? await this.#readHeads(keys, true);
      if (await this.#commit(ops, read, keys)) return read.heads;
    }
  }

  // --- recovery and cleanup -----------------------------------------------------------------

  /** Replays redo logs left by a crash, and reclaims garbage and abandoned staging. */
  recover(): Promise<void> {
    return this.#serial(() => recover(this.#parts));
  }

  sweep(max: number): Promise<number> {
    this.check("sweep");
    return this.#serial(() => {
      this.#known.forget();
      return sweep(this.#parts, max, () => this.now());
    });
  }

  protected async closeBackend(): Promise<void> {
    await this.#writes;
    this.#kv.close();
  }
}
