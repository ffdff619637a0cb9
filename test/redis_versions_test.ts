// Entry versions in the redis driver (core/driver.ts `Entry.version`, `WriteOp.version`): kept
// in the shard's version hash atomically with the value, max(proposed, previous + 1) on every
// write, compared by checks as `matches()` does, 0 for data written before versions existed,
// and gone with the key (delete, sweep, drop). On the standalone server and the cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import type { Driver, Entry } from "../core/driver.ts";
import { BUILTIN_DRIVERS } from "../backends/builtin.ts";
import { dropRedisStore, type RedisBackendOptions } from "../backends/redis.ts";
import { openStore } from "../mod.ts";
import { Clock, dec, enc } from "./_helpers.ts";
import { freshName, rawClient, REDIS_TARGETS } from "./_redis_env.ts";

/** Runs `body` on the one-shard driver of a fresh store; always closes and drops it. */
async function withDriver(
  redis: RedisBackendOptions,
  body: (d: Driver, ctx: { raw: Redis; tag: string; clock: Clock; name: string }) => Promise<void>,
): Promise<void> {
  const name = freshName("ver");
  const clock = new Clock();
  const d = await BUILTIN_DRIVERS.redis(name, { durability: "normal", now: clock.now, redis });
  const raw = rawClient(redis);
  try {
    await body(d, { raw, tag: `{shardkv:${name}:0}`, clock, name });
  } finally {
    await d.close();
    await dropRedisStore(name, redis);
    raw.disconnect();
  }
}

async function entry(d: Driver, key: string): Promise<Entry | undefined> {
  return (await d.getEntries([key])).get(key);
}

async function version(d: Driver, key: string): Promise<number | undefined> {
  return (await entry(d, key))?.version;
}

for (const [label, redis] of REDIS_TARGETS) {
  test(`redis versions (${label}): set, overwrite and add grow the version`, async () => {
    await withDriver(redis, async (d) => {
      assert.equal(await d.apply([{ key: "k", value: enc("a") }]), true);
      assert.equal(await version(d, "k"), 1);
      await d.apply([{ key: "k", value: enc("b") }]);
      assert.equal(await version(d, "k"), 2);
      await d.apply([{ key: "k", value: enc("c"), version: 100 }]);
      assert.equal(await version(d, "k"), 100);
      // A proposed version lower than the stored one still gives previous + 1.
      await d.apply([{ key: "k", value: enc("d"), version: 7 }]);
      assert.equal(await version(d, "k"), 101);
      assert.equal(dec((await entry(d, "k"))!.value), "d");
      // Counters: add grows the version too, with or without a proposed one.
      assert.equal(await d.add("n", 5), 5);
      assert.equal(await version(d, "n"), 1);
      assert.equal(await d.add("n", 1, 40), 6);
      assert.equal(await version(d, "n"), 40);
      assert.equal(await d.add("n", 1, 3), 7);
      assert.equal(await version(d, "n"), 41);
      // Two keys of one commit each get their own max(proposed, previous + 1).
      await d.apply([{ key: "k", value: enc("e"), version: 50 }, {
        key: "fresh",
        value: enc("x"),
        version: 50,
      }]);
      assert.deepEqual(
        [...(await d.getEntries(["k", "fresh", "missing"]))].map(([k, e]) => [k, e.version]),
        [["k", 102], ["fresh", 50]],
      );
      // Versions are exact well past 32 bits (the engine may use clock-based versions).
      const big = 2 ** 52 + 3;
      await d.apply([{ key: "k", value: enc("f"), version: big }]);
      assert.equal(await version(d, "k"), big);
      await d.apply([{ key: "k", value: enc("g") }]);
      assert.equal(await version(d, "k"), big + 1);
    });
  });

  test(`redis versions (${label}): a check holding a stale version fails and writes nothing`, async () => {
    await withDriver(redis, async (d) => {
      await d.apply([{ key: "k", value: enc("same") }]);
      const old = (await entry(d, "k"))!;
      // Rewritten with the same bytes and expiry: only the version tells it changed.
      await d.apply([{ key: "k", value: enc("same") }]);
      const now = (await entry(d, "k"))!;
      assert.equal(now.version, old.version! + 1);
      const write = [{ key: "k", value: enc("new") }, { key: "other", value: enc("o") }];
      assert.equal(await d.apply(write, new Map([["k", old]])), false);
      assert.equal(dec((await entry(d, "k"))!.value), "same");
      assert.equal(await entry(d, "other"), undefined);
      assert.equal(await version(d, "k"), now.version);
      // The current version passes; so does an expectation without one (as matches() says).
      assert.equal(await d.apply(write, new Map([["k", now]])), true);
      assert.equal(dec((await entry(d, "k"))!.value), "new");
      const unversioned = { value: enc("new"), expiresAt: null };
      assert.equal(await d.apply([], new Map([["k", unversioned]])), true);
      assert.equal(await d.apply([], new Map([["k", { ...unversioned, version: 0 }]])), true);
      // A matching version with other bytes still fails.
      const current = (await entry(d, "k"))!;
      assert.equal(await d.apply([], new Map([["k", { ...current, value: enc("x") }]])), false);
    });
  });

  test(`redis versions (${label}): data written before versions existed reads version 0`, async () => {
    await withDriver(redis, async (d, { raw, tag }) => {
      // The layout of a shard before versions: value key and index entry, no version field.
      await raw.set(`${tag}:v:old`, "legacy");
      await raw.zadd(`${tag}:i`, 0, "old");
      const e = (await entry(d, "old"))!;
      assert.deepEqual({ ...e, value: dec(e.value) }, {
        value: "legacy",
        expiresAt: null,
        version: 0,
      });
      // It is checked by value as before, and its next write starts the version at 1.
      assert.equal(await d.apply([], new Map([["old", e]])), true);
      assert.equal(await d.apply([{ key: "old", value: enc("v1") }], new Map([["old", e]])), true);
      assert.equal(await version(d, "old"), 1);
      await raw.set(`${tag}:v:old2`, "legacy");
      await raw.zadd(`${tag}:i`, 0, "old2");
      assert.equal(await d.add("old2", 0).catch((err) => err.name), "NotACounterError");
      await d.apply([{ key: "old2", value: enc("v"), version: 9 }]);
      assert.equal(await version(d, "old2"), 9);
    });
  });

  test(`redis versions (${label}): delete, expiry, sweep and drop leave no version behind`, async () => {
    const name = freshName("ver-drop");
    await withDriver(redis, async (d, { raw, tag, clock }) => {
      const fields = async () => (await raw.hkeys(`${tag}:n`)).sort();
      await d.apply([
        { key: "a", value: enc("1") },
        { key: "b", value: enc("1"), expiresAt: clock.t + 100 },
        { key: "c", value: enc("1"), expiresAt: clock.t + 100 },
      ]);
      assert.deepEqual(await fields(), ["a", "b", "c"]);
      assert.equal(await d.remove(["a"]), 1);
      await d.apply([{ key: "b", value: enc("1") }, { key: "b" }]);
      assert.deepEqual(await fields(), ["c"]);
      // A deleted key starts again from the proposed version (or 1).
      await d.apply([{ key: "a", value: enc("2") }]);
      assert.equal(await version(d, "a"), 1);
      // An expired key that is written again before the sweep keeps growing its version.
      clock.advance(100);
      assert.equal(await entry(d, "c"), undefined);
      await d.apply([{ key: "c", value: enc("2"), expiresAt: clock.t + 100 }]);
      assert.equal(await version(d, "c"), 2);
      clock.advance(100);
      assert.equal(await d.sweep(100), 1);
      assert.deepEqual(await fields(), ["a"]);
      // After the sweep it starts again.
      await d.apply([{ key: "c", value: enc("3") }]);
      assert.equal(await version(d, "c"), 1);
      // Redis' own expiry (the late hint) drops only the value key: the key reads missing, a
      // new write still grows its version, and the sweep of its expiry entry drops the field.
      await d.apply([{ key: "h", value: enc("1"), expiresAt: clock.t + 100 }]);
      await raw.del(`${tag}:v:h`);
      assert.equal(await entry(d, "h"), undefined);
      await d.apply([{ key: "h", value: enc("2"), expiresAt: clock.t + 100 }]);
      assert.equal(await version(d, "h"), 2);
      await raw.del(`${tag}:v:h`);
      clock.advance(100);
      assert.equal(await d.sweep(100), 1);
      assert.deepEqual(await fields(), ["a", "c"]);
    });
    // Dropping the store removes the version hash with everything else.
    const store = await openStore(name, { backend: "redis", redis, shards: 1 });
    await store.set("k", enc("v"));
    await store.close();
    const raw = rawClient(redis);
    try {
      assert.equal(await raw.hlen(`{shardkv:${name}:0}:n`), 1);
      await dropRedisStore(name, redis);
      assert.equal(await raw.exists(`{shardkv:${name}:0}:n`), 0);
      assert.equal(await raw.exists(`{shardkv:${name}:0}:i`), 0);
    } finally {
      raw.disconnect();
    }
  });
}
