/**
 * The raw cost of handing calls to a worker thread (issue 12 item 1): round trips per second
 * with one call in flight, and calls per second with 64 calls batched per turn, through
 * postMessage (a structured clone per message) and through a SharedArrayBuffer ring
 * (bench/_ring.ts: the batch encoded by bench/_wire.ts, copied into the ring, Atomics.waitAsync
 * on the other side). Each call is a shard worker's `set` of a 20-byte key and a 1 KiB value,
 * like W1. Measured 2026-11-29 on the loaded 2-core machine: on Bun postMessage wins (ring
 * 0.6-0.97x one call, 0.4-0.6x batched); on Deno a postMessage round trip takes ~300 us and the
 * ring 7-9x more round trips/s, but batched the ring's copies leave it at 0.8-1.1x. So the
 * store's workers keep postMessage (see the README).
 *
 *   bun bench/transport.ts [--seconds 2]
 *   deno run -A bench/transport.ts [--seconds 2]
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { createRing, RingReceiver, RingSender } from "./_ring.ts";
import { decodeWire, encodeWire } from "./_wire.ts";
import { args, load1, round, runtimeName, writeResults } from "./_common.ts";

const opt = args();
const seconds = Number(opt.get("seconds") ?? 2);
const VALUE = new Uint8Array(1024).fill(7);
type Call = [number, number, string, number, [string, Uint8Array, undefined]];
type Reply = [number, boolean, number][];

const toWorker = createRing(4 << 20);
const toMain = createRing(4 << 20);
const worker = new Worker(new URL("./_transport_worker.ts", import.meta.url), {
  workerData: { toWorker, toMain },
});
let onReply: (r: Reply) => void = () => {};
const out = new RingSender(toWorker, (frame) => worker.postMessage({ posted: frame }));
const inbox = new RingReceiver(toMain, (frame) => onReply(decodeWire(frame) as Reply));
worker.on("message", (m: Reply | { posted: Uint8Array }) => {
  if (Array.isArray(m)) onReply(m);
  else inbox.posted(m.posted);
});
void inbox.run();

const calls = (n: number, base: number): Call[] =>
  Array.from({ length: n }, (_, i) => [
    base + i,
    i % 16,
    "set",
    Date.now(),
    [`key_${base + i}`.padEnd(20, "x"), VALUE, undefined],
  ]);

/** Sends batches of `batch` calls one after another for `seconds`; calls per second. */
async function measure(batch: number, send: (calls: Call[]) => void): Promise<number> {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    await new Promise<void>((resolve) => {
      onReply = (r) => {
        if (r.length !== batch || r[0][2] !== VALUE.length) throw new Error("bad reply");
        resolve();
      };
      send(calls(batch, done));
    });
    done += batch;
  }
  return done / ((performance.now() - t0) / 1000);
}

const viaMessage = (c: Call[]) => worker.postMessage({ calls: c });
const viaRing = (c: Call[]) => out.send(encodeWire(c));
const loadStart = load1();
const rows: Record<string, unknown>[] = [];
for (let round_ = 0; round_ < 2; round_++) {
  for (const batch of [1, 64]) {
    const message = await measure(batch, viaMessage);
    const ring = await measure(batch, viaRing);
    const row = {
      batch,
      postMessagePerSec: round(message),
      ringPerSec: round(ring),
      ratio: round(ring / message, 2),
    };
    rows.push(row);
    console.error(
      `${batch === 1 ? "round trips" : `calls in batches of ${batch}`}: postMessage ` +
        `${row.postMessagePerSec}/s, ring ${row.ringPerSec}/s (${row.ratio}x)`,
    );
  }
}
inbox.stop();
await worker.terminate();
await writeResults(opt.get("out") ?? `${runtimeName()}-transport`, {
  bench: "transport",
  seconds,
  loadStart,
  rows,
});
