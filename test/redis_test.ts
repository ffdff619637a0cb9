// Redis-specific behaviour of the redis backend: key layout and slots, cluster spread, raw
// counter bytes, the Redis expiry hint, the manifest, sweeping, dropping, writers in other
// processes, and a SIGKILL of the server. Needs `bash scripts/redis_servers.sh start` (and
// redis-server on PATH for the restart test); fails when they are missing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connect, createServer } from "node:net";
import { Buffer } from "node:buffer";
import { Redis } from "ioredis";
import {
  getKey,
  openStore,
  setKey,
  ShardCountMismatchError,
  shardOf,
  type Store,
  TransactionConflictError,
  writeTxn,
} from "../mod.ts";
import { BUILTIN_DRIVERS } from "../backends/builtin.ts";
import { dropRedisStore, openRedisBackend } from "../backends/redis.ts";
import { exportStore, importStore } from "../shard/backup.ts";
import { Clock, dec, enc, tempDir } from "./_helpers.ts";
import { freshName, REDIS_NODES as nodes, REDIS_URL as url } from "./_redis_env.ts";

/** Raw clients to the standalone server, or to each cluster node; rejects when one is down. */
async function rawClients(targets: string[]): Promise<Redis[]> {
  const clients = targets.map((t) =>
    new Redis(t.includes("://") ? t : `redis://${t}`, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    })
  );
  try {
    await Promise.all(clients.map((c) => c.connect()));
  } catch (e) {
    for (const c of clients) c.disconnect();
    throw e;
  }
  return clients;
}

/** Every Redis key of the store `name`, per client. */
async function keysOf(clients: Redis[], name: string): Promise<string[][]> {
  return await Promise.all(clients.map((c) => c.keys(`{shardkv:${name}*`)));
}

/** Runs `body` on a fresh store and always closes and drops it. */
async function withStore(
  options: { redis: { url: string } | { nodes: string[] }; shards: number; now?: () => number },
  body: (store: Store, name: string) => Promise<void>,
): Promise<void> {
  const name = freshName("rt");
  const store = await openStore(name, { backend: "redis", ...options });
  try {
    await body(store, name);
  } finally {
    await store.close();
    await dropRedisStore(name, options.redis);
  }
}

test("redis: every key starts with its shard tag, whatever braces the user key holds", async () => {
  const [raw] = await rawClients([url]);
  try {
    await withStore({ redis: { url }, shards: 16 }, async (store, name) => {
      const userKeys = ["}{evil}", "{user:1}:a", "{user:1}:b", "a{b", "x}y", "{}", "plain"];
      for (const k of userKeys) await store.set(k, enc(k));
      const [keys] = await keysOf([raw], name);
      for (const k of keys) assert.match(k, /^\{shardkv:[^{}]+:\d+\}:/);
      // Each user key's value lives under the tag of the shard shardOf picks.
      for (const k of userKeys) {
        const tag = `{shardkv:${name}:${shardOf(k, 16)}}`;
        assert.equal(await raw.exists(`${tag}:v:${k}`), 1, k);
        assert.equal(
          await raw.call("CLUSTER", "KEYSLOT", `${tag}:v:${k}`).catch(() => "n/a"),
          await raw.call("CLUSTER", "KEYSLOT", `${tag}:i`).catch(() => "n/a"),
        );
      }
      // A user hash tag picks the shard, so both keys share a Redis slot.
      assert.equal(shardOf("{user:1}:a", 16), shardOf("{user:1}:b", 16));
      assert.deepEqual(await store.scanKeys("{user:1}"), ["{user:1}:a", "{user:1}:b"]);
    });
  } finally {
    raw.disconnect();
  }
});

test("redis: a store name with braces keeps one slot per shard", async () => {
  const id = freshName("n");
  const name = `braces{${id}}`;
  const pattern = `{shardkv:braces%7B${id}%7D:*`;
  const store = await openStore(name, { backend: "redis", redis: { url }, shards: 4 });
  const [raw] = await rawClients([url]);
  try {
    await store.batchSet(Array.from({ length: 40 }, (_, i) => [`k${i}`, enc("v")] as const));
    const keys = await raw.keys(pattern);
    const tags = new Set(keys.map((k) => k.slice(0, k.indexOf("}") + 1)));
    assert.equal(tags.size, 4);
    await store.close();
    await dropRedisStore(name, { url });
    assert.deepEqual(await raw.keys(pattern), []);
  } finally {
    raw.disconnect();
    await store.close();
    await dropRedisStore(name, { url });
  }
});

test("redis: a cluster spreads the 16 shards over its nodes", async () => {
  const raws = await rawClients(nodes);
  try {
    await withStore({ redis: { nodes }, shards: 16 }, async (store, name) => {
      await store.batchSet(Array.from({ length: 400 }, (_, i) => [`k${i}`, enc("v")] as const));
      const perNode = await keysOf(raws, name);
      const used = perNode.filter((keys) => keys.length > 0).length;
      assert.ok(used >= 2, `keys on ${used} of ${raws.length} nodes`);
      assert.equal((await store.scanKeys("k")).length, 400);
    });
  } finally {
    for (const r of raws) r.disconnect();
  }
});

test("redis: counters are stored as 8-byte big-endian int64, not decimal strings", async () => {
  const [raw] = await rawClients([url]);
  try {
    await withStore({ redis: { url }, shards: 1 }, async (store, name) => {
      await store.decr("c", 2);
      const bytes = await raw.getBuffer(`{shardkv:${name}:0}:v:c`);
      assert.deepEqual(Array.from(bytes!), [255, 255, 255, 255, 255, 255, 255, 254]);
      await store.incr("c", 2 ** 40);
      assert.deepEqual(
        Array.from((await raw.getBuffer(`{shardkv:${name}:0}:v:c`))!),
        Array.from(Buffer.from((2n ** 40n - 2n).toString(16).padStart(16, "0"), "hex")),
      );
    });
  } finally {
    raw.disconnect();
  }
});

test("redis: Redis expiry is a late hint on the wall clock and absent on a fake clock", async () => {
  const [raw] = await rawClients([url]);
  try {
    await withStore({ redis: { url }, shards: 1 }, async (store, name) => {
      await store.set("t", enc("v"), { ttl: 10_000 });
      const pttl = await raw.pttl(`{shardkv:${name}:0}:v:t`);
      assert.ok(pttl > 60_000 && pttl <= 70_000, `pttl ${pttl}`);
      await store.set("t", enc("v"));
      assert.equal(await raw.pttl(`{shardkv:${name}:0}:v:t`), -1);
    });
    const clock = new Clock();
    await withStore({ redis: { url }, shards: 1, now: clock.now }, async (store, name) => {
      await store.set("t", enc("v"), { ttl: 10_000 });
      assert.equal(await raw.pttl(`{shardkv:${name}:0}:v:t`), -1);
      assert.equal(await store.ttl("t"), 10_000);
    });
  } finally {
    raw.disconnect();
  }
});

test("redis: the manifest in Redis fixes the shard count", async () => {
  const name = freshName("manifest");
  const redis = { url };
  try {
    await (await openStore(name, { backend: "redis", redis, shards: 4 })).close();
    await assert.rejects(
      openStore(name, { backend: "redis", redis, shards: 8 }),
      (e) => e instanceof ShardCountMismatchError && e.expected === 4 && e.received === 8,
    );
    const again = await openStore(name, { backend: "redis", redis });
    assert.equal(again.shards, 4);
    assert.equal(again.backend, "redis");
    await again.close();
  } finally {
    await dropRedisStore(name, redis);
  }
});

test("redis: sweep removes expired keys from Redis; drop removes every key", async () => {
  const [raw] = await rawClients([url]);
  const clock = new Clock();
  const name = freshName("sweep");
  const store = await openRedisBackend(name, { url, now: clock.now });
  const shard = await BUILTIN_DRIVERS.redis(name, {
    durability: "normal",
    now: clock.now,
    redis: { url },
  });
  try {
    await store.batchSet(Array.from({ length: 10 }, (_, i) => [`t${i}`, enc("v")] as const), {
      ttl: 100,
    });
    await store.set("keep", enc("v"));
    clock.advance(100);
    assert.equal(await shard.sweep(4), 4);
    assert.equal(await shard.sweep(100), 6);
    assert.equal(await shard.sweep(100), 0);
    assert.deepEqual(await store.scanKeys(""), ["keep"]);
    const [keys] = await keysOf([raw], name);
    assert.deepEqual(keys.sort(), [
      `{shardkv:${name}:0}:c`,
      `{shardkv:${name}:0}:i`,
      `{shardkv:${name}:0}:n`,
      `{shardkv:${name}:0}:v:keep`,
      `{shardkv:${name}}:manifest`,
    ]);
    // The swept keys' versions went with them.
    assert.deepEqual(await raw.hkeys(`{shardkv:${name}:0}:n`), ["keep"]);
  } finally {
    await shard.close();
    await store.close();
    await dropRedisStore(name, { url });
  }
  try {
    assert.deepEqual(await keysOf([raw], name), [[]]);
  } finally {
    raw.disconnect();
  }
});

test("redis: read-modify-writes from two clients on one key stay exact", async () => {
  const name = freshName("cas");
  const a = await openStore(name, { backend: "redis", redis: { url }, shards: 2 });
  const b = await openStore(name, { backend: "redis", redis: { url }, shards: 2 });
  try {
    await Promise.all([a, b].flatMap((s) => Array.from({ length: 100 }, () => s.incr("n"))));
    assert.equal(await a.incr("n", 0), 200);
  } finally {
    await a.close();
    await b.close();
    await dropRedisStore(name, { url });
  }
});

test("redis: a write transaction runs again when another client changed what it read", async () => {
  const name = freshName("txn");
  const a = await openStore(name, { backend: "redis", redis: { url }, shards: 4 });
  const b = await openStore(name, { backend: "redis", redis: { url }, shards: 4 });
  try {
    await a.set("{acct}:n", enc("1"));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let read!: () => void;
    const wasRead = new Promise<void>((r) => (read = r));
    const seen: number[] = [];
    const txn = writeTxn(a, async (t) => {
      const n = Number(dec(await getKey(t, "{acct}:n")));
      seen.push(n);
      read();
      await gate;
      await setKey(t, "{acct}:n", enc(String(n + 1)));
      await setKey(t, "{acct}:log", enc(`a${n}`));
    });
    await wasRead;
    await b.set("{acct}:n", enc("10"));
    release();
    await txn;
    // The first run's commit found the key changed and wrote nothing; the second saw 10.
    assert.deepEqual(seen, [1, 10]);
    assert.equal(dec(await b.get("{acct}:n")), "11");
    assert.equal(dec(await b.get("{acct}:log")), "a10");
    // A key the transaction saw missing counts too.
    let read2!: () => void;
    const wasRead2 = new Promise<void>((r) => (read2 = r));
    let release2!: () => void;
    const gate2 = new Promise<void>((r) => (release2 = r));
    const missing: (string | undefined)[] = [];
    const txn2 = writeTxn(a, async (t) => {
      missing.push(dec(await getKey(t, "{acct}:missing")));
      read2();
      await gate2;
      await setKey(t, "{acct}:log", enc("b"));
    });
    await wasRead2;
    await b.set("{acct}:missing", enc("now here"));
    release2();
    await txn2;
    assert.deepEqual(missing, [undefined, "now here"]);
    assert.equal(dec(await b.get("{acct}:log")), "b");
  } finally {
    await a.close();
    await b.close();
    await dropRedisStore(name, { url });
  }
});

test("redis: a write transaction that keeps losing gives up with TransactionConflictError", async () => {
  const name = freshName("txn-lose");
  const a = await openStore(name, { backend: "redis", redis: { url }, shards: 1 });
  const b = await openStore(name, { backend: "redis", redis: { url }, shards: 1 });
  try {
    let runs = 0;
    const txn = writeTxn(a, async (t) => {
      runs++;
      await getKey(t, "k");
      // Another client changes the key after every read: no run can commit.
      await b.set("k", enc(String(runs)));
      await setKey(t, "mine", enc("x"));
    }, { timeout: 60_000 });
    await assert.rejects(txn, TransactionConflictError);
    assert.ok(runs > 1, `ran ${runs} time(s)`);
    assert.equal(await a.get("mine"), undefined);
  } finally {
    await a.close();
    await b.close();
    await dropRedisStore(name, { url });
  }
});

test("redis: opening against a server that is not there rejects", async () => {
  const port = await freePort();
  await assert.rejects(
    openStore(freshName("down"), { backend: "redis", redis: { url: `redis://127.0.0.1:${port}` } }),
    /Cannot connect to Redis/,
  );
  await assert.rejects(
    openStore("x", { backend: "redis", redis: { url, nodes } } as never),
    TypeError,
  );
});

// --- SIGKILL of a server with AOF appendfsync always ----------------------------------------

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

function startServer(dir: string, port: number): ChildProcess {
  return spawn("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
  ], { stdio: "ignore" });
}

async function waitReady(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const pong = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => resolve(false));
      socket.on("data", (d) => {
        resolve(d.toString().startsWith("+PONG"));
        socket.destroy();
      });
      socket.on("connect", () => socket.write("PING\r\n"));
    });
    if (pong) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

function kill9(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    server.once("exit", () => resolve());
    server.kill("SIGKILL");
  });
}

test("redis: SIGKILL of the server and a restart lose no acknowledged write", async () => {
  const { dir, dispose } = await tempDir("redis-kill");
  const port = await freePort();
  const redis = { url: `redis://127.0.0.1:${port}` };
  let server = startServer(dir, port);
  try {
    await waitReady(port);
    const name = "restart";
    const store = await openStore(name, { backend: "redis", redis, shards: 16 });
    const acked: string[] = [];
    let counted = 0;
    let stop = false;
    const writers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const key = `w${w}:${i}`;
        try {
          if (i % 4 === 3) counted = Math.max(counted, await store.incr("{c}:n"));
          else if (i % 4 === 2) {
            await store.batchSet([[`${key}:a`, enc(key)], [`${key}:b`, enc(key)]]);
            acked.push(`${key}:a`, `${key}:b`);
          } else {
            await store.set(key, enc(key));
            acked.push(key);
          }
        } catch {
          // In flight when the server died: neither acknowledged nor required.
        }
      }
    });
    while (acked.length < 600) await new Promise((r) => setTimeout(r, 5));
    await kill9(server);
    const atKill = acked.length;
    server = startServer(dir, port);
    await waitReady(port);
    while (acked.length < atKill + 200) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(writers);
    await store.close();

    const reopened = await openStore(name, { backend: "redis", redis });
    try {
      const found = await reopened.batchGet(acked);
      const lost = acked.filter((k) => !found.has(k));
      assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged writes lost`);
      assert.equal(dec(found.get(acked[0])), acked[0].replace(/:[ab]$/, ""));
      assert.ok(counted > 0);
      assert.ok((await reopened.incr("{c}:n", 0)) >= counted);
    } finally {
      await reopened.close();
    }
  } finally {
    await kill9(server);
    await dispose();
  }
});

test("redis: SIGKILL of a cluster node and its restart lose no acknowledged write", async () => {
  // The node's pid file, where scripts/redis_servers.sh keeps it.
  const dir = process.env.SHARDKV_REDIS_DIR ?? join(process.env.TMPDIR ?? "/tmp", "shardkv-redis");
  const port = Number(nodes[1].split(":").at(-1));
  const name = freshName("cluster-kill");
  const store = await openStore(name, { backend: "redis", redis: { nodes }, shards: 16 });
  try {
    const acked: string[] = [];
    let stop = false;
    const writers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        try {
          await store.set(`w${w}:${i}`, enc("v"));
          acked.push(`w${w}:${i}`);
        } catch {
          // In flight when the node died: neither acknowledged nor required.
        }
      }
    });
    while (acked.length < 600) await new Promise((r) => setTimeout(r, 5));
    process.kill(Number(readFileSync(join(dir, String(port), "redis.pid"), "utf8")), "SIGKILL");
    const atKill = acked.length;
    const restart = spawnSync("bash", [
      new URL("../scripts/redis_servers.sh", import.meta.url).pathname,
      "start",
    ], { encoding: "utf8" });
    assert.equal(restart.status, 0, restart.stderr);
    while (acked.length < atKill + 600) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(writers);
    const found = await store.batchGet(acked);
    const lost = acked.filter((k) => !found.has(k));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged writes lost`);
  } finally {
    await store.close();
    await dropRedisStore(name, { nodes });
  }
});

test("redis: a SQLite store moves into Redis by export and import, TTLs and counters kept", async () => {
  const { dir, dispose } = await tempDir("redis-migrate");
  const clock = new Clock();
  const src = await openStore(join(dir, "src"), { shards: 4, now: clock.now });
  const name = freshName("migrate");
  const dst = await openStore(name, {
    backend: "redis",
    redis: { url },
    shards: 16,
    now: clock.now,
  }).catch(async (e) => {
    await src.close();
    await dispose();
    throw e;
  });
  try {
    await src.batchSet(Array.from({ length: 300 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
    await src.set("t", enc("x"), { ttl: 5000 });
    await src.incr("{c}:n", 7);
    const chunks: Uint8Array[] = [];
    await exportStore(src, new WritableStream({ write: (c) => void chunks.push(c) }), {
      now: clock.now,
    });
    const backup = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(chunk);
        c.close();
      },
    });
    assert.equal((await importStore(dst, backup, { now: clock.now })).records, 302);
    assert.deepEqual(await dst.scanKeys(""), await src.scanKeys(""));
    assert.equal(dec(await dst.get("k299")), "v299");
    assert.equal(await dst.ttl("t"), 5000);
    assert.equal(await dst.incr("{c}:n"), 8);
  } finally {
    await src.close();
    await dst.close();
    await dropRedisStore(name, { url });
    await dispose();
  }
});
