// The redis store's commit journal (core/driver.ts `Journal`, kept in one Redis hash beside the
// manifest) and its shards' change counter (`Driver.changes`), on the standalone server and
// the cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import process from "node:process";
import { loadRedisDriver } from "../backends/builtin.ts";
import { dropRedisStore, type RedisBackendOptions } from "../backends/redis.ts";
import { Clock, dec, enc, readLines, spawnChild } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";
import { rangeOf } from "../core/driver.ts";
import { shardOf } from "../shard/router.ts";
import { KEYS, openAtomicStore } from "./_redis_atomic.ts";
import { freshName, rawClient, REDIS_TARGETS } from "./_redis_env.ts";

async function open(name: string, redis: RedisBackendOptions, shards = 4) {
  const { openRedisStore } = await loadRedisDriver();
  const clock = new Clock();
  return await openRedisStore(name, { shards, defaultShards: shards, now: clock.now, redis });
}

const closeAll = (drivers: Array<{ close(): Promise<void> }>) =>
  Promise.all(drivers.map((d) => d.close()));

for (const [label, redis] of REDIS_TARGETS) {
  test(`redis journal (${label}): write, list and remove round-trip, seen by another connection`, async () => {
    const name = freshName("journal");
    const key = `{shardkv:${name}}:commits`;
    const a = await open(name, redis);
    const raw = rawClient(redis);
    try {
      assert.deepEqual(await a.journal.list(), new Map());
      const binary = new Uint8Array([0, 255, 13, 10, 0, 128]);
      await a.journal.write("c2", enc("second"));
      await a.journal.write("c1", binary);
      await a.journal.write("c3", new Uint8Array(0));
      // Acknowledged: another client sees it as soon as write resolves, named with its writer.
      const fields = (await raw.hkeys(key)).sort();
      const me = `@${hostname()}/${process.pid}/`;
      assert.deepEqual(fields.map((f) => f.slice(0, f.indexOf("@") + me.length)), [
        `c1${me}`,
        `c2${me}`,
        `c3${me}`,
      ]);
      assert.deepEqual(
        new Map(
          await Promise.all(fields.map(async (f) => [f, await raw.hgetBuffer(key, f)] as const)),
        ),
        new Map([
          [fields[0], Buffer.from(binary)],
          [fields[1], Buffer.from("second")],
          [fields[2], Buffer.alloc(0)],
        ]),
      );
      // Commits this process has in flight are not listed, by any store object of it.
      const b = await open(name, redis);
      try {
        assert.deepEqual(await b.journal.list(), new Map());
        assert.deepEqual(await a.journal.list(), new Map());
        // Left behind by a process that is gone, by another host long ago, and by a version
        // without writer names: listed, and removed by the name list() gives.
        const gone = spawnSync(process.execPath, ["--version"]).pid!;
        const old = Date.now() - 120_000;
        await raw.hset(key, `d1@${hostname()}/${gone}/${Date.now()}`, "dead");
        await raw.hset(key, `d2@elsewhere.example/${process.pid}/${old}`, "old");
        await raw.hset(key, "d3", "legacy");
        // In flight elsewhere: a live process of this host, another host's recent commit.
        await raw.hset(key, `l1@${hostname()}/${process.ppid}/${Date.now()}`, "live");
        await raw.hset(key, `l2@elsewhere.example/${gone}/${Date.now()}`, "recent");
        const listed = await b.journal.list();
        assert.deepEqual([...listed.values()].map(dec), ["dead", "old", "legacy"]);
        for (const id of listed.keys()) await b.journal.remove(id);
        await b.journal.remove("missing");
        // c1 to c3 are the same commits to both store objects: b may remove a's.
        await b.journal.write("c2", enc("rewritten"));
        await b.journal.remove("c1");
      } finally {
        await closeAll(b.drivers);
      }
      assert.deepEqual(
        (await raw.hkeys(key)).map((f) => f.split("@")[0]).sort(),
        ["c2", "c3", "l1", "l2"],
      );
      // One key in the manifest's slot, gone once the journal is empty.
      const slot = (key: string) => raw.call("CLUSTER", "KEYSLOT", key).catch(() => "standalone");
      assert.equal(await slot(key), await slot(`{shardkv:${name}}:manifest`));
      await a.journal.remove("c2");
      await a.journal.remove("c3");
      await raw.hdel(key, ...(await raw.hkeys(key)));
      assert.equal(await raw.exists(key), 0);
      // Dropping the store removes a journal left behind.
      await a.journal.write("left", enc("x"));
    } finally {
      await closeAll(a.drivers);
      await dropRedisStore(name, redis);
    }
    try {
      assert.equal(await raw.exists(key), 0);
    } finally {
      raw.disconnect();
    }
  });

  test(`redis journal (${label}): state() gives the generation and the commits in flight`, async () => {
    const name = freshName("journal-state");
    const key = `{shardkv:${name}}:commits`;
    const a = await open(name, redis);
    const b = await open(name, redis);
    const raw = rawClient(redis);
    try {
      const s0 = await b.journal.state!();
      assert.deepEqual({ ...s0, generation: 0 }, { generation: 0, busy: false, stale: false });
      // A write bumps the generation; its commit is in flight for every store object.
      await a.journal.write("c1", enc("x"));
      const s1 = await b.journal.state!();
      assert.notEqual(s1.generation, s0.generation);
      assert.deepEqual([s1.busy, s1.stale], [true, false]);
      await a.journal.write("c2", enc("y"));
      assert.notEqual((await b.journal.state!()).generation, s1.generation);
      await a.journal.remove("c1");
      await a.journal.remove("c2");
      const s2 = await b.journal.state!();
      assert.deepEqual([s2.busy, s2.stale], [false, false]);
      // A released record (a commit that failed half written) is stale, for every process.
      await a.journal.write("c3", enc("z"));
      await a.journal.release!("c3");
      assert.deepEqual([(await b.journal.state!()).busy, (await b.journal.state!()).stale], [
        false,
        true,
      ]);
      assert.deepEqual([...(await a.journal.list()).keys()], ["c3"]);
      await a.journal.remove("c3");
      // A record of a process that is gone is stale; one of a live process is in flight.
      const gone = spawnSync(process.execPath, ["--version"]).pid!;
      await raw.hset(key, `d1@${hostname()}/${gone}/${Date.now()}`, "dead");
      assert.deepEqual(
        [(await b.journal.state!()).busy, (await b.journal.state!()).stale],
        [false, true],
      );
      await raw.hset(key, `l1@${hostname()}/${process.ppid}/${Date.now()}`, "live");
      const s3 = await b.journal.state!();
      assert.deepEqual([s3.busy, s3.stale], [true, true]);
      // The counter shares the journal's slot, and dropping the store removes it.
      const slot = (k: string) => raw.call("CLUSTER", "KEYSLOT", k).catch(() => "standalone");
      assert.equal(await slot(`${key}:generation`), await slot(key));
      assert.equal(await raw.exists(`${key}:generation`), 1);
    } finally {
      await closeAll(b.drivers);
      await closeAll(a.drivers);
      await dropRedisStore(name, redis);
    }
    try {
      assert.equal(await raw.exists(`${key}:generation`), 0);
    } finally {
      raw.disconnect();
    }
  });

  test(`redis journal (${label}): a bad id or record is a TypeError and writes nothing`, async () => {
    const name = freshName("journal-bad");
    const { drivers, journal } = await open(name, redis, 1);
    try {
      await assert.rejects(journal.write("", enc("x")), TypeError);
      await assert.rejects(journal.write(7 as unknown as string, enc("x")), TypeError);
      await assert.rejects(
        journal.write("id", "text" as unknown as Uint8Array),
        /must be a Uint8Array, received/,
      );
      await assert.rejects(journal.remove("" as string), TypeError);
      assert.deepEqual(await journal.list(), new Map());
    } finally {
      await closeAll(drivers);
      await dropRedisStore(name, redis);
    }
  });

  test(`redis changes (${label}): every write moves a shard's number, reads do not`, async () => {
    const name = freshName("changes");
    const a = await open(name, redis, 2);
    const b = await open(name, redis, 2);
    try {
      const [d0, d1] = a.drivers;
      const marks = () => Promise.all(a.drivers.map((d) => d.changes()));
      let [c0, c1] = await marks();
      const moved = async (shard: 0 | 1, what: string) => {
        const [n0, n1] = await marks();
        assert.equal([n0 !== c0, n1 !== c1][shard], true, `shard ${shard} moved on ${what}`);
        assert.equal([n0 !== c0, n1 !== c1][1 - shard], false, `other shard still on ${what}`);
        [c0, c1] = [n0, n1];
      };
      await d0.apply([{ key: "k", value: enc("v") }]);
      await moved(0, "set");
      await d1.add("n", 1);
      await moved(1, "add");
      await d0.getEntries(["k"]);
      await d0.range(rangeOf("", { after: undefined, reverse: false, limit: Infinity }, false));
      assert.deepEqual(await marks(), [c0, c1]);
      // A failed check writes nothing and moves nothing.
      assert.equal(await d0.apply([{ key: "k", value: enc("w") }], new Map([["k", null]])), false);
      assert.deepEqual(await marks(), [c0, c1]);
      // Writes by another store instance (another connection, as another process) move it too.
      await b.drivers[0].remove(["k"]);
      await moved(0, "remove by another client");
      await b.drivers[1].apply([{ key: "m", value: enc("v") }]);
      await moved(1, "set by another client");
    } finally {
      await closeAll([...a.drivers, ...b.drivers]);
      await dropRedisStore(name, redis);
    }
  });
}

for (const [label, redis] of REDIS_TARGETS) {
  test(
    `redis journal (${label}): SIGKILLs during cross-shard atomic commits tear none`,
    SLOW,
    async () => {
      const name = freshName("atomic-kill");
      assert.ok(new Set(KEYS.map((k) => shardOf(k, 4))).size >= 3, "the keys span the shards");
      let acked = 0;
      try {
        for (let cycle = 0; cycle < 8; cycle++) {
          const child = spawnChild("./_redis_atomic_child.ts", [name, JSON.stringify(redis)]);
          let killAt = -1;
          let killing = false;
          const done = readLines(child, (line) => {
            acked = Math.max(acked, Number(line));
            // Killed a varying number of commits after the first one this child made.
            if (killAt === -1) killAt = acked + 1 + ((cycle * 7) % 13);
            // ... and a varying time into the next one, so kills land between its shard writes.
            if (acked >= killAt && !killing) {
              killing = true;
              setTimeout(() => child.kill("SIGKILL"), cycle % 4);
            }
          });
          await done;
          const store = await openAtomicStore(name, redis);
          try {
            const values = await Promise.all(KEYS.map(async (k) => dec((await store.get(k))!)));
            // Whole: every key holds the same commit, and no acknowledged commit was lost.
            assert.equal(new Set(values).size, 1, `torn commit after cycle ${cycle}: ${values}`);
            assert.ok(Number(values[0]) >= acked, `${values[0]} < acknowledged ${acked}`);
            acked = Number(values[0]);
            assert.deepEqual(await journalOf(name, redis), new Map());
          } finally {
            await store.close();
          }
        }
      } finally {
        await dropRedisStore(name, redis);
      }
    },
  );
}

/** The journal records left in Redis for the store `name`. */
async function journalOf(name: string, redis: RedisBackendOptions): Promise<Map<string, unknown>> {
  const { drivers, journal } = await open(name, redis);
  try {
    return await journal.list();
  } finally {
    await closeAll(drivers);
  }
}
