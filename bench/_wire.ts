// The byte form of the calls and replies that cross to shard worker threads through the ring
// (bench/_ring.ts): only the shapes those calls use (undefined, null, booleans, numbers, strings,
// Uint8Array, arrays, Maps and plain objects), with no checks beyond that. core/_structured.ts
// keeps every structured-clone value exactly and checks each; measured here it costs ~10x more
// per batch than a structured clone, so it cannot carry a transport.
//
// Layout: a tag byte per value; lengths are u32 little-endian; numbers float64.
const UNDEFINED = 0;
const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const NUMBER = 4;
const ASCII = 5;
const UTF8 = 6;
const BYTES = 7;
const ARRAY = 8;
const MAP = 9;
const OBJECT = 10;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes `value` (of the shapes above; anything else throws TypeError). */
export function encodeWire(value: unknown): Uint8Array {
  const w = new Writer();
  w.value(value);
  return w.bytes.subarray(0, w.at);
}

/** Decodes bytes of `encodeWire`; the Uint8Arrays it returns are copies. */
export function decodeWire(bytes: Uint8Array): unknown {
  return new Reader(bytes).value();
}

class Writer {
  bytes = new Uint8Array(256);
  view = new DataView(this.bytes.buffer);
  at = 0;

  #room(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.at));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  #u32(n: number): void {
    this.view.setUint32(this.at, n, true);
    this.at += 4;
  }

  value(v: unknown): void {
    this.#room(9);
    switch (typeof v) {
      case "undefined":
        this.bytes[this.at++] = UNDEFINED;
        return;
      case "boolean":
        this.bytes[this.at++] = v ? TRUE : FALSE;
        return;
      case "number":
        this.bytes[this.at++] = NUMBER;
        this.view.setFloat64(this.at, v, true);
        this.at += 8;
        return;
      case "string":
        return this.#string(v);
    }
    if (v === null) {
      this.bytes[this.at++] = NULL;
    } else if (v instanceof Uint8Array) {
      this.bytes[this.at++] = BYTES;
      this.#u32(v.length);
      this.#room(v.length);
      this.bytes.set(v, this.at);
      this.at += v.length;
    } else if (Array.isArray(v)) {
      this.bytes[this.at++] = ARRAY;
      this.#u32(v.length);
      for (const item of v) this.value(item);
    } else if (v instanceof Map) {
      this.bytes[this.at++] = MAP;
      this.#u32(v.size);
      for (const [k, item] of v) {
        this.value(k);
        this.value(item);
      }
    } else if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
      const entries = Object.entries(v);
      this.bytes[this.at++] = OBJECT;
      this.#u32(entries.length);
      for (const [k, item] of entries) {
        this.#string(k);
        this.value(item);
      }
    } else {
      throw new TypeError(`cannot send ${Object.prototype.toString.call(v)} to a shard worker`);
    }
  }

  #string(s: string): void {
    const n = s.length;
    this.#room(5 + n);
    const start = this.at;
    this.bytes[this.at] = ASCII;
    this.at += 5;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      this.bytes[this.at++] = c;
    }
    if (i < n) {
      // Not ASCII: the whole string as UTF-8 (at most 3 bytes per UTF-16 unit).
      this.at = start + 5;
      this.#room(3 * n);
      this.bytes[start] = UTF8;
      this.at += encoder.encodeInto(s, this.bytes.subarray(this.at)).written;
    }
    this.view.setUint32(start + 1, this.at - start - 5, true);
  }
}

class Reader {
  #bytes: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #u32(): number {
    const n = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    return n;
  }

  value(): unknown {
    const tag = this.#bytes[this.#at++];
    switch (tag) {
      case UNDEFINED:
        return undefined;
      case NULL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      case NUMBER: {
        const n = this.#view.getFloat64(this.#at, true);
        this.#at += 8;
        return n;
      }
      case ASCII: {
        const n = this.#u32();
        const s = n < 64
          ? String.fromCharCode(...this.#bytes.subarray(this.#at, this.#at + n))
          : decoder.decode(this.#bytes.subarray(this.#at, this.#at + n));
        this.#at += n;
        return s;
      }
      case UTF8: {
        const n = this.#u32();
        const s = decoder.decode(this.#bytes.subarray(this.#at, this.#at + n));
        this.#at += n;
        return s;
      }
      case BYTES: {
        const n = this.#u32();
        const b = this.#bytes.slice(this.#at, this.#at + n);
        this.#at += n;
        return b;
      }
      case ARRAY: {
        const n = this.#u32();
        const out = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value();
        return out;
      }
      case MAP: {
        const n = this.#u32();
        const out = new Map();
        for (let i = 0; i < n; i++) out.set(this.value(), this.value());
        return out;
      }
      case OBJECT: {
        const n = this.#u32();
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = this.value() as string;
          out[k] = this.value();
        }
        return out;
      }
      default:
        throw new Error(`bad wire tag ${tag} at ${this.#at - 1}`);
    }
  }
}
