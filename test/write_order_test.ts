import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteOrder } from "../core/_write_order.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Which of `waits` (by name) have resolved after the pending callbacks ran. */
async function resolved(waits: Record<string, Promise<unknown> | undefined>): Promise<string[]> {
  const done: string[] = [];
  for (const [name, w] of Object.entries(waits)) void w?.then(() => done.push(name));
  await tick();
  return done.sort();
}

test("WriteOrder: nothing in flight costs no promise; a read waits only for older writes", async () => {
  const order = new WriteOrder();
  assert.equal(order.before(), undefined);
  assert.equal(order.beforeKey("a"), undefined);
  const settleA = order.begin(["a"]);
  const all = order.before();
  const settleB = order.begin(["b"]);
  // Writes called after a read do not hold it back, so a stream of writes cannot starve it.
  assert.deepEqual(await resolved({ all }), []);
  settleA();
  assert.deepEqual(await resolved({ all }), ["all"]);
  settleB();
  assert.equal(order.before(), undefined);
});

test("WriteOrder: writes settling out of order; point reads wait for their key and wide writes", async () => {
  const order = new WriteOrder();
  const settleA = order.begin(["a"]);
  const settleB = order.begin(["b", "c"]);
  const waits = {
    a: order.beforeKey("a"),
    b: order.beforeKey("b"),
    c: order.beforeKey("c"),
    other: order.beforeKey("z"),
    all: order.before(),
  };
  assert.equal(waits.other, undefined);
  settleB();
  assert.deepEqual(await resolved(waits), ["b", "c"]);
  settleA();
  assert.deepEqual(await resolved(waits), ["a", "all", "b", "c"]);
  // A write of keys not known beforehand (a prefix delete) holds back reads of every key.
  const settleWide = order.begin();
  const settleA2 = order.begin(["a"]);
  const later = { a: order.beforeKey("a"), z: order.beforeKey("z") };
  settleA2();
  assert.deepEqual(await resolved(later), []);
  settleWide();
  assert.deepEqual(await resolved(later), ["a", "z"]);
  assert.equal(order.beforeKey("a"), undefined);
});

test("WriteOrder: a point read waits for every earlier write of its key, not only the newest", async () => {
  const order = new WriteOrder();
  const settleOld = order.begin(["k"]);
  const settleNew = order.begin(["k"]);
  const read = { k: order.beforeKey("k") };
  // The newer write settles first (a write of several steps can finish after a later one).
  settleNew();
  assert.deepEqual(await resolved(read), []);
  settleOld();
  assert.deepEqual(await resolved(read), ["k"]);
  // Two prefix deletes in flight: a read waits for both.
  const wide1 = order.begin();
  const wide2 = order.begin();
  const later = { z: order.beforeKey("z") };
  wide2();
  assert.deepEqual(await resolved(later), []);
  wide1();
  assert.deepEqual(await resolved(later), ["z"]);
});

test("WriteOrder: a later write waits only for blocking writes of its key", async () => {
  const order = new WriteOrder();
  const plain = order.begin(["k"]);
  const blocking = order.begin(["k"], true);
  const waits = { write: order.beforeKey("k", true), read: order.beforeKey("k") };
  plain();
  assert.deepEqual(await resolved(waits), []);
  blocking();
  assert.deepEqual(await resolved(waits), ["read", "write"]);
  const plainAgain = order.begin(["k"]);
  assert.equal(order.beforeKey("k", true), undefined, "plain writes do not hold writes back");
  plainAgain();
});

test("WriteOrder: a hold blocks later writes of its keys until released, reads never", async () => {
  const order = new WriteOrder();
  const write = order.begin(["k"]);
  const release = order.hold(["k", "j"]);
  const waits = { k: order.beforeKey("k", true), j: order.beforeKey("j", true) };
  assert.equal(order.beforeKey("j"), undefined, "a hold is no write: reads of j do not wait");
  release();
  assert.deepEqual(await resolved(waits), ["j", "k"]);
  assert.equal(order.beforeKey("k", true), undefined);
  write();
});
