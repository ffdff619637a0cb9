// Checking a shard file end to end for verifyStore: the file itself, the commits in its WAL that
// SQLite's recovery would drop, SQLite's integrity_check, and the checksum of every value.
import { open } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { CorruptStoreError, type StorageErrorInit } from "../core/errors.ts";
import {
  checkSqliteFile,
  openSqliteDatabase,
  type SqliteDatabase,
  type SqlValue,
} from "./_sqlite_driver.ts";

/**
 * The checksum stored with each row: CRC-32 of the key's UTF-8 bytes continued over the value.
 * node:zlib's crc32 is native on every runtime and measured 15-30x cheaper than hash-wasm's
 * xxhash64/xxh3 on 1 KiB values (bench/checksum.ts).
 */
export function checksum(key: string, value: Uint8Array): number {
  return crc32(value, crc32(key));
}

/** What `verifyStore` found in one shard. */
export interface ShardVerifyReport {
  /** Index of the shard. */
  shard: number;
  /** The shard's file. */
  path: string;
  /** `true` when nothing below was found. */
  ok: boolean;
  /** Rows whose checksum was compared. */
  rows: number;
  /** Rows written before values carried checksums (read unchecked). For deno-kv, rows are
   * entries (head records), wherever their values are stored. */
  unchecked: number;
  /** Keys whose stored value does not match its checksum (a key whose record is damaged in
   * another way is named in `problems`). */
  keys: string[];
  /** Everything else found wrong, one sentence each. */
  problems: string[];
}

/** Rows read per query while checking checksums (bounds memory on large shards). */
const PAGE_ROWS = 1000;

/** Checks the stored values of a shard open as `db`, adding what it finds to `report` and
 * telling `onRows` the rows checked so far. */
export type ValueCheck = (
  db: SqliteDatabase,
  report: ShardVerifyReport,
  onRows?: (rows: number) => void,
) => Promise<void>;

/**
 * Verifies one shard file: the file, its WAL, SQLite's integrity_check, then `values` (the
 * checksums of the backend's rows: checkSqliteValues or _deno_kv_verify.ts's checkDenoKvValues).
 */
export async function verifySqliteFile(
  where: StorageErrorInit,
  options: { values: ValueCheck; onRows?: (rows: number) => void },
): Promise<ShardVerifyReport> {
  const report: ShardVerifyReport = {
    shard: where.shard,
    path: where.path,
    ok: true,
    rows: 0,
    unchecked: 0,
    keys: [],
    problems: [],
  };
  const done = () => {
    report.ok = report.problems.length === 0 && report.keys.length === 0;
    return report;
  };
  try {
    await checkSqliteFile(where.path, where);
  } catch (e) {
    report.problems.push((e as Error).message);
    return done();
  }
  // Before SQLite opens the file: its recovery would drop the damaged commits, and the last
  // connection to close removes the WAL.
  report.problems.push(...walProblems(await readWal(where.path)));
  let db: SqliteDatabase | undefined;
  try {
    ({ db } = await openSqliteDatabase(where.path, { readOnly: true }));
    const integrity = allRows(db, "PRAGMA integrity_check(100)");
    const messages = integrity.map((r) => String(Object.values(r)[0]));
    if (messages.join() !== "ok") {
      report.problems.push(`SQLite integrity_check: ${messages.join("; ")}`);
    }
    await options.values(db, report, options.onRows);
  } catch (e) {
    report.problems.push(`cannot be read: ${(e as Error).message}`);
  } finally {
    db?.close();
  }
  return done();
}

/** Checks the checksum of every row of an sqlite shard (see ValueCheck). */
export async function checkSqliteValues(
  db: SqliteDatabase,
  report: ShardVerifyReport,
  onRows?: (rows: number) => void,
): Promise<void> {
  const columns = allRows(db, "SELECT name FROM pragma_table_info('kv')").map((r) => r.name);
  if (!columns.includes("key")) {
    report.problems.push("has no kv table: it is not a shardkv shard");
    return;
  }
  const crc = columns.includes("crc") ? "crc" : "NULL AS crc";
  // Keys as bytes: node:sqlite cuts TEXT at a NUL.
  const page = db.prepare(
    `SELECT rowid AS id, CAST(key AS BLOB) AS key, value, ${crc} FROM kv WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE_ROWS}`,
  );
  const utf8 = new TextDecoder();
  let after = -Infinity;
  try {
    for (;;) {
      const rows = page.all(after === -Infinity ? -1 : after);
      for (const row of rows) {
        const key = utf8.decode(row.key as Uint8Array);
        if (row.crc === null) report.unchecked++;
        else {
          report.rows++;
          if (checksum(key, row.value as Uint8Array) !== Number(row.crc)) report.keys.push(key);
        }
      }
      onRows?.(report.rows + report.unchecked);
      if (rows.length < PAGE_ROWS) break;
      after = Number(rows[rows.length - 1].id);
      // Lets a progress callback print and the caller's timers run between pages.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    page.finalize?.();
  }
}

/** Every row of `sql` with `params`; the statement is finalized (bun:sqlite's close waits for that). */
export function allRows(
  db: SqliteDatabase,
  sql: string,
  ...params: SqlValue[]
): Record<string, SqlValue>[] {
  const stmt = db.prepare(sql);
  try {
    return stmt.all(...params);
  } finally {
    stmt.finalize?.();
  }
}

const NO_HEADER = "WAL file has no valid header: SQLite ignores it, with any commits it held";
const WAL_HEADER = 32;
const FRAME_HEADER = 24;
/** Frames read per chunk by readWal. */
const CHUNK_FRAMES = 256;

/**
 * The WAL of the database at `path` up to the end of its current generation (frames carrying the
 * header's salt), read in chunks: a WAL restarted after a checkpoint is mostly stale frames,
 * which are not read. Empty when there is no WAL.
 */
export async function readWal(path: string): Promise<Uint8Array> {
  let file;
  try {
    file = await open(`${path}-wal`, "r");
  } catch {
    return new Uint8Array(0);
  }
  try {
    const header = new Uint8Array(WAL_HEADER);
    if ((await file.read(header, 0, WAL_HEADER, 0)).bytesRead < WAL_HEADER) {
      return header.subarray(0, 0);
    }
    const view = new DataView(header.buffer);
    const pageSize = view.getUint32(8);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return header;
    const frameSize = FRAME_HEADER + pageSize;
    const chunks: Uint8Array[] = [header];
    let length = WAL_HEADER;
    for (let at = WAL_HEADER;; at += CHUNK_FRAMES * frameSize) {
      const chunk = new Uint8Array(CHUNK_FRAMES * frameSize);
      const { bytesRead } = await file.read(chunk, 0, chunk.length, at);
      const frames = Math.floor(bytesRead / frameSize);
      const c = new DataView(chunk.buffer);
      let keep = 0;
      while (
        keep < frames && c.getUint32(keep * frameSize + 8) === view.getUint32(16) &&
        c.getUint32(keep * frameSize + 12) === view.getUint32(20)
      ) keep++;
      chunks.push(chunk.subarray(0, keep * frameSize));
      length += keep * frameSize;
      if (keep < CHUNK_FRAMES) break;
    }
    const wal = new Uint8Array(length);
    let offset = 0;
    for (const chunk of chunks) {
      wal.set(chunk, offset);
      offset += chunk.length;
    }
    return wal;
  } finally {
    await file.close();
  }
}

/**
 * Throws `CorruptStoreError` when the WAL of `where.path` holds commits that SQLite's recovery
 * would drop. A finding must hold on a second read, so a frame that another process is writing
 * at that moment is never taken for damage.
 */
export async function checkWal(where: StorageErrorInit): Promise<void> {
  // A WAL without a valid header proves no loss by itself: verifyStore reports it.
  const first = walProblems(await readWal(where.path)).filter((p) => p !== NO_HEADER);
  if (first.length === 0) return;
  await new Promise((resolve) => setTimeout(resolve, 20));
  const second = walProblems(await readWal(where.path));
  if (second.length === 0 || second[0] !== first[0]) return;
  throw new CorruptStoreError(
    `opening it would lose commits (restore the shard from a backup): ${second[0]}`,
    where,
  );
}

/**
 * Commits in a WAL that SQLite's recovery would silently drop: recovery replays frames while
 * each one's salt and cumulative checksum are right and stops at the first damaged one, so the
 * commits after it vanish. A frame that fails its checksum while a later frame of the same WAL
 * generation checks out (chained from the damaged frame's stored checksum) means commits were
 * written after the damage: they are reported. A torn last frame (a crash mid-write) is not.
 * Exact for a closed store; a WAL being appended to by another process at the same moment can
 * show a torn tail, which is never reported.
 */
export function walProblems(wal: Uint8Array): string[] {
  if (wal.length < WAL_HEADER) return [];
  const view = new DataView(wal.buffer, wal.byteOffset, wal.byteLength);
  const magic = view.getUint32(0);
  if ((magic & 0xfffffffe) !== 0x377f0682) return [NO_HEADER];
  const bigEndian = (magic & 1) === 1;
  const pageSize = view.getUint32(8);
  const salt1 = view.getUint32(16);
  const salt2 = view.getUint32(20);
  const frameSize = FRAME_HEADER + pageSize;
  const frames = Math.floor((wal.length - WAL_HEADER) / frameSize);
  let chain = walChecksum(view, bigEndian, 0, 24, [0, 0]);
  const headerOk = chain[0] === view.getUint32(24) && chain[1] === view.getUint32(28);
  chain = [view.getUint32(24), view.getUint32(28)];
  let firstBad = -1;
  let lostCommits = 0;
  let lostFrames = 0;
  for (let i = 0; i < frames; i++) {
    const at = WAL_HEADER + i * frameSize;
    if (view.getUint32(at + 8) !== salt1 || view.getUint32(at + 12) !== salt2) break;
    let sum = walChecksum(view, bigEndian, at, 8, chain);
    sum = walChecksum(view, bigEndian, at + FRAME_HEADER, pageSize, sum);
    const stored: [number, number] = [view.getUint32(at + 16), view.getUint32(at + 20)];
    const valid = sum[0] === stored[0] && sum[1] === stored[1];
    if (!valid && firstBad === -1) firstBad = i;
    else if (valid && (firstBad !== -1 || !headerOk)) {
      lostFrames++;
      if (view.getUint32(at + 4) !== 0) lostCommits++;
    }
    chain = stored;
  }
  // Only lost commits count: frames of a transaction that was rolled back after spilling pages
  // to the WAL stay behind the next, shorter commit, intact among themselves but never committed.
  if (!headerOk && lostCommits > 0) {
    return [
      `WAL header is damaged: SQLite ignores the whole WAL, losing ${lostCommits} commit(s) (${lostFrames} frames); to accept the loss, truncate the -wal file to 0 bytes`,
    ];
  }
  if (firstBad !== -1 && lostCommits > 0) {
    const intact = WAL_HEADER + firstBad * frameSize;
    return [
      `WAL frame ${
        firstBad + 1
      } of ${frames} is damaged: SQLite's recovery drops it and the ${lostCommits} commit(s) after it (${lostFrames} intact frames); to accept the loss, truncate the -wal file to ${intact} bytes`,
    ];
  }
  return [];
}

/** SQLite's WAL checksum: Fibonacci-weighted sums of 32-bit words, continued from `from`. */
function walChecksum(
  view: DataView,
  bigEndian: boolean,
  offset: number,
  length: number,
  from: [number, number],
): [number, number] {
  // Written out because no runtime or library exposes it; the algorithm is specified in
  // SQLite's file format documentation ("Checksum Algorithm").
  let s0 = from[0];
  let s1 = from[1];
  const little = !bigEndian;
  for (let i = offset; i < offset + length; i += 8) {
    s0 = (s0 + view.getUint32(i, little) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, little) + s0) >>> 0;
  }
  return [s0, s1];
}
