// The redis driver's shard write lock (Driver.begin): a transaction holds its shard against
// every writer of every connection until it commits or releases, a live holder renews its
// lease, and a crashed (or stopped) holder's lock ends with its lease. On the standalone server
// and the cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadRedisDriver } from "../backends/builtin.ts";
import { dropRedisStore, type RedisBackendOptions } from "../backends/redis.ts";
import {
  decodeCounter,
  type Driver,
  encodeCounter,
  openStore,
  shardOf,
  StorageError,
} from "../mod.ts";
import { dec, enc, readLines, spawnChild } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";
import { freshName, rawClient, REDIS_TARGETS } from "./_redis_env.ts";

/** The shard of store `name`, over a connection of its own. */
async function shard(name: string, redis: RedisBackendOptions, lease?: number): Promise<Driver> {
  const { openRedisStore } = await loadRedisDriver();
  const { drivers } = await openRedisStore(name, {
    shards: 1,
    defaultShards: 1,
    now: Date.now,
    redis,
    lease,
  });
  return drivers[0];
}

/** Whether `p` settled after the event loop had a chance to run for `ms`. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(() => settled = true, () => settled = true);
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

const value = async (d: Driver, key: string) => {
  const e = (await d.getEntries([key])).get(key);
  return e === undefined ? undefined : dec(e.value);
};

for (const [label, redis] of REDIS_TARGETS) {
  test(`redis lock (${label}): begin() holds off every write of another connection until commit`, async () => {
    const name = freshName("lock");
    const [a, b] = [await shard(name, redis), await shard(name, redis)];
    try {
      await a.apply([{ key: "k", value: enc("0") }, { key: "gone", value: enc("x") }]);
      await a.apply([{ key: "n", value: encodeCounter(5) }]);
      const txn = await a.begin!(["k", "missing"]);
      assert.equal(dec(txn.entries.get("k")!.value), "0");
      assert.equal(txn.entries.has("missing"), false);
      const version = txn.entries.get("k")!.version!;
      assert.ok(version > 0);
      // Plain set, checked set, remove, counter add, sweep, and a second begin() all wait.
      const writes = [
        b.apply([{ key: "k", value: enc("b") }]),
        b.apply([{ key: "other", value: enc("b") }], new Map([["other", null]])),
        b.remove(["gone"]),
        b.add("n", 1),
        b.sweep(10),
      ];
      const second = b.begin!(["k"]);
      assert.equal(await settledWithin(Promise.race([...writes, second]), 300), false);
      // Reads go on, and see nothing of the waiting writes.
      assert.equal(await value(b, "k"), "0");
      assert.equal(await value(b, "other"), undefined);
      assert.equal(await value(b, "gone"), "x");
      await txn.commit([{ key: "k", value: enc("a"), version: version + 1 }]);
      // The waiting begin() gets the shard (before or after b's set: waiters are not queued).
      const next = await second;
      assert.ok(["a", "b"].includes(dec(next.entries.get("k")!.value)!));
      await next.release();
      const [set, checked, removed, added] = await Promise.all(writes);
      assert.deepEqual([set, checked, removed, added], [true, true, 1, 6]);
      // b's set came after a's commit: it is what is left, with a newer version.
      const after = (await b.getEntries(["k"])).get("k")!;
      assert.equal(dec(after.value), "b");
      assert.ok(after.version! > version + 1);
      assert.equal(await value(a, "other"), "b");
    } finally {
      await Promise.all([a.close(), b.close()]);
      await dropRedisStore(name, redis);
    }
  });

  test(`redis lock (${label}): release() lets the waiting writer in, writing nothing`, async () => {
    const name = freshName("lock-release");
    const [a, b] = [await shard(name, redis), await shard(name, redis)];
    try {
      await a.apply([{ key: "k", value: enc("0") }]);
      const txn = await a.begin!(["k"]);
      const write = b.apply([{ key: "k", value: enc("b") }]);
      assert.equal(await settledWithin(write, 200), false);
      assert.equal(await value(b, "k"), "0");
      await txn.release();
      await txn.release(); // a second release is harmless
      assert.equal(await write, true);
      assert.equal(await value(a, "k"), "b");
      await assert.rejects(txn.commit([{ key: "k", value: enc("late") }]), /already ended/);
      assert.equal(await value(a, "k"), "b");
    } finally {
      await Promise.all([a.close(), b.close()]);
      await dropRedisStore(name, redis);
    }
  });

  test(`redis lock (${label}): a crashed holder's lock ends with its lease; its commit then writes nothing`, async () => {
    const name = freshName("lock-lease");
    const raw = rawClient(redis);
    const lock = `{shardkv:${name}:0}:lock`;
    const [a, b] = [await shard(name, redis, 400), await shard(name, redis, 400)];
    try {
      // A holder that died: its lock (with a 400 ms lease) is never renewed.
      await raw.set(lock, "crashed-holder", "PX", 400);
      assert.equal(await b.apply([{ key: "k", value: enc("b") }]), true);
      assert.equal(await value(b, "k"), "b");
      // A holder stopped (SIGSTOP) past its lease: the lock expired under it, as deleting it
      // here does, and another writer wrote.
      const txn = await a.begin!(["k"]);
      await raw.del(lock);
      assert.equal(await b.apply([{ key: "k", value: enc("b2") }]), true);
      // The late holder finds its lock gone: a StorageError, and b's write stays.
      const late = await txn.commit([{ key: "k", value: enc("a") }]).catch((e) => e);
      assert.ok(late instanceof StorageError, String(late));
      assert.match(late.message, /lock expired/);
      assert.equal(await value(b, "k"), "b2");
    } finally {
      raw.disconnect();
      await Promise.all([a.close(), b.close()]);
      await dropRedisStore(name, redis);
    }
  });

  test(`redis lock (${label}): a live holder renews its lease and keeps the lock past it`, async () => {
    const name = freshName("lock-renew");
    const [a, b] = [await shard(name, redis, 300), await shard(name, redis, 300)];
    try {
      const txn = await a.begin!(["k"]);
      // Past the lease the other writer still waits (it gives up after three): it was renewed.
      const write = b.apply([{ key: "k", value: enc("b") }]);
      assert.equal(await settledWithin(write, 500), false, "a write went past a renewed lock");
      await txn.commit([{ key: "k", value: enc("a") }]);
      assert.equal(await write, true);
      assert.equal(await value(a, "k"), "b");
    } finally {
      await Promise.all([a.close(), b.close()]);
      await dropRedisStore(name, redis);
    }
  });

  test(`redis lock (${label}): a lock held past a few leases is a StorageError, nothing written`, async () => {
    const name = freshName("lock-stuck");
    const raw = rawClient(redis);
    const b = await shard(name, redis, 100);
    try {
      await b.apply([{ key: "k", value: enc("0") }]);
      // Another writer's lock with a far longer lease than this driver's.
      await raw.set(`{shardkv:${name}:0}:lock`, "someone-else", "PX", 60_000);
      const failed = await b.apply([{ key: "k", value: enc("b") }]).catch((e) => e);
      assert.ok(failed instanceof StorageError, String(failed));
      assert.match(failed.message, /held the shard's lock/);
      await assert.rejects(b.begin!(["k"]), StorageError);
      await raw.del(`{shardkv:${name}:0}:lock`);
      assert.equal(await value(b, "k"), "0");
    } finally {
      await b.close();
      raw.disconnect();
      await dropRedisStore(name, redis);
    }
  });
}

// The multi-process test of atomic_multiprocess_test.ts runs on the standalone server; this one
// runs the same kind of commits on both, the cluster spreading the two shards over its nodes.
for (const [label, redis] of REDIS_TARGETS) {
  test(
    `redis lock (${label}): 4 processes x 40 checked commits of two keys on two shards lose none`,
    SLOW,
    async () => {
      const name = freshName("lock-mp");
      const [a, b] = ["inc:a", "inc:b"].map((k) => {
        for (let n = 0;; n++) if (shardOf(`${k}${n}`, 4) === (k === "inc:a" ? 1 : 2)) return k + n;
      });
      const store = await openStore(name, { backend: "redis", shards: 4, redis });
      try {
        const [processes, count] = [4, 40];
        let waiting = processes;
        const children = Array.from(
          { length: processes },
          () =>
            spawnChild(
              "./_redis_lock_child.ts",
              [name, JSON.stringify(redis), String(count), a, b],
              {
                stdin: true,
              },
            ),
        );
        const runs = await Promise.all(children.map(async (child) => {
          const lines: string[] = [];
          const code = await readLines(child, (line) => {
            lines.push(line);
            if (line === "READY" && --waiting === 0) {
              for (const c of children) c.stdin!.end("go\n");
            }
          });
          assert.equal(code, 0);
          return lines;
        }));
        const total = processes * count;
        assert.equal(decodeCounter((await store.get(a))!), total, `lost updates of ${a}`);
        assert.equal(decodeCounter((await store.get(b))!), total, `lost updates of ${b}`);
        // Each value 1..total was written by exactly one commit, to both keys alike.
        const wrote = runs.flat().filter((l) => l.startsWith("V ")).map((l) => l.split(" "));
        assert.equal(wrote.length, total);
        for (const [, x, y] of wrote) assert.equal(x, y, "one commit wrote different counts");
        assert.equal(new Set(wrote.map(([, x]) => x)).size, total, "two commits wrote one count");
      } finally {
        await store.close();
        await dropRedisStore(name, redis);
      }
    },
  );
}
