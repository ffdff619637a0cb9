import { test } from "node:test";
import assert from "node:assert/strict";
import { LruCache } from "../core/lru_cache.ts";
import { ShardLock } from "../core/shard_lock.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

test("ShardLock: same shared mode runs together, other modes wait in arrival order", async () => {
  const lock = new ShardLock();
  const log: string[] = [];
  assert.equal(lock.tryAcquire("write"), true);
  assert.equal(lock.tryAcquire("write"), true);
  assert.equal(lock.tryAcquire("read"), false);
  const excl = lock.acquire("exclusive").then(() => log.push("exclusive"));
  // A new writer queues behind the waiting exclusive holder instead of starving it.
  assert.equal(lock.tryAcquire("write"), false);
  const r1 = lock.acquire("read").then(() => log.push("read1"));
  const r2 = lock.acquire("read").then(() => log.push("read2"));
  lock.release();
  await tick();
  assert.deepEqual(log, []);
  lock.release();
  await excl;
  assert.deepEqual(log, ["exclusive"]);
  assert.equal(lock.tryAcquire("read"), false);
  lock.release();
  await Promise.all([r1, r2]);
  assert.deepEqual(log, ["exclusive", "read1", "read2"]);
  assert.equal(lock.held, true);
  lock.release();
  lock.release();
  assert.equal(lock.held, false);
  assert.throws(() => lock.release(), /not held/);
});

test("ShardLock: with() releases on success and on failure", async () => {
  const lock = new ShardLock();
  assert.equal(await lock.with("exclusive", () => Promise.resolve(7)), 7);
  await assert.rejects(lock.with("write", () => Promise.reject(new Error("x"))), /x/);
  assert.equal(lock.held, false);
});

test("LruCache: evicts by bytes, caches misses, drops expired entries", () => {
  const cache = new LruCache({ maxEntries: 100, maxBytes: 200 + 3 * 66 });
  const v = (n: number) => new Uint8Array(n);
  cache.put("a", { value: v(100), expiresAt: null });
  cache.put("b", { value: v(100), expiresAt: null });
  assert.equal(cache.stats().entries, 2);
  cache.lookup("a", 0);
  cache.put("c", { value: v(100), expiresAt: null });
  // "b" was least recently used.
  assert.equal(cache.lookup("b", 0), undefined);
  assert.equal(cache.lookup("a", 0)?.value?.length, 100);
  assert.equal(cache.stats().evictions, 1);
  cache.put("miss", { value: undefined, expiresAt: null });
  assert.deepEqual(cache.lookup("miss", 0), { value: undefined, expiresAt: null });
  cache.put("t", { value: v(1), expiresAt: 50 });
  assert.ok(cache.lookup("t", 49));
  assert.equal(cache.lookup("t", 50), undefined);
  // An entry larger than the whole cache is not kept.
  cache.put("huge", { value: v(10_000), expiresAt: null });
  assert.equal(cache.lookup("huge", 0), undefined);
  assert.ok(cache.stats().bytes <= 200 + 3 * 66);
  assert.throws(() => new LruCache({ maxBytes: -1 }), RangeError);
});
