// The byte format of the `structured` codec: a small tagged encoding of the values a
// structured clone keeps, identical on Deno, Bun and Node.
//
// Why not a library or node:v8: Bun's node:v8 serializer does not write V8's format, so its
// bytes do not read back on Deno or Node. msgpackr (tried, 1.12 with structuredClone,
// useBigIntExtension and useRecords off, on all three runtimes) turns -0 into 0, a Map with
// non-string keys into a plain object, and silently drops functions nested in objects; cbor-x
// is not installable here without overriding its native extractor. Both would also make every
// JSR user of the store download an npm package. The format below is short enough to own and
// gives exact round trips, byte-identical on every runtime.
//
// Layout: one version byte (1), then one value. A value is a tag byte and its payload; lengths
// and counts are unsigned LEB128 varints; multi-byte numbers are little-endian.
//   0 undefined   1 null   2 false   3 true
//   4 float64 (NaN always as 0x7ff8000000000000)   5 int32 as zigzag varint (never -0)
//   6 bigint: sign byte (0 or 1), varint length, magnitude bytes big-endian
//   7 string: varint UTF-8 length, UTF-8   8 string with lone surrogates: varint count, UTF-16LE
//   9 array: varint length, elements (10 marks a hole)
//   11 plain object: varint count, (key as a 7/8 string, value) pairs
//   12 Date: float64 time   13 Map: varint size, key/value pairs   14 Set: varint size, values
//   15 RegExp: source string, flags string   16 ArrayBuffer: varint length, bytes
//   17 typed array or DataView: kind byte, varint byte length, bytes (little-endian elements)
// Shared references are written once per occurrence; cycles are refused. Only plain objects
// (prototype Object.prototype or null) and the classes above are accepted: anything else, and
// symbol-keyed properties, throw TypeError, so nothing is silently dropped.

const VERSION = 1;
const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_FLOAT = 4;
const T_INT = 5;
const T_BIGINT = 6;
const T_STRING = 7;
const T_STRING16 = 8;
const T_ARRAY = 9;
const T_HOLE = 10;
const T_OBJECT = 11;
const T_DATE = 12;
const T_MAP = 13;
const T_SET = 14;
const T_REGEXP = 15;
const T_ARRAY_BUFFER = 16;
const T_VIEW = 17;

// Kinds of the steps of an error's path.
const PATH_INDEX = 0;
const PATH_KEY = 1;
const PATH_MAP_KEY = 2;
const PATH_MAP_VALUE = 3;
const PATH_SET_ITEM = 4;

type ViewConstructor = new (
  buffer: ArrayBuffer,
  byteOffset?: number,
  length?: number,
) => ArrayBufferView;

/** Kind byte of each view class, by the name its `Symbol.toStringTag` reports. */
const VIEWS: [string, ViewConstructor, number][] = [
  ["Int8Array", Int8Array, 1],
  ["Uint8Array", Uint8Array, 1],
  ["Uint8ClampedArray", Uint8ClampedArray, 1],
  ["Int16Array", Int16Array, 2],
  ["Uint16Array", Uint16Array, 2],
  ["Int32Array", Int32Array, 4],
  ["Uint32Array", Uint32Array, 4],
  ["Float32Array", Float32Array, 4],
  ["Float64Array", Float64Array, 8],
  ["BigInt64Array", BigInt64Array, 8],
  ["BigUint64Array", BigUint64Array, 8],
  ["DataView", DataView as unknown as ViewConstructor, 1],
];
const VIEW_KIND = new Map(VIEWS.map(([name], i) => [name, i]));

/** `%TypedArray%.prototype[Symbol.toStringTag]`: the class name of a real typed array. */
const typedArrayTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  Symbol.toStringTag,
)!.get!;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
/** The canonical quiet NaN, little-endian. */
const NAN_BYTES = new Uint8Array([0, 0, 0, 0, 0, 0, 0xf8, 0x7f]);
const utf8 = new TextEncoder();
const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `String.prototype.isWellFormed` where the runtime has it (all current ones do). */
export const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !/\p{Surrogate}/u.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""));

/** Thrown by `decodeStructured` for bytes this format did not write (a bad argument). */
export class MalformedError extends TypeError {
  override readonly name = "MalformedError";
}

/** Reverses the bytes of each `size`-byte element (only on big-endian platforms). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;
  /** Containers being written, outermost first, to refuse cycles. */
  #open: object[] = [];
  /** Where in the value we are, for error messages: (PATH_* kind, index or key) pairs,
   * formatted only when an error is thrown. */
  #path: (number | string)[] = [];

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }

  varint(n: number): void {
    this.#reserve(8);
    while (n >= 0x80) {
      this.#buf[this.#len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#len++] = n;
  }

  float(n: number): void {
    this.#reserve(8);
    // Through a scratch Float64Array: DataView.setFloat64 is several times slower on V8.
    // One NaN bit pattern whatever the runtime's NaN payload.
    F64[0] = n;
    if (n !== n) F64_BYTES.set(NAN_BYTES);
    else if (!LITTLE_ENDIAN) F64_BYTES.reverse();
    const buf = this.#buf;
    const at = this.#len;
    for (let i = 0; i < 8; i++) buf[at + i] = F64_BYTES[i];
    this.#len += 8;
  }

  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  string(s: string): void {
    const n = s.length;
    if (n < 128) {
      // Short ASCII (most keys and many values): written directly, no encoder call.
      this.#reserve(2 + n);
      const start = this.#len;
      this.#buf[start] = T_STRING;
      this.#buf[start + 1] = n;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        this.#buf[start + 2 + i] = c;
      }
      if (i === n) {
        this.#len = start + 2 + n;
        return;
      }
    }
    if (isWellFormed(s)) {
      // UTF-8 is at most 3 bytes per UTF-16 code unit: encode past the longest varint, then
      // move the bytes down behind the varint of their real length.
      this.#reserve(10 + n * 3);
      const bodyAt = this.#len + 6;
      const { written } = utf8.encodeInto(
        s,
        new Uint8Array(this.#buf.buffer, bodyAt, n * 3),
      );
      this.#buf[this.#len++] = T_STRING;
      this.varint(written);
      this.#buf.copyWithin(this.#len, bodyAt, bodyAt + written);
      this.#len += written;
      return;
    }
    this.byte(T_STRING16);
    this.varint(n);
    this.#reserve(n * 2);
    for (let i = 0; i < n; i++) {
      this.#view.setUint16(this.#len, s.charCodeAt(i), true);
      this.#len += 2;
    }
  }

  fail(what: string): never {
    let at = "";
    for (let i = 0; i < this.#path.length; i += 2) {
      const kind = this.#path[i];
      const key = this.#path[i + 1];
      if (kind === PATH_INDEX) at += `[${key}]`;
      else if (kind === PATH_KEY) at += `.${key}`;
      else {
        at += `<${
          kind === PATH_MAP_KEY ? "key" : kind === PATH_MAP_VALUE ? "value" : "item"
        } ${key}>`;
      }
    }
    throw new TypeError(`The structured codec cannot encode ${what}${at && ` at ${at}`}`);
  }

  value(v: unknown): void {
    switch (typeof v) {
      case "undefined":
        return this.byte(T_UNDEFINED);
      case "boolean":
        return this.byte(v ? T_TRUE : T_FALSE);
      case "number":
        if ((v | 0) === v && !Object.is(v, -0)) {
          this.byte(T_INT);
          return this.varint(((v << 1) ^ (v >> 31)) >>> 0);
        }
        this.byte(T_FLOAT);
        return this.float(v);
      case "bigint": {
        const negative = v < 0n;
        let hex = (negative ? -v : v).toString(16);
        if (hex.length % 2 === 1) hex = `0${hex}`;
        this.byte(T_BIGINT);
        this.byte(negative ? 1 : 0);
        this.varint(hex.length / 2);
        this.#reserve(hex.length / 2);
        for (let i = 0; i < hex.length; i += 2) {
          this.#buf[this.#len++] = parseInt(hex.slice(i, i + 2), 16);
        }
        return;
      }
      case "string":
        return this.string(v);
      case "object":
        if (v === null) return this.byte(T_NULL);
        return this.#object(v);
      default:
        // function, symbol
        this.fail(`a ${typeof v}`);
    }
  }

  /** Writes `value`, found at `at` of a container of kind `kind` (see `#path`). */
  #child(kind: number, at: number | string, value: unknown): void {
    this.#path.push(kind, at);
    this.value(value);
    this.#path.pop();
    this.#path.pop();
  }

  /** Writes the members of an array, Map, Set or plain object (`container`). */
  #container(v: object): void {
    // A cycle: `v` is one of the containers being written. The stack is as deep as the value,
    // which is shallow in practice, so a linear search beats a Set's hashing.
    if (this.#open.includes(v)) this.fail("a cyclic reference");
    this.#open.push(v);
    if (Array.isArray(v)) {
      this.byte(T_ARRAY);
      this.varint(v.length);
      for (let i = 0; i < v.length; i++) {
        if (i in v) this.#child(PATH_INDEX, i, v[i]);
        else this.byte(T_HOLE);
      }
    } else if (v instanceof Map) {
      this.byte(T_MAP);
      this.varint(v.size);
      let i = 0;
      for (const [key, value] of v) {
        this.#child(PATH_MAP_KEY, i, key);
        this.#child(PATH_MAP_VALUE, i++, value);
      }
    } else if (v instanceof Set) {
      this.byte(T_SET);
      this.varint(v.size);
      let i = 0;
      for (const item of v) this.#child(PATH_SET_ITEM, i++, item);
    } else {
      if (Object.getOwnPropertySymbols(v).length > 0) this.fail("a symbol-keyed property");
      const keys = Object.keys(v);
      this.byte(T_OBJECT);
      this.varint(keys.length);
      for (const key of keys) {
        this.string(key);
        this.#child(PATH_KEY, key, (v as Record<string, unknown>)[key]);
      }
    }
    this.#open.pop();
  }

  #object(v: object): void {
    // Most common first: arrays and plain objects.
    if (Array.isArray(v)) return this.#container(v);
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) return this.#container(v);
    if (ArrayBuffer.isView(v)) {
      const name = v instanceof DataView ? "DataView" : typedArrayTag.call(v) as string;
      const kind = VIEW_KIND.get(name);
      if (kind === undefined) this.fail(`an instance of ${name}`);
      const src = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      this.byte(T_VIEW);
      this.byte(kind);
      this.varint(src.length);
      const at = this.#len;
      this.bytes(src);
      if (!LITTLE_ENDIAN && VIEWS[kind][2] > 1) {
        swapBytes(this.#buf.subarray(at, this.#len), VIEWS[kind][2]);
      }
      return;
    }
    if (v instanceof Map || v instanceof Set) return this.#container(v);
    if (v instanceof Date) {
      this.byte(T_DATE);
      return this.float(v.getTime());
    }
    if (v instanceof RegExp) {
      this.byte(T_REGEXP);
      this.string(v.source);
      return this.string(v.flags);
    }
    if (Object.prototype.toString.call(v) === "[object ArrayBuffer]") {
      const src = new Uint8Array(v as ArrayBuffer);
      this.byte(T_ARRAY_BUFFER);
      this.varint(src.length);
      return this.bytes(src);
    }
    const name = proto?.constructor?.name ?? "unknown";
    this.fail(`an instance of ${name} (only plain objects and the listed classes)`);
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

class Reader {
  #buf: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #need(n: number): number {
    if (this.#at + n > this.#buf.length) {
      throw new MalformedError(`truncated: ${n} more bytes needed at offset ${this.#at}`);
    }
    const at = this.#at;
    this.#at += n;
    return at;
  }

  byte(): number {
    return this.#buf[this.#need(1)];
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 49) throw new MalformedError(`varint too long at offset ${this.#at}`);
    }
    return n;
  }

  /** A count of items, each at least `minBytes` long: refuses counts the input cannot hold. */
  count(minBytes: number): number {
    const n = this.varint();
    if (n * minBytes > this.#buf.length - this.#at) {
      throw new MalformedError(`count ${n} exceeds the remaining input at offset ${this.#at}`);
    }
    return n;
  }

  float(): number {
    // Through the scratch Float64Array, as the writer does.
    const at = this.#need(8);
    for (let i = 0; i < 8; i++) F64_BYTES[i] = this.#buf[at + i];
    if (!LITTLE_ENDIAN) F64_BYTES.reverse();
    return F64[0];
  }

  take(n: number): Uint8Array {
    const at = this.#need(n);
    return this.#buf.subarray(at, at + n);
  }

  done(): boolean {
    return this.#at === this.#buf.length;
  }

  string(tag: number): string {
    if (tag === T_STRING) {
      const n = this.count(1);
      if (n <= 32) {
        // Short ASCII: built directly (a TextDecoder call costs more than the string).
        const at = this.#at;
        let s = "";
        let i = 0;
        for (; i < n; i++) {
          const c = this.#buf[at + i];
          if (c >= 0x80) break;
          s += String.fromCharCode(c);
        }
        if (i === n) {
          this.#at += n;
          return s;
        }
      }
      try {
        return utf8Fatal.decode(this.take(n));
      } catch (e) {
        if (e instanceof MalformedError) throw e;
        throw new MalformedError("a string is not valid UTF-8", { cause: e });
      }
    }
    if (tag !== T_STRING16) throw new MalformedError(`expected a string, found tag ${tag}`);
    const n = this.count(2);
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.#view.getUint16(this.#need(2), true));
    return s;
  }

  value(): unknown {
    const tag = this.byte();
    switch (tag) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_FLOAT:
        return this.float();
      case T_INT: {
        const z = this.varint();
        if (z > 0xffffffff) throw new MalformedError("int32 out of range");
        return (z >>> 1) ^ -(z & 1);
      }
      case T_BIGINT: {
        const sign = this.byte();
        if (sign > 1) throw new MalformedError(`bad bigint sign ${sign}`);
        const bytes = this.take(this.count(1));
        let hex = "0x0";
        for (const b of bytes) hex += b.toString(16).padStart(2, "0");
        const n = BigInt(hex);
        return sign === 1 ? -n : n;
      }
      case T_STRING:
      case T_STRING16:
        return this.string(tag);
      case T_ARRAY: {
        const out: unknown[] = new Array(this.count(1));
        for (let i = 0; i < out.length; i++) {
          if (this.#buf[this.#at] === T_HOLE) this.#at++;
          else out[i] = this.value();
        }
        return out;
      }
      case T_OBJECT: {
        const out: Record<string, unknown> = {};
        const n = this.count(2);
        for (let i = 0; i < n; i++) {
          const key = this.string(this.byte());
          // defineProperty: a "__proto__" key stays an own property, as it was written.
          if (key === "__proto__") {
            Object.defineProperty(out, key, {
              value: this.value(),
              writable: true,
              enumerable: true,
              configurable: true,
            });
          } else out[key] = this.value();
        }
        return out;
      }
      case T_DATE:
        return new Date(this.float());
      case T_MAP: {
        const out = new Map();
        const n = this.count(2);
        for (let i = 0; i < n; i++) out.set(this.value(), this.value());
        return out;
      }
      case T_SET: {
        const out = new Set();
        const n = this.count(1);
        for (let i = 0; i < n; i++) out.add(this.value());
        return out;
      }
      case T_REGEXP: {
        const source = this.string(this.byte());
        const flags = this.string(this.byte());
        try {
          return new RegExp(source, flags);
        } catch (e) {
          throw new MalformedError(`bad RegExp /${source}/${flags}`, { cause: e });
        }
      }
      case T_ARRAY_BUFFER:
        return this.take(this.count(1)).slice().buffer;
      case T_VIEW: {
        const kind = this.byte();
        const entry = VIEWS[kind];
        if (entry === undefined) throw new MalformedError(`unknown view kind ${kind}`);
        const [name, View, size] = entry;
        const length = this.count(1);
        if (length % size !== 0) {
          throw new MalformedError(`${name} of ${length} bytes is not a whole number of elements`);
        }
        const bytes = this.take(length).slice();
        if (!LITTLE_ENDIAN && size > 1) swapBytes(bytes, size);
        return new View(bytes.buffer, 0, name === "DataView" ? length : length / size);
      }
      default:
        throw new MalformedError(`unknown tag ${tag} at offset ${this.#at - 1}`);
    }
  }
}

/** Encodes `value` in the structured format; TypeError for what it cannot keep exactly. */
export function encodeStructured(value: unknown): Uint8Array {
  const w = new Writer();
  w.byte(VERSION);
  w.value(value);
  return w.result();
}

/** Decodes bytes written by `encodeStructured`; `MalformedError` for anything else. */
export function decodeStructured(bytes: Uint8Array): unknown {
  const r = new Reader(bytes);
  const version = r.byte();
  if (version !== VERSION) {
    throw new MalformedError(`unknown structured format version ${version} (expected 1)`);
  }
  const value = r.value();
  if (!r.done()) throw new MalformedError("trailing bytes after the value");
  return value;
}
