// How the deno-kv backend lays a shard out in one Deno KV database, and Deno KV's limits.
//
// Heads: [keyBytes] -> head record. A one-part Uint8Array key, which Deno KV orders bytewise,
//   so head order is the contract's UTF-8 byte order. Keys longer than SHORT_KEY bytes cannot
//   fit Deno KV's 2048-byte key limit (NUL bytes are escaped to two bytes), so they are stored
//   as [first SHORT_KEY bytes, sha256(key)[0..16]] with the full key inside the head. Every key
//   of such a group shares its first part, so the group sits where it belongs in byte order and
//   only its inside (hash order) is re-sorted by the reader.
// Every other keyspace starts with a string part, which Deno KV sorts after all byte parts:
//   ["c", id, i]      chunk i of a staged value (or of a redo log), id: 12 random bytes
//   ["p", id]         staging of id in progress: (count, wall-clock ms); gone when its heads commit
//   ["g", id]         chunks of id are garbage (count); written in the commit that drops them
//   ["w", id]         redo log of a commit too large for one atomic(): count of its log chunks
//   ["x", expiresAt, ...headKey]  expiry index for the sweeper (may be stale; checked on use)
//   ["m"]             an empty record rewritten by every commit that changes heads: its Deno KV
//                     versionstamp is the shard's change mark (Driver.changes())
//   ["lock"]          the shard's write lock while a handle holds it (see _deno_kv_lock.ts)
import { createHash } from "node:crypto";
import type { KvKey, KvKeyPart } from "./_deno_kv_api.ts";

/** Keys longer than this many UTF-8 bytes are stored under a hashed head key. */
export const SHORT_KEY = 900;
/** Largest value kept inside its head record (Deno KV values: at most 64 KiB). */
export const INLINE_MAX = 60 * 1024;
/** Size of one chunk of a larger value. */
export const CHUNK_SIZE = 60 * 1024;
/** Per-atomic budgets, below Deno KV's limits (1000 mutations, 800 KiB, 80 KiB of keys). */
export const MAX_MUTATIONS = 1000;
const MAX_COMMIT_BYTES = 700_000;
const MAX_KEY_BYTES = 70_000;
/** Deno KV: getMany takes at most 10 keys; @deno/kv also allows only 10 checks per atomic, one
 * of which every write spends on the lock record (LOCK_KEY): at most 9 others. */
export const MAX_READ_KEYS = 10;
export const MAX_CHECKS = 9;
/** Bounds of the head keyspace: every byte part sorts before every string part. */
export const HEADS_START: KvKey = [new Uint8Array(0)];
export const HEADS_END: KvKey = [""];

const ID_BYTES = 12;
const utf8 = new TextEncoder();

/** A mutation of one commit: a set when `value` is present, else a delete. */
export interface Mutation {
  key: KvKey;
  value?: Uint8Array;
}

/** The head key of `key` and, for a long key, its UTF-8 bytes (kept in the head). */
export interface HeadKey {
  kvKey: KvKey;
  longKey: Uint8Array | undefined;
}

/** Where the head of `key` lives. */
export function headKeyOf(key: string): HeadKey {
  const bytes = utf8.encode(key);
  if (bytes.length <= SHORT_KEY) return { kvKey: [bytes], longKey: undefined };
  const hash = createHash("sha256").update(bytes).digest().subarray(0, 16);
  return { kvKey: [bytes.subarray(0, SHORT_KEY), new Uint8Array(hash)], longKey: bytes };
}

/** Whether a head key is the hashed form of a long key. */
export function isLongHeadKey(kvKey: KvKey): boolean {
  return kvKey.length === 2;
}

/** A fresh id for the chunks of one staged value or redo log. */
export function newId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(ID_BYTES));
}

/** Keys of the non-head keyspaces (see the top of this file). */
export const chunkKey = (id: Uint8Array, i: number): KvKey => ["c", id, i];
export const pendingKey = (id: Uint8Array): KvKey => ["p", id];
export const garbageKey = (id: Uint8Array): KvKey => ["g", id];
export const logKey = (id: Uint8Array): KvKey => ["w", id];
export const expiryKey = (expiresAt: number, head: KvKey): KvKey => ["x", expiresAt, ...head];
export const MARK_KEY: KvKey = ["m"];
export const LOCK_KEY: KvKey = ["lock"];

/** A change mark from the versionstamp of MARK_KEY (`null`: never written): the low 52 bits of
 * Deno KV's 64-bit commit version (20 hex digits: the version, then a 16-bit batch index). */
export function markOf(versionstamp: string | null): number {
  return versionstamp === null ? 0 : parseInt(versionstamp.slice(3, 16), 16);
}

/** A decoded head record. */
export interface Head {
  /** The entry's version; 0 for a head written before versions were stored. */
  version: number;
  /** checksum(key, whole value) (see _sqlite_verify.ts); `undefined` in older heads. */
  crc: number | undefined;
  expiresAt: number | null;
  /** UTF-8 bytes of a long key. */
  longKey: Uint8Array | undefined;
  /** The value when it is stored inline. */
  inline: Uint8Array | undefined;
  /** Where the value lives when it is chunked. */
  chunks: { id: Uint8Array; count: number; size: number } | undefined;
}

const CHUNKED = 1;
const EXPIRES = 2;
const LONG_KEY = 4;
const VERSIONED = 8;
const CHECKSUMMED = 16;
const KNOWN_FLAGS = CHUNKED | EXPIRES | LONG_KEY | VERSIONED | CHECKSUMMED;

/** Head record layout: flags u8, [version f64], [crc u32], [expiresAt f64], [key length u16,
 * key], then the inline value or [id, chunk count u32, size u32]. Heads written before versions
 * and checksums existed lack those flags: they read as version 0, unchecked. */
export function encodeHead(head: Head): Uint8Array {
  const versioned = head.version > 0;
  const checked = head.crc !== undefined;
  const flags = (head.chunks ? CHUNKED : 0) | (head.expiresAt !== null ? EXPIRES : 0) |
    (head.longKey ? LONG_KEY : 0) | (versioned ? VERSIONED : 0) | (checked ? CHECKSUMMED : 0);
  const size = 1 + (versioned ? 8 : 0) + (checked ? 4 : 0) + (head.expiresAt !== null ? 8 : 0) +
    (head.longKey ? 2 + head.longKey.length : 0) +
    (head.chunks ? ID_BYTES + 8 : head.inline!.length);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = flags;
  let at = 1;
  if (versioned) {
    view.setFloat64(at, head.version);
    at += 8;
  }
  if (checked) {
    view.setUint32(at, head.crc!);
    at += 4;
  }
  if (head.expiresAt !== null) {
    view.setFloat64(at, head.expiresAt);
    at += 8;
  }
  if (head.longKey) {
    view.setUint16(at, head.longKey.length);
    out.set(head.longKey, at + 2);
    at += 2 + head.longKey.length;
  }
  if (head.chunks) {
    out.set(head.chunks.id, at);
    view.setUint32(at + ID_BYTES, head.chunks.count);
    view.setUint32(at + ID_BYTES + 4, head.chunks.size);
  } else {
    out.set(head.inline!, at);
  }
  return out;
}

/** Damage found in a record of the shard (one that cannot be what the backend wrote). */
export class DamagedRecordError extends Error {
  override readonly name = "DamagedRecordError";
  /** The key whose record is damaged, when known. */
  readonly key: string | undefined;
  constructor(problem: string, key?: string) {
    super(problem);
    this.key = key;
  }
}

/** Reads a head record; inline values come back as plain Uint8Array views. Throws
 * DamagedRecordError for a record too short for its flags, or with flags no version wrote. */
export function decodeHead(record: unknown, key?: string): Head {
  if (!(record instanceof Uint8Array) || record.length === 0) {
    throw new DamagedRecordError(`damaged head record (${describeRecord(record)})`, key);
  }
  if (record[0] & ~KNOWN_FLAGS) {
    throw new DamagedRecordError(`damaged head record (unknown flags ${record[0]})`, key);
  }
  try {
    return decodeHeadBytes(record);
  } catch (e) {
    // DataView reads past the end throw RangeError: the record is shorter than its flags say.
    if (!(e instanceof RangeError)) throw e;
    throw new DamagedRecordError(`damaged head record (${record.length} bytes, ${e.message})`, key);
  }
}

function decodeHeadBytes(record: Uint8Array): Head {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const flags = record[0];
  let at = 1;
  let version = 0;
  if (flags & VERSIONED) {
    version = view.getFloat64(at);
    if (!Number.isSafeInteger(version) || version < 1) throw new RangeError("bad version");
    at += 8;
  }
  let crc: number | undefined;
  if (flags & CHECKSUMMED) {
    crc = view.getUint32(at);
    at += 4;
  }
  let expiresAt: number | null = null;
  if (flags & EXPIRES) {
    expiresAt = view.getFloat64(at);
    at += 8;
  }
  let longKey: Uint8Array | undefined;
  if (flags & LONG_KEY) {
    const n = view.getUint16(at);
    longKey = record.subarray(at + 2, at + 2 + n);
    at += 2 + n;
  }
  if (flags & CHUNKED) {
    return {
      version,
      crc,
      expiresAt,
      longKey,
      inline: undefined,
      chunks: {
        id: record.slice(at, at + ID_BYTES),
        count: view.getUint32(at + ID_BYTES),
        size: view.getUint32(at + ID_BYTES + 4),
      },
    };
  }
  // A plain Uint8Array view: @deno/kv on Bun returns Node Buffers.
  const inline = new Uint8Array(record.buffer, record.byteOffset + at, record.byteLength - at);
  return { version, crc, expiresAt, longKey, inline, chunks: undefined };
}

function describeRecord(record: unknown): string {
  return record instanceof Uint8Array ? "empty" : `a ${typeof record}`;
}

/** The value of a "p", "g" or "w" record: a u32 chunk count and an f64 (pending: wall-clock ms
 * when staging began; redo log: its size in bytes). */
export function encodeRecord(count: number, extra: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setUint32(0, count);
  view.setFloat64(4, extra);
  return out;
}

/** Reads what encodeRecord wrote. */
export function decodeRecord(record: unknown): { count: number; extra: number } {
  const b = record as Uint8Array;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { count: view.getUint32(0), extra: view.getFloat64(4) };
}

/** Upper bound of the stored size of a key (Deno KV escapes NUL bytes to two). */
function keySize(key: KvKey): number {
  let n = 0;
  for (const part of key) {
    n += typeof part === "number"
      ? 9
      : 2 + 2 * (typeof part === "string" ? part.length * 3 : part.length);
  }
  return n;
}

/** Splits mutations, in order, into groups that each fit one atomic(). */
export function packCommits(mutations: readonly Mutation[]): Mutation[][] {
  const groups: Mutation[][] = [];
  let group: Mutation[] = [];
  let bytes = 0;
  let keyBytes = 0;
  for (const m of mutations) {
    const k = keySize(m.key);
    const size = k + (m.value?.length ?? 0);
    if (
      group.length > 0 &&
      (group.length >= MAX_MUTATIONS || bytes + size > MAX_COMMIT_BYTES ||
        keyBytes + k > MAX_KEY_BYTES)
    ) {
      groups.push(group);
      group = [];
      bytes = 0;
      keyBytes = 0;
    }
    group.push(m);
    bytes += size;
    keyBytes += k;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** Splits `bytes` into CHUNK_SIZE pieces (views, no copy). */
export function splitChunks(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK_SIZE) {
    out.push(bytes.subarray(at, Math.min(at + CHUNK_SIZE, bytes.length)));
  }
  return out;
}

// Redo log: the mutations of a commit that needs several atomic() calls, as bytes.
// Each mutation: u8 (1 set, 0 delete), u8 part count, parts (u8 kind, then u32 length + bytes
// for bytes/strings or f64 for numbers), then for a set u32 length + value.
const PART_BYTES = 0;
const PART_STRING = 1;
const PART_NUMBER = 2;

/** The bytes of a redo log. */
export function encodeLog(mutations: readonly Mutation[]): Uint8Array {
  const pieces: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array): void => {
    pieces.push(b);
    total += b.length;
  };
  const u32 = (n: number): Uint8Array => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  };
  for (const m of mutations) {
    push(Uint8Array.of(m.value ? 1 : 0, m.key.length));
    for (const part of m.key) {
      if (typeof part === "number") {
        const b = new Uint8Array(9);
        b[0] = PART_NUMBER;
        new DataView(b.buffer).setFloat64(1, part);
        push(b);
      } else {
        const bytes = typeof part === "string" ? utf8.encode(part) : part;
        push(Uint8Array.of(typeof part === "string" ? PART_STRING : PART_BYTES));
        push(u32(bytes.length));
        push(bytes);
      }
    }
    if (m.value) {
      push(u32(m.value.length));
      push(m.value);
    }
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The mutations of a redo log. */
export function decodeLog(bytes: Uint8Array): Mutation[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  const out: Mutation[] = [];
  let at = 0;
  while (at < bytes.length) {
    const isSet = bytes[at] === 1;
    const parts = bytes[at + 1];
    at += 2;
    const key: KvKeyPart[] = [];
    for (let i = 0; i < parts; i++) {
      const kind = bytes[at++];
      if (kind === PART_NUMBER) {
        key.push(view.getFloat64(at));
        at += 8;
      } else {
        const n = view.getUint32(at);
        const b = bytes.slice(at + 4, at + 4 + n);
        key.push(kind === PART_STRING ? text.decode(b) : b);
        at += 4 + n;
      }
    }
    if (isSet) {
      const n = view.getUint32(at);
      out.push({ key, value: bytes.slice(at + 4, at + 4 + n) });
      at += 4 + n;
    } else {
      out.push({ key });
    }
  }
  return out;
}
