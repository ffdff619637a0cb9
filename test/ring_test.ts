// The SharedArrayBuffer ring that carries frames between threads: order, wrap-around, frames
// too large for it (by the fallback channel), and a full ring holding frames back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRing, RingReceiver, RingSender } from "../bench/_ring.ts";

function frameOf(i: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  for (let j = 0; j < size; j++) f[j] = (i + j) & 0xff;
  return f;
}

/** A sender and receiver on one ring; the fallback channel delivers on a later task. */
function pair(capacity: number) {
  const sab = createRing(capacity);
  const got: Uint8Array[] = [];
  const receiver = new RingReceiver(sab, (f) => got.push(f));
  const sender = new RingSender(sab, (f) => setTimeout(() => receiver.posted(f), 2));
  return { sender, receiver, got };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(cond(), "timed out");
}

test("ring: frames of every size arrive whole and in order, across many wrap-arounds", async () => {
  const { sender, receiver, got } = pair(4096);
  void receiver.run();
  const sizes = Array.from({ length: 500 }, (_, i) => (i * 37) % 900);
  sizes.push(0, 1, 2, 3, 1023, 1024, 1025, 3000, 9000);
  const sent = sizes.map((s, i) => frameOf(i, s));
  for (const f of sent) sender.send(f);
  await until(() => got.length === sent.length);
  receiver.stop();
  assert.deepEqual(got, sent);
});

test("ring: a full ring holds frames back until the receiver drains it", async () => {
  const { sender, receiver, got } = pair(1024);
  // Nothing reads yet: the ring fills and the rest wait in the sender.
  const sent = Array.from({ length: 40 }, (_, i) => frameOf(i, 200));
  for (const f of sent) sender.send(f);
  assert.ok(got.length === 0);
  // The sender may reuse its buffers once send returns.
  for (const f of sent.slice(0, 5)) assert.equal(f[0], sent.indexOf(f) & 0xff);
  void receiver.run();
  await until(() => got.length === sent.length);
  receiver.stop();
  assert.deepEqual(got, sent);
});

test("ring: drain reads what was sent without waiting", () => {
  const { sender, receiver, got } = pair(8192);
  sender.send(frameOf(1, 10));
  sender.send(frameOf(2, 20));
  assert.equal(receiver.drain(), true);
  assert.deepEqual(got, [frameOf(1, 10), frameOf(2, 20)]);
});
