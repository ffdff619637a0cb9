// Checking every value of a deno-kv shard file for verifyStore. The file is an SQLite database
// that Deno KV (Deno's own, or the npm package @deno/kv) keeps in one table, `kv` (k: the key in
// Deno KV's tuple encoding, v: the value, v_encoding: 3 for raw bytes, which is how every record
// of the backend is stored). It is read through the project's read-only SQLite connection, never
// through Deno KV: opening a file with Deno KV writes to it (schema migration) and starts a
// background task that aborts the whole process when the file is badly damaged, while a
// read-only connection changes nothing and turns damage into an error. The layout of heads and
// chunks is described in _deno_kv_layout.ts.
import { crc32 } from "node:zlib";
import type { SqliteDatabase, SqlValue } from "./_sqlite_api.ts";
import { DamagedRecordError, decodeHead, type Head } from "./_deno_kv_layout.ts";
import { allRows, type ShardVerifyReport } from "./_sqlite_verify.ts";

/** Heads read per page (bounds memory on large shards). */
const PAGE_ROWS = 1000;
/** Deno KV's v_encoding of a value stored as raw bytes. */
const BYTES_ENCODING = 3;
/** Deno KV's tuple encoding: the type byte of a key part, and the end of a bytes/string part. */
const BYTES_PART = 0x01;
const STRING_PART = 0x02;
const NUMBER_PART = 0x21;
const END = 0x00;
const ESCAPED_NUL = 0xff;

const utf8 = new TextDecoder();

/**
 * Checks the checksum of every head of the deno-kv shard open as `db` (inline values and the
 * chunks of larger ones), one page of heads per read transaction, so that a value replaced by
 * another process meanwhile is seen whole. Damaged checksums go to `report.keys`, damaged
 * records (heads, lost chunks, foreign key encodings, an expiry time without its expiry index
 * entry) to `report.problems`, naming the key.
 */
export async function checkDenoKvValues(
  db: SqliteDatabase,
  report: ShardVerifyReport,
  onRows?: (rows: number) => void,
): Promise<void> {
  const columns = allRows(db, "SELECT name FROM pragma_table_info('kv')").map((r) => r.name);
  if (!["k", "v", "v_encoding"].every((c) => columns.includes(c))) {
    report.problems.push("has no Deno KV kv table: it is not a deno-kv shard");
    return;
  }
  // Every head key starts with a bytes part (0x01); the other keyspaces with a string (0x02).
  const page = db.prepare(
    `SELECT k, v, v_encoding FROM kv WHERE k > ? AND k < X'02' ORDER BY k LIMIT ${PAGE_ROWS}`,
  );
  const chunks = db.prepare(
    "SELECT k, v, v_encoding FROM kv WHERE k > ? AND k < ? ORDER BY k",
  );
  const exists = db.prepare("SELECT 1 AS found FROM kv WHERE k = ?");
  // A redo log (["w", id]) awaiting replay after a crash: heads and their expiry index entries
  // may sit in different parts of the interrupted commit until the next open replays it.
  const logs = db.prepare(
    `SELECT 1 AS found FROM kv WHERE k > X'027700' AND k < X'027701' LIMIT 1`,
  );
  const reads: Reads = {
    chunks: (id) => chunkRows(chunks, id),
    indexed: (key) => exists.get(key) != null,
  };
  let after: Uint8Array = Uint8Array.of(BYTES_PART);
  try {
    for (;;) {
      db.exec("BEGIN");
      let rows: Record<string, SqlValue>[];
      try {
        rows = page.all(after);
        const replayPending = logs.get() != null;
        for (const row of rows) checkHead(row, report, { ...reads, replayPending });
      } finally {
        db.exec("COMMIT");
      }
      onRows?.(report.rows + report.unchecked);
      if (rows.length < PAGE_ROWS) break;
      after = rows[rows.length - 1].k as Uint8Array;
      // Lets a progress callback print and the caller's timers run between pages.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    for (const stmt of [page, chunks, exists, logs]) stmt.finalize?.();
  }
}

/** What checking a head reads besides the head. */
interface Reads {
  /** The chunk rows of a chunked value. */
  chunks(id: Uint8Array): Record<string, SqlValue>[];
  /** Whether the record `key` (an expiry index entry) exists. */
  indexed(key: Uint8Array): boolean;
  /** A redo log awaits replay: the expiry index may lag the heads. */
  replayPending?: boolean;
}

/** Checks one head row, recording what is wrong in `report`. */
function checkHead(
  row: Record<string, SqlValue>,
  report: ShardVerifyReport,
  reads: Reads,
): void {
  const k = row.k as Uint8Array;
  const parts = decodeKey(k);
  if (
    parts === undefined || parts.length > 2 || !parts.every((p) => p instanceof Uint8Array)
  ) {
    report.problems.push(`a head record has a damaged key (${hex(k)})`);
    return;
  }
  // A long key is named by the full key its head holds, once the head is read.
  let key = parts.length === 1 ? utf8.decode(parts[0] as Uint8Array) : undefined;
  try {
    if (row.v_encoding !== BYTES_ENCODING) {
      throw new DamagedRecordError(
        `damaged head record (Deno KV value encoding ${row.v_encoding}, not bytes)`,
      );
    }
    const head = decodeHead(row.v);
    if (parts.length === 2) {
      if (head.longKey === undefined) {
        throw new DamagedRecordError("damaged head record (a long key's head without the key)");
      }
      key = utf8.decode(head.longKey);
    }
    if (head.crc === undefined) {
      report.unchecked++;
      return;
    }
    report.rows++;
    const crc = head.inline !== undefined
      ? crc32(head.inline, crc32(key!))
      : chunksCrc(key!, head, reads.chunks(head.chunks!.id));
    if (crc !== head.crc) report.keys.push(key!);
    else if (
      head.expiresAt !== null && !reads.replayPending &&
      !reads.indexed(expiryEntry(head.expiresAt, k))
    ) {
      // The checksum does not cover the expiry time; every commit that writes a head with one
      // also writes its expiry index entry (removed only with the expired head), so a head
      // whose time has no entry had its expiry bytes changed.
      throw new DamagedRecordError(
        `damaged expiry time (${head.expiresAt}: no such entry in the expiry index)`,
      );
    }
  } catch (e) {
    if (!(e instanceof DamagedRecordError)) throw e;
    report.problems.push(`key ${JSON.stringify(key ?? hex(k))}: ${e.message}`);
  }
}

/** The checksum of a chunked value from its chunk rows; throws when a chunk is missing. */
function chunksCrc(key: string, head: Head, rows: Record<string, SqlValue>[]): number {
  const { count, size } = head.chunks!;
  let crc = crc32(key);
  let length = 0;
  rows.forEach((row, i) => {
    const parts = decodeKey(row.k as Uint8Array);
    if (parts?.[2] !== i || row.v_encoding !== BYTES_ENCODING) {
      throw new DamagedRecordError(`chunk ${i} of the stored value is damaged`);
    }
    const piece = row.v as Uint8Array;
    crc = crc32(piece, crc);
    length += piece.length;
  });
  if (rows.length !== count || length !== size) {
    throw new DamagedRecordError(
      `the stored value lost chunks (${rows.length} of ${count}, ${length} of ${size} bytes)`,
    );
  }
  return crc;
}

/** The key of the expiry index entry ["x", expiresAt, ...head key parts] (_deno_kv_layout.ts). */
function expiryEntry(expiresAt: number, headKey: Uint8Array): Uint8Array {
  const bits = new Uint8Array(8);
  new DataView(bits.buffer).setFloat64(0, expiresAt);
  // Sortable form: the sign bit flipped for positive numbers, every bit for negative ones.
  if (bits[0] & 0x80) { for (let i = 0; i < 8; i++) bits[i] ^= 0xff; }
  else bits[0] ^= 0x80;
  return Uint8Array.of(STRING_PART, 0x78, END, NUMBER_PART, ...bits, ...headKey);
}

/** The rows of the chunks ["c", id, i] of one value, in order of i. */
function chunkRows(
  stmt: { all(...params: SqlValue[]): Record<string, SqlValue>[] },
  id: Uint8Array,
): Record<string, SqlValue>[] {
  const prefix = [STRING_PART, 0x63, END, BYTES_PART, ...escape(id), END];
  return stmt.all(Uint8Array.of(...prefix, NUMBER_PART), Uint8Array.of(...prefix, NUMBER_PART + 1));
}

/** Deno KV's escaping of a bytes part: each NUL becomes NUL 0xff. */
function escape(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (const b of bytes) {
    out.push(b);
    if (b === END) out.push(ESCAPED_NUL);
  }
  return out;
}

/**
 * The parts of a key in Deno KV's tuple encoding, as far as the backend uses it (bytes, strings,
 * numbers); `undefined` for anything else. Written out because neither Deno nor @deno/kv exposes
 * its key codec.
 */
export function decodeKey(k: Uint8Array): (Uint8Array | string | number)[] | undefined {
  const parts: (Uint8Array | string | number)[] = [];
  let at = 0;
  while (at < k.length) {
    const kind = k[at++];
    if (kind === NUMBER_PART) {
      if (at + 8 > k.length) return undefined;
      const bits = k.slice(at, at + 8);
      // Sortable form: the sign bit flipped for positive numbers, every bit for negative ones.
      if (bits[0] & 0x80) bits[0] ^= 0x80;
      else for (let i = 0; i < 8; i++) bits[i] ^= 0xff;
      parts.push(new DataView(bits.buffer).getFloat64(0));
      at += 8;
      continue;
    }
    if (kind !== BYTES_PART && kind !== STRING_PART) return undefined;
    const bytes: number[] = [];
    for (;;) {
      if (at >= k.length) return undefined;
      const b = k[at++];
      if (b !== END) bytes.push(b);
      else if (k[at] === ESCAPED_NUL) {
        bytes.push(END);
        at++;
      } else break;
    }
    const part = Uint8Array.from(bytes);
    parts.push(kind === STRING_PART ? utf8.decode(part) : part);
  }
  return parts;
}

function hex(bytes: Uint8Array): string {
  const shown = [...bytes.subarray(0, 40)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return bytes.length > 40 ? `${shown}…` : shown;
}
