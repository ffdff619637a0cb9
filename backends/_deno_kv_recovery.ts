// Recovery and cleanup of the deno-kv shard (the layout is described in _deno_kv_layout.ts):
// replaying redo logs a crash left committed, reclaiming garbage and abandoned staging, and
// sweeping expired heads through the expiry index. Callers run these on the write chain.
import type { DenoKv, KvKey } from "./_deno_kv_api.ts";
import { type DenoKvCommitter, EMPTY, type KvCheck } from "./_deno_kv_commit.ts";
import {
  DamagedRecordError,
  decodeHead,
  decodeLog,
  decodeRecord,
  encodeRecord,
  garbageKey,
  MARK_KEY,
  MAX_CHECKS,
  type Mutation,
  pendingKey,
} from "./_deno_kv_layout.ts";
import { type Chunks, type DenoKvReader, isLiveHead } from "./_deno_kv_read.ts";

/** The parts of a shard that recovery works with. */
export interface DenoKvParts {
  kv: DenoKv;
  reader: DenoKvReader;
  committer: DenoKvCommitter;
  /** Staging ("p" records) older than this many wall-clock ms is reclaimed. */
  staleStagingMs: number;
}

/** Replays redo logs left by a crash, and reclaims garbage and abandoned staging. */
export async function recover(parts: DenoKvParts): Promise<void> {
  const { kv, reader, committer } = parts;
  for await (const e of kv.list({ start: ["w"], end: ["w", ""] })) {
    const id = e.key[1] as Uint8Array;
    const { count, extra: size } = decodeRecord(e.value);
    const log = { id, count, size };
    const bytes = await reader.readChunks(log);
    if (bytes === undefined) throw new DamagedRecordError("a committed redo log lost chunks");
    await committer.replay(log, decodeLog(bytes));
  }
  await reclaim(parts);
}

/** Deletes collected chunks ("g" records) and staging older than `staleStagingMs`. */
async function reclaim({ kv, committer, staleStagingMs }: DenoKvParts): Promise<void> {
  const garbage: Chunks[] = [];
  for await (const e of kv.list({ start: ["g"], end: ["g", ""] })) {
    garbage.push({ id: e.key[1] as Uint8Array, count: decodeRecord(e.value).count, size: 0 });
  }
  await committer.drop(garbage, garbageKey);
  const stale: Chunks[] = [];
  const before = Date.now() - staleStagingMs;
  for await (const e of kv.list({ start: ["p"], end: ["p", ""] })) {
    const { count, extra: startedAt } = decodeRecord(e.value);
    if (startedAt <= before) stale.push({ id: e.key[1] as Uint8Array, count, size: 0 });
  }
  await committer.drop(stale, pendingKey);
}

/** Reclaims garbage, then removes up to `max` heads expired at `now()`; resolves how many. */
export async function sweep(parts: DenoKvParts, max: number, now: () => number): Promise<number> {
  await reclaim(parts);
  const t = now();
  const index: KvKey[] = [];
  for await (const e of parts.kv.list({ start: ["x"], end: ["x", t, ""] }, { limit: max })) {
    index.push(e.key);
  }
  let removed = 0;
  for (let i = 0; i < index.length; i += MAX_CHECKS) {
    removed += await expire(parts, index.slice(i, i + MAX_CHECKS), t);
  }
  return removed;
}

/** Deletes the expired heads behind expiry-index entries, and the entries. */
async function expire(
  { kv, committer }: DenoKvParts,
  index: readonly KvKey[],
  now: number,
): Promise<number> {
  const heads = index.map((k) => k.slice(2));
  const found = await kv.getMany(heads);
  const flip: Mutation[] = [];
  const garbage: Chunks[] = [];
  const checks: KvCheck[] = [];
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
  // Heads removed: the change mark moves (checked commits of many keys rely on it).
  if (removed > 0) flip.push({ key: MARK_KEY, value: EMPTY });
  if (!(await committer.atomic(flip, checks))) return 0;
  await committer.drop(garbage, garbageKey);
  return removed;
}
