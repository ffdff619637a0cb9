// The far side of bench/transport.ts: answers every call it gets, by postMessage or by ring,
// the way a shard worker would (decode the batch, one small result per call, encode, send).
import { parentPort, workerData } from "node:worker_threads";
import { RingReceiver, RingSender } from "../backends/_ring.ts";
import { decodeCalls, encodeReplies } from "./_transport_codec.ts";

const port = parentPort!;
const { toWorker, toMain } = workerData as {
  toWorker: SharedArrayBuffer;
  toMain: SharedArrayBuffer;
};
const out = new RingSender(toMain, (frame) => port.postMessage({ posted: frame }));
const inbox = new RingReceiver(toWorker, (frame) => {
  out.send(encodeReplies(decodeCalls(frame)));
});
void inbox.run();

port.on("message", (m: { posted?: Uint8Array; calls?: [number, string, string, Uint8Array][] }) => {
  if (m.posted !== undefined) inbox.posted(m.posted);
  else if (m.calls !== undefined) port.postMessage(m.calls.map((c) => [c[0], true, c[3].length]));
});
