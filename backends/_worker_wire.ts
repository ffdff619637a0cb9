// The byte form of the driver calls that cross to shard worker threads (./_worker_pool.ts) and
// of their replies. The hot calls (apply, getEntries, getEntry) and the plain results (booleans,
// numbers, entries) are written field by field into one ArrayBuffer per turn and worker, which
// is transferred, not cloned: a structured clone of each call's nested arrays, objects and
// Uint8Arrays took 56% of the main thread's CPU time on W1 with `workers: 2` (`bun --cpu-prof`,
// 2026-11-30). Everything else still travels structured-cloned beside the buffer, in order: a
// CLONED record in the buffer stands for the next cloned call or reply. Hand-written because
// it knows these few shapes only; a generic codec (bench/_wire.ts) cost what the clone did.
//
// Layout: u8 record kind; u32 little-endian ids and lengths; float64 numbers, NaN for null or
// absent; strings as u32 length + UTF-8 bytes.
import type { Checks, Entry, WriteOp } from "../core/driver.ts";

/** Call records. */
export const CALL_CLONED = 0;
export const CALL_APPLY = 1;
export const CALL_GET_ENTRIES = 2;
export const CALL_GET_ENTRY = 3;

/** Reply records. */
export const REPLY_CLONED = 0;
export const REPLY_FALSE = 1;
export const REPLY_TRUE = 2;
export const REPLY_UNDEFINED = 3;
export const REPLY_NUMBER = 4;
export const REPLY_ENTRY = 5;
export const REPLY_ENTRIES = 6;

/** What crosses to a thread, both ways: the buffer, its used length, the cloned records. */
export type WireMessage<C> = [buffer: ArrayBuffer, length: number, cloned: C[]];

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NO_CHECKS = 0xffffffff;

/** Writes records into a growing buffer; `take()` hands the buffer over and starts a new one. */
export class WireWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(size = 16384) {
    this.#bytes = new Uint8Array(size);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** Bytes written since the last `take()`. */
  get length(): number {
    return this.#at;
  }

  /** The buffer written so far (to transfer) and its length; the writer starts a new one. */
  take(): [ArrayBuffer, number] {
    const out: [ArrayBuffer, number] = [this.#bytes.buffer as ArrayBuffer, this.#at];
    // The next buffer is as large as this one needed, so a steady load stops growing it.
    let size = this.#bytes.length;
    while (size > 16384 && this.#at < size / 4) size /= 2;
    this.#bytes = new Uint8Array(size);
    this.#view = new DataView(this.#bytes.buffer);
    this.#at = 0;
    return out;
  }

  #room(n: number): void {
    if (this.#at + n <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < this.#at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = next;
    this.#view = new DataView(next.buffer);
  }

  u8(n: number): void {
    this.#room(1);
    this.#bytes[this.#at++] = n;
  }

  u32(n: number): void {
    this.#room(4);
    this.#view.setUint32(this.#at, n, true);
    this.#at += 4;
  }

  /** A number; `null` and `undefined` are NaN. */
  f64(n: number | null | undefined): void {
    this.#room(8);
    this.#view.setFloat64(this.#at, n ?? NaN, true);
    this.#at += 8;
  }

  /** A record's head: its kind, the call's id, and for calls the shard and clock. */
  head(kind: number, id: number): void {
    this.#room(5);
    this.#bytes[this.#at] = kind;
    this.#view.setUint32(this.#at + 1, id, true);
    this.#at += 5;
  }

  string(s: string): void {
    const n = s.length;
    this.#room(4 + n * 3);
    const b = this.#bytes;
    let at = this.#at + 4;
    let i = 0;
    // Keys are mostly ASCII: a byte a character, without a call into the encoder.
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[at++] = c;
    }
    if (i < n) at += encoder.encodeInto(s.slice(i), b.subarray(at)).written;
    this.#view.setUint32(this.#at, at - this.#at - 4, true);
    this.#at = at;
  }

  bytes(v: Uint8Array): void {
    this.#room(4 + v.length);
    this.#view.setUint32(this.#at, v.length, true);
    this.#bytes.set(v, this.#at + 4);
    this.#at += 4 + v.length;
  }

  strings(keys: readonly string[]): void {
    this.u32(keys.length);
    for (const key of keys) this.string(key);
  }

  entry(e: Entry): void {
    this.bytes(e.value);
    this.f64(e.expiresAt);
    this.f64(e.version);
  }

  entries(m: ReadonlyMap<string, Entry>): void {
    this.u32(m.size);
    for (const [key, e] of m) {
      this.string(key);
      this.entry(e);
    }
  }

  ops(ops: readonly WriteOp[]): void {
    this.u32(ops.length);
    for (const op of ops) {
      this.string(op.key);
      if (op.value === undefined) {
        this.u8(0);
        continue;
      }
      this.u8(1);
      this.bytes(op.value);
      this.f64(op.expiresAt);
      this.f64(op.version);
    }
  }

  checks(checks: Checks | undefined): void {
    if (checks === undefined) return this.u32(NO_CHECKS);
    this.u32(checks.size);
    for (const [key, e] of checks) {
      this.string(key);
      if (e === null) this.u8(0);
      else {
        this.u8(1);
        this.entry(e);
      }
    }
  }
}

/**
 * Reads what a {@linkcode WireWriter} wrote. `copy`: values come out as their own Uint8Arrays
 * (else as views of the received buffer, for a caller that only reads them before it is gone).
 */
export class WireReader {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;
  #end: number;
  #copy: boolean;

  constructor(buffer: ArrayBuffer, length: number, copy: boolean) {
    this.#bytes = new Uint8Array(buffer, 0, length);
    this.#view = new DataView(buffer, 0, length);
    this.#end = length;
    this.#copy = copy;
  }

  get done(): boolean {
    return this.#at >= this.#end;
  }

  u8(): number {
    return this.#bytes[this.#at++];
  }

  u32(): number {
    const n = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    return n;
  }

  f64(): number {
    const n = this.#view.getFloat64(this.#at, true);
    this.#at += 8;
    return n;
  }

  string(): string {
    const n = this.u32();
    const start = this.#at;
    const end = start + n;
    this.#at = end;
    const b = this.#bytes;
    let s = "";
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c >= 0x80) return decoder.decode(b.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    const start = this.#at;
    this.#at += n;
    return this.#copy
      ? this.#bytes.slice(start, start + n)
      : this.#bytes.subarray(start, start + n);
  }

  strings(): string[] {
    const keys = new Array<string>(this.u32());
    for (let i = 0; i < keys.length; i++) keys[i] = this.string();
    return keys;
  }

  entry(): Entry {
    const value = this.bytes();
    const expiresAt = this.f64();
    const version = this.f64();
    const e: Entry = { value, expiresAt: Number.isNaN(expiresAt) ? null : expiresAt };
    if (!Number.isNaN(version)) e.version = version;
    return e;
  }

  entries(): Map<string, Entry> {
    const out = new Map<string, Entry>();
    for (let n = this.u32(); n > 0; n--) {
      const key = this.string();
      out.set(key, this.entry());
    }
    return out;
  }

  ops(): WriteOp[] {
    const ops = new Array<WriteOp>(this.u32());
    for (let i = 0; i < ops.length; i++) {
      const key = this.string();
      if (this.u8() === 0) {
        ops[i] = { key };
        continue;
      }
      const value = this.bytes();
      const expiresAt = this.f64();
      const version = this.f64();
      ops[i] = {
        key,
        value,
        expiresAt: Number.isNaN(expiresAt) ? null : expiresAt,
        version: Number.isNaN(version) ? undefined : version,
      };
    }
    return ops;
  }

  checks(): Checks | undefined {
    const n = this.u32();
    if (n === NO_CHECKS) return undefined;
    const out = new Map<string, Entry | null>();
    for (let i = 0; i < n; i++) {
      const key = this.string();
      out.set(key, this.u8() === 0 ? null : this.entry());
    }
    return out;
  }
}
