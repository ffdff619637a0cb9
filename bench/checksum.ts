// Which checksum to store with every value: node:zlib's crc32 (native, on every runtime)
// against hash-wasm's xxhash64 and xxh3 (WebAssembly), on 1 KiB values plus a short key, the
// shape of the W1/W2 benchmark rows. hash-wasm is not a dependency; to include it:
//   mkdir /tmp/hw && cd /tmp/hw && npm init -y && npm i hash-wasm && cp <repo>/bench/checksum.ts .
//   deno run -A checksum.ts; bun checksum.ts
// Prints ns per checksum (median of rounds, interleaved) and each one's ratio to crc32.
import { crc32 } from "node:zlib";

const VALUE_BYTES = 1024;
const N = 200_000;
const ROUNDS = 7;

interface Hasher {
  init(): Hasher;
  update(data: Uint8Array | string): Hasher;
  digest(format: "binary"): Uint8Array;
}

const values = Array.from({ length: 64 }, (_, i) => {
  const v = new Uint8Array(VALUE_BYTES);
  for (let j = 0; j < v.length; j++) v[j] = (i * 31 + j * 7) & 0xff;
  return v;
});
const keys = Array.from({ length: 64 }, (_, i) => `user:${i}:profile`);

const candidates: [string, () => number][] = [
  ["zlib.crc32(value)", () => {
    let x = 0;
    for (let i = 0; i < N; i++) x ^= crc32(values[i & 63]);
    return x;
  }],
  ["zlib.crc32(value, crc32(key))", () => {
    let x = 0;
    for (let i = 0; i < N; i++) x ^= crc32(values[i & 63], crc32(keys[i & 63]));
    return x;
  }],
];

try {
  const hw = await import("hash-wasm" as string) as {
    createXXHash64(): Promise<Hasher>;
    createXXHash3(): Promise<Hasher>;
  };
  for (
    const [name, make] of [["xxhash64", hw.createXXHash64], ["xxh3", hw.createXXHash3]] as const
  ) {
    const h = await make();
    candidates.push([`hash-wasm ${name}(value)`, () => {
      let x = 0;
      for (let i = 0; i < N; i++) x ^= h.init().update(values[i & 63]).digest("binary")[0];
      return x;
    }]);
    candidates.push([`hash-wasm ${name}(key, value)`, () => {
      let x = 0;
      for (let i = 0; i < N; i++) {
        x ^= h.init().update(keys[i & 63]).update(values[i & 63]).digest("binary")[0];
      }
      return x;
    }]);
  }
} catch {
  console.log("(hash-wasm not installed: measuring crc32 only)");
}

const times = new Map<string, number[]>(candidates.map(([name]) => [name, []]));
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of candidates) {
    const t0 = performance.now();
    sink ^= run();
    times.get(name)!.push(((performance.now() - t0) * 1e6) / N);
  }
}
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const base = median(times.get("zlib.crc32(value)")!);
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
console.log(`${runtime}, ${VALUE_BYTES}-byte values, ${N} per round, median of ${ROUNDS}:`);
for (const [name, ts] of times) {
  const ns = median(ts);
  console.log(`  ${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns  x${(ns / base).toFixed(2)}`);
}
if (sink === 0.5) console.log(sink);
