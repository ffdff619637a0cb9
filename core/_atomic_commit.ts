// How an atomic commit reaches the shards. Every shard it touches is locked in this process
// (exclusive, in shard order). With drivers that can `begin`, each shard's write lock is then
// held against other processes too while the checks are evaluated and the writes computed, and
// the shards commit one after the other; without `begin`, the reads are validated by
// compare-and-set `apply` calls and a shard that lost to another writer undoes the shards
// already written and retries the whole commit. A commit that writes several shards is first
// recorded in the journal with every written key's before-image, so that one a crash cut short
// is rolled back when the store next opens (`recoverCommits`).
import { type CommitResult, counterResult, type Mutation, versionstampOf } from "./atomic.ts";
import { decodeCounter, encodeCounter } from "./counter.ts";
import type { Checks, Driver, Entry, Journal, ShardTxn, WriteOp } from "./driver.ts";
import { TransactionConflictError } from "./errors.ts";
import type { ShardLock } from "./shard_lock.ts";
import { decodeStructured, encodeStructured } from "./_structured.ts";

/** What the commit needs from the engine. */
export interface CommitHost {
  shardOf(key: string): number;
  driver(shard: number): Driver;
  lock(shard: number): ShardLock;
  /** A new version, greater than every one this store gave before. */
  version(): number;
  journal: Journal | undefined;
  /** Drops cached reads of `keys` before they are written. */
  invalidate(shard: number, keys: readonly string[]): void;
  /** Drops cached reads of `keys` after they were written and tells watchers. */
  written(shard: number, keys: readonly string[]): void;
  /** Runs the writes of a multi-shard commit; plain multi-shard reads wait for it. */
  gate<T>(run: () => Promise<T>): Promise<T>;
}

/** Whole-commit attempts when other processes' writers keep changing what it read. */
const ATTEMPTS = 100;

/** One shard's part of a commit. */
interface Part {
  shard: number;
  keys: string[];
  ops: WriteOp[];
  txn?: ShardTxn;
}

const RETRY = Symbol("retry");

/** Commits `mutations` if every check holds, all or nothing across shards. */
export async function commitAtomic(
  host: CommitHost,
  checks: ReadonlyMap<string, number | null>,
  mutations: readonly Mutation[],
): Promise<CommitResult> {
  const byShard = new Map<number, Set<string>>();
  const add = (key: string) => {
    const i = host.shardOf(key);
    const set = byShard.get(i);
    if (set === undefined) byShard.set(i, new Set([key]));
    else set.add(key);
  };
  for (const key of checks.keys()) add(key);
  for (const m of mutations) add(m.key);
  const parts: Part[] = Array.from(
    byShard,
    ([shard, keys]) => ({ shard, keys: [...keys], ops: [] }),
  )
    .sort((a, b) => a.shard - b.shard);
  // One after another in shard order, so that two commits never each hold a lock the other
  // waits for, and a commit waiting for a transaction holds no other shard meanwhile (the
  // transaction's body may call the store there). Later writes of its keys wait for it anyway
  // (the engine's call order).
  for (const p of parts) await host.lock(p.shard).acquire("exclusive");
  try {
    for (let attempt = 1;; attempt++) {
      const result = await attemptCommit(host, parts, checks, mutations);
      if (result !== RETRY) return result;
      if (attempt === ATTEMPTS) {
        throw new TransactionConflictError(parts.reduce((n, p) => n + p.keys.length, 0));
      }
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
    }
  } finally {
    for (const p of parts) host.lock(p.shard).release();
  }
}

async function attemptCommit(
  host: CommitHost,
  parts: Part[],
  checks: ReadonlyMap<string, number | null>,
  mutations: readonly Mutation[],
): Promise<CommitResult | typeof RETRY> {
  const locking = parts.every((p) => host.driver(p.shard).begin !== undefined);
  const read = new Map<string, Entry>();
  try {
    if (locking) {
      for (const p of parts) {
        p.txn = await host.driver(p.shard).begin!(p.keys);
        for (const [k, e] of p.txn.entries) read.set(k, e);
      }
    } else {
      const found = await Promise.all(parts.map((p) => host.driver(p.shard).getEntries(p.keys)));
      for (const m of found) for (const [k, e] of m) read.set(k, e);
    }
    for (const [key, version] of checks) {
      const e = read.get(key);
      if (version === null ? e !== undefined : (e === undefined || (e.version ?? 0) !== version)) {
        await releaseAll(parts);
        return { ok: false };
      }
    }
    const version = planWrites(host, parts, read, mutations);
    if (locking) await commitLocked(host, parts, read, version);
    else if (!(await commitChecked(host, parts, read, version))) return RETRY;
    return { ok: true, versionstamp: versionstampOf(version) };
  } catch (e) {
    await releaseAll(parts);
    throw e;
  } finally {
    for (const p of parts) {
      p.txn = undefined;
      p.ops = [];
    }
  }
}

/** Fills each part's ops from the mutations and returns the commit's version. */
function planWrites(
  host: CommitHost,
  parts: Part[],
  read: ReadonlyMap<string, Entry>,
  mutations: readonly Mutation[],
): number {
  const next = new Map<string, Entry | null>();
  for (const m of mutations) {
    if (m.type === "set") next.set(m.key, { value: m.value, expiresAt: m.expiresAt });
    else if (m.type === "delete") next.set(m.key, null);
    else {
      const current = next.has(m.key) ? next.get(m.key) : read.get(m.key);
      const n = counterResult(m, current ? decodeCounter(current.value) : undefined);
      next.set(m.key, { value: encodeCounter(n), expiresAt: current?.expiresAt ?? null });
    }
  }
  let newest = 0;
  for (const key of next.keys()) newest = Math.max(newest, read.get(key)?.version ?? 0);
  const version = Math.max(host.version(), newest + 1);
  const index = new Map(parts.map((p) => [p.shard, p]));
  for (const [key, e] of next) {
    index.get(host.shardOf(key))!.ops.push(
      e === null ? { key } : { key, value: e.value, expiresAt: e.expiresAt, version },
    );
  }
  return version;
}

/** Commits the begun shards in order, journaled when more than one is written. */
async function commitLocked(
  host: CommitHost,
  parts: Part[],
  read: ReadonlyMap<string, Entry>,
  version: number,
): Promise<void> {
  // Shards only checked stay locked until the written ones have committed.
  await writeParts(host, parts.filter((p) => p.ops.length > 0), read, version, async (p) => {
    const txn = p.txn!;
    p.txn = undefined;
    await txn.commit(p.ops);
    return true;
  });
  await releaseAll(parts);
}

/** Compare-and-set commits; `false` (everything undone) when another writer got in between. */
async function commitChecked(
  host: CommitHost,
  parts: Part[],
  read: ReadonlyMap<string, Entry>,
  version: number,
): Promise<boolean> {
  const expected = (p: Part): Checks => new Map(p.keys.map((k) => [k, read.get(k) ?? null]));
  for (const p of parts) {
    if (p.ops.length === 0 && !(await host.driver(p.shard).apply([], expected(p)))) return false;
  }
  const written = parts.filter((p) => p.ops.length > 0);
  return await writeParts(
    host,
    written,
    read,
    version,
    (p) => host.driver(p.shard).apply(p.ops, expected(p)),
  );
}

/**
 * Writes each part with `write`, in order, behind the gate and the journal. When a write
 * answers `false` or throws, the parts already written are undone; the journal record stays
 * only when the undo itself failed, released (see `Journal.release`) so that the next
 * multi-shard read or open rolls the commit back.
 */
async function writeParts(
  host: CommitHost,
  written: Part[],
  read: ReadonlyMap<string, Entry>,
  version: number,
  write: (p: Part) => Promise<boolean>,
): Promise<boolean> {
  const journal = written.length > 1 ? host.journal : undefined;
  const id = `${versionstampOf(version)}-${Math.random().toString(36).slice(2, 10)}`;
  if (journal !== undefined) await journal.write(id, recordOf(written, read, version));
  const keys = (p: Part) => p.ops.map((op) => op.key);
  for (const p of written) host.invalidate(p.shard, keys(p));
  // Whether the shards are whole again: every part written, or the written ones undone.
  let whole = false;
  const run = async () => {
    const done: Part[] = [];
    try {
      for (const p of written) {
        if (!(await write(p))) {
          await undo(host, done, read, version);
          whole = true;
          return false;
        }
        done.push(p);
      }
      whole = true;
      return true;
    } catch (e) {
      await undo(host, done, read, version);
      whole = true;
      throw e;
    } finally {
      for (const p of written) host.written(p.shard, keys(p));
    }
  };
  let ok: boolean;
  try {
    ok = written.length > 1 ? await host.gate(run) : await run();
  } catch (e) {
    // A commit left half written (its undo failed too) is no longer in flight: readers, and
    // the next open, roll it back from the record.
    await (whole ? journal?.remove(id) : journal?.release?.(id))?.catch(() => {});
    throw e;
  }
  await journal?.remove(id);
  return ok;
}

/** Puts back the before-images of parts already written, where nothing newer replaced them. */
async function undo(
  host: CommitHost,
  done: readonly Part[],
  read: ReadonlyMap<string, Entry>,
  version: number,
): Promise<void> {
  for (const p of done) {
    const keys = p.ops.map((op) => op.key);
    await restore(host, p.shard, keys.map((k) => [k, read.get(k) ?? null]), version);
  }
}

/**
 * Restores `before` images on `shard` for the keys that still hold what `version` wrote (a key
 * deleted by it must still be missing); other keys were rewritten since and are left alone.
 */
async function restore(
  host: CommitHost,
  shard: number,
  before: readonly (readonly [string, Entry | null])[],
  version: number,
): Promise<void> {
  const d = host.driver(shard);
  const now = await d.getEntries(before.map(([k]) => k));
  const checks = new Map<string, Entry | null>();
  const ops: WriteOp[] = [];
  const newer = host.version();
  for (const [key, old] of before) {
    const cur = now.get(key);
    if (cur !== undefined && cur.version !== version) continue;
    if (cur === undefined && old === null) continue;
    checks.set(key, cur ?? null);
    ops.push(
      old === null ? { key } : { key, value: old.value, expiresAt: old.expiresAt, version: newer },
    );
  }
  if (ops.length > 0) await d.apply(ops, checks);
}

async function release(p: Part): Promise<void> {
  const txn = p.txn;
  p.txn = undefined;
  await txn?.release();
}

async function releaseAll(parts: readonly Part[]): Promise<void> {
  for (const p of parts) await release(p).catch(() => {});
}

/** A journal record: the commit's version and each written key's shard and before-image. */
interface CommitRecord {
  version: number;
  keys: [shard: number, key: string, value: Uint8Array | null, expiresAt: number | null][];
}

function recordOf(written: readonly Part[], read: ReadonlyMap<string, Entry>, version: number) {
  const record: CommitRecord = { version, keys: [] };
  for (const p of written) {
    for (const op of p.ops) {
      const e = read.get(op.key);
      record.keys.push([p.shard, op.key, e?.value ?? null, e?.expiresAt ?? null]);
    }
  }
  return encodeStructured(record);
}

/**
 * Rolls back every multi-shard commit the journal still holds (one a crash interrupted):
 * each written key that still has the commit's version gets its before-image back. Resolves
 * how many commits were rolled back. Safe while other processes and store objects use the
 * store: `list()` leaves out live writers' commits, and each restore is a compare-and-set.
 */
export async function recoverCommits(host: CommitHost): Promise<number> {
  const journal = host.journal;
  if (journal === undefined) return 0;
  const records = await journal.list();
  for (const [id, bytes] of records) {
    const record = decodeStructured(bytes) as CommitRecord;
    const byShard = new Map<number, [string, Entry | null][]>();
    for (const [shard, key, value, expiresAt] of record.keys) {
      const list = byShard.get(shard) ?? [];
      list.push([key, value === null ? null : { value, expiresAt }]);
      byShard.set(shard, list);
    }
    for (const [shard, before] of byShard) {
      // Under the shard's lock: a reader may start this while the store is in use.
      const keys = before.map(([key]) => key);
      host.invalidate(shard, keys);
      await host.lock(shard).with("write", () => restore(host, shard, before, record.version));
      host.written(shard, keys);
    }
    await journal.remove(id);
  }
  return records.size;
}
