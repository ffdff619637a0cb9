// Seeded random values of every kind the structured codec keeps, and a strict comparison
// (types, prototypes, -0, NaN, holes, order of keys and of Map/Set entries, view bytes), shared
// by codec_test.ts and the child that encodes and decodes them on another runtime.

import { prng } from "./_helpers.ts";

const VIEW_CLASSES = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
] as const;

const SPECIAL_NUMBERS = [
  0,
  -0,
  NaN,
  Infinity,
  -Infinity,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  2 ** 31,
  -(2 ** 31),
  2 ** 31 - 1,
  2 ** 32,
  0.1,
  -1.5e-300,
];

const REGEXPS = [/a+b/gi, /^x$/m, /\p{L}+/u, /[/]\//y, /(?<n>\d)/s, /x/dg];

/** A random value of depth at most `depth`. */
export function randomValue(next: () => number, depth = 3): unknown {
  const int = (n: number): number => Math.floor(next() * n);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const kinds = depth > 0 ? 17 : 12;
  switch (int(kinds)) {
    case 0:
      return [undefined, null, true, false][int(4)];
    case 1:
      return int(2) === 0 ? int(2 ** 31) - 2 ** 30 : SPECIAL_NUMBERS[int(SPECIAL_NUMBERS.length)];
    case 2: {
      // any float64 bit pattern (NaN payloads included)
      const v = new DataView(bytes(8).buffer);
      return v.getFloat64(0);
    }
    case 3: {
      let b = 0n;
      const n = int(40);
      for (let i = 0; i < n; i++) b = (b << 8n) | BigInt(int(256));
      return int(2) === 0 ? -b : b;
    }
    case 4: {
      // code units of every sort: ASCII, BMP, surrogate pairs and lone surrogates
      let s = "";
      const n = int(20);
      for (let i = 0; i < n; i++) {
        const r = int(4);
        if (r === 0) s += String.fromCharCode(32 + int(95));
        else if (r === 1) s += String.fromCharCode(int(0x10000));
        else if (r === 2) s += String.fromCodePoint(0x10000 + int(0x100000));
        else s += "é\0";
      }
      return s;
    }
    case 5:
      return new Date(int(2) === 0 ? int(2 ** 42) - 2 ** 41 : [NaN, 8.64e15, -8.64e15][int(3)]);
    case 6:
      return REGEXPS[int(REGEXPS.length)];
    case 7:
      return bytes(int(16)).buffer;
    case 8:
    case 9:
    case 10: {
      const View = VIEW_CLASSES[int(VIEW_CLASSES.length)];
      const size = "BYTES_PER_ELEMENT" in View ? View.BYTES_PER_ELEMENT : 1;
      const length = int(6);
      const offset = int(3);
      const buffer = new ArrayBuffer((offset + length + int(3)) * size);
      new Uint8Array(buffer).set(bytes(buffer.byteLength));
      const Ctor = View as new (b: ArrayBuffer, offset: number, length: number) => ArrayBufferView;
      return new Ctor(buffer, offset * size, length);
    }
    case 11:
      return "";
    case 12: {
      const out: unknown[] = new Array(int(6));
      for (let i = 0; i < out.length; i++) if (int(5) > 0) out[i] = randomValue(next, depth - 1);
      return out;
    }
    case 13:
    case 14: {
      const out: Record<string, unknown> = {};
      const n = int(5);
      for (let i = 0; i < n; i++) {
        const key = ["a", "b", "__proto__", "0", "10", "é", "\ud800", "constructor"][int(8)];
        Object.defineProperty(out, key, {
          value: randomValue(next, depth - 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    case 15: {
      const out = new Map<unknown, unknown>();
      const n = int(4);
      for (let i = 0; i < n; i++) {
        out.set(randomValue(next, depth - 1), randomValue(next, depth - 1));
      }
      return out;
    }
    default: {
      const out = new Set<unknown>();
      const n = int(4);
      for (let i = 0; i < n; i++) out.add(randomValue(next, depth - 1));
      return out;
    }
  }
}

/** `count` values from `seed`. */
export function corpus(seed: number, count: number): unknown[] {
  const next = prng(seed);
  return Array.from({ length: count }, () => randomValue(next));
}

const tag = (v: unknown): string => Object.prototype.toString.call(v);

/** `undefined` when `a` and `b` are the same value, else where and how they differ. */
export function difference(a: unknown, b: unknown, path = "$"): string | undefined {
  if (typeof a !== typeof b) return `${path}: ${typeof a} vs ${typeof b}`;
  if (typeof a !== "object" || a === null || b === null) {
    return Object.is(a, b) ? undefined : `${path}: ${String(a)} vs ${String(b)}`;
  }
  const o = b as object;
  if (tag(a) !== tag(o)) return `${path}: ${tag(a)} vs ${tag(o)}`;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(o)) return `${path}: prototypes differ`;
  if (ArrayBuffer.isView(a) || a instanceof ArrayBuffer) {
    const bytesOf = (v: ArrayBufferView | ArrayBuffer): Uint8Array =>
      v instanceof ArrayBuffer
        ? new Uint8Array(v)
        : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    const x = bytesOf(a);
    const y = bytesOf(o as ArrayBufferView);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) return `${path}: bytes differ`;
    return undefined;
  }
  if (a instanceof Date) {
    const t = (o as Date).getTime();
    return Object.is(a.getTime(), t) ? undefined : `${path}: ${a.getTime()} vs ${t}`;
  }
  if (a instanceof RegExp) {
    const r = o as RegExp;
    return a.source === r.source && a.flags === r.flags ? undefined : `${path}: ${a} vs ${r}`;
  }
  if (a instanceof Map || a instanceof Set) {
    const x = [...a.entries()];
    const y = [...(o as Map<unknown, unknown>).entries()];
    if (x.length !== y.length) return `${path}: size ${x.length} vs ${y.length}`;
    for (let i = 0; i < x.length; i++) {
      const d = difference(x[i][0], y[i][0], `${path}<key ${i}>`) ??
        difference(x[i][1], y[i][1], `${path}<value ${i}>`);
      if (d) return d;
    }
    return undefined;
  }
  if (Array.isArray(a)) {
    const y = o as unknown[];
    if (a.length !== y.length) return `${path}: length ${a.length} vs ${y.length}`;
    for (let i = 0; i < a.length; i++) {
      if ((i in a) !== (i in y)) return `${path}[${i}]: hole vs value`;
      const d = difference(a[i], y[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(o);
  if (ka.join("\0") !== kb.join("\0")) return `${path}: keys ${ka} vs ${kb}`;
  for (const k of ka) {
    const d = difference(
      (a as Record<string, unknown>)[k],
      (o as Record<string, unknown>)[k],
      `${path}.${k}`,
    );
    if (d) return d;
  }
  return undefined;
}
