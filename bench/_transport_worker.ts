// The far side of bench/transport.ts: answers every call it gets, by postMessage or by ring,
// the way a shard worker would (decode the batch, one small result per call, encode, send).
import { parentPort, workerData } from "node:worker_threads";
import { RingReceiver, RingSender } from "./_ring.ts";
import { decodeWire, encodeWire } from "./_wire.ts";

type Call = [number, number, string, number, [string, Uint8Array, undefined]];
const answer = (calls: Call[]) => calls.map((c) => [c[0], true, c[4][1].length]);

const port = parentPort!;
const { toWorker, toMain } = workerData as {
  toWorker: SharedArrayBuffer;
  toMain: SharedArrayBuffer;
};
const out = new RingSender(toMain, (frame) => port.postMessage({ posted: frame }));
const inbox = new RingReceiver(toWorker, (frame) => {
  out.send(encodeWire(answer(decodeWire(frame) as Call[])));
});
void inbox.run();

port.on("message", (m: { posted?: Uint8Array; calls?: Call[] }) => {
  if (m.posted !== undefined) inbox.posted(m.posted);
  else if (m.calls !== undefined) port.postMessage(answer(m.calls));
});
