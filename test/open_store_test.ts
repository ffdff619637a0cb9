import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  BackendMismatchError,
  DEFAULT_SHARDS,
  openStore,
  ShardCountMismatchError,
  type StorageBackend,
} from "../mod.ts";
import { openMemoryBackend } from "../backends/memory.ts";
import { Engine } from "../core/engine.ts";
import { openMemoryDriver } from "../backends/memory.ts";
import { shardOf } from "../shard/router.ts";
import { Clock, dec, enc, readLines, spawnChild, tempDir } from "./_helpers.ts";

async function snapshot(dir: string): Promise<string> {
  const names = (await readdir(dir)).sort();
  const manifest = await readFile(join(dir, "shardkv.json"), "utf8");
  const sizes = await Promise.all(
    names.map(async (n) => `${n}:${(await stat(join(dir, n))).size}`),
  );
  return JSON.stringify({ sizes, manifest });
}

test("openStore: a new store writes a manifest and uses the default shard count", async () => {
  const { dir, dispose } = await tempDir("open");
  try {
    const store = await openStore(dir);
    assert.equal(store.shards, DEFAULT_SHARDS);
    assert.equal(store.backend, "sqlite");
    await store.set("a", enc("1"));
    await store.close();
    const manifest = JSON.parse(await readFile(join(dir, "shardkv.json"), "utf8"));
    assert.deepEqual(manifest, {
      format: 1,
      backend: "sqlite",
      shards: DEFAULT_SHARDS,
      hash: "fnv1a32",
    });
    const files = (await readdir(dir)).filter((f) => f.endsWith(".sqlite"));
    assert.equal(files.length, DEFAULT_SHARDS);
    assert.ok(files.includes("shard-000.sqlite"));
  } finally {
    await dispose();
  }
});

test("openStore: reopening keeps data and takes the shard count from the manifest", async () => {
  const { dir, dispose } = await tempDir("reopen");
  try {
    const a = await openStore(dir, { shards: 4 });
    await a.batchSet(Array.from({ length: 100 }, (_, i) => [`k${i}`, enc(String(i))] as const));
    await a.close();
    const b = await openStore(dir);
    assert.equal(b.shards, 4);
    assert.equal((await b.scanKeys("k")).length, 100);
    assert.equal(dec(await b.get("k42")), "42");
    await b.close();
    const c = await openStore(dir, { shards: 4, backend: "sqlite" });
    assert.equal(c.shards, 4);
    await c.close();
  } finally {
    await dispose();
  }
});

test("openStore: another shard count or backend throws and touches nothing", async () => {
  const { dir, dispose } = await tempDir("mismatch");
  try {
    const a = await openStore(dir, { shards: 4 });
    await a.set("a", enc("1"));
    await a.close();
    const before = await snapshot(dir);
    await assert.rejects(
      openStore(dir, { shards: 8 }),
      (e) =>
        e instanceof ShardCountMismatchError && e.name === "ShardCountMismatchError" &&
        e.expected === 4 && e.received === 8 && /4 shards/.test(e.message),
    );
    await assert.rejects(
      openStore(dir, { backend: "memory", shards: 2 }).then((s) => s.close()).then(() => {
        throw new Error("memory ignores the directory, so no mismatch is expected");
      }),
      /memory ignores/,
    );
    await assert.rejects(
      openStore(dir, { backend: "deno-kv" }),
      (e) =>
        e instanceof BackendMismatchError && e.expected === "sqlite" && e.received === "deno-kv",
    );
    assert.equal(await snapshot(dir), before);
  } finally {
    await dispose();
  }
});

test("openStore: bad options are rejected before anything is created", async () => {
  const { dir, dispose } = await tempDir("badopts");
  try {
    const target = join(dir, "never");
    for (const shards of [0, 257, 1.5, NaN, "4"]) {
      await assert.rejects(openStore(target, { shards: shards as number }), RangeError);
    }
    await assert.rejects(openStore(target, { backend: "leveldb" as "sqlite" }), TypeError);
    await assert.rejects(openStore(target, { durability: "fast" as "normal" }), RangeError);
    await assert.rejects(openStore(target, { now: 5 as unknown as () => number }), TypeError);
    await assert.rejects(openStore(target, { cache: true as unknown as false }), TypeError);
    await assert.rejects(openStore(target, { cache: { maxEntries: 0 } }), RangeError);
    await assert.rejects(openStore("", {}), TypeError);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await dispose();
  }
});

test("openStore: the memory backend writes nothing to disk", async () => {
  const { dir, dispose } = await tempDir("mem");
  try {
    const target = join(dir, "mem-store");
    const store = await openStore(target, { backend: "memory", shards: 3 });
    await store.set("a", enc("1"));
    assert.equal(store.shards, 3);
    await store.close();
    assert.deepEqual(await readdir(dir), []);
    const again = await openStore(target, { backend: "memory" });
    assert.equal(await again.get("a"), undefined);
    await again.close();
  } finally {
    await dispose();
  }
});

test("openStore: a custom backend factory gets one call per shard", async () => {
  const { dir, dispose } = await tempDir("custom");
  try {
    const calls: Array<[string, number]> = [];
    const factory = (shardPath: string, shardIndex: number): Promise<StorageBackend> => {
      calls.push([shardPath, shardIndex]);
      return openMemoryBackend();
    };
    const store = await openStore(dir, { backend: factory, shards: 3 });
    assert.deepEqual(calls.map((c) => c[1]).sort(), [0, 1, 2]);
    assert.ok(calls.some(([p]) => p === join(dir, "shard-002")));
    await store.batchSet([["a", enc("1")], ["b", enc("2")], ["c", enc("3")]]);
    assert.deepEqual(await store.scanKeys(""), ["a", "b", "c"]);
    assert.equal(store.backend, "custom");
    await store.close();
    await assert.rejects(openStore(dir), /custom backend/);
  } finally {
    await dispose();
  }
});

test("sweeper: removes expired rows in the background and counts them", async () => {
  const clock = new Clock();
  let tick: (() => void) | undefined;
  let stopped = false;
  const shards = await Promise.all([0, 1].map(() => openMemoryDriver({ now: clock.now })));
  const store = new Engine({
    path: "",
    backend: "memory",
    drivers: shards,
    route: shardOf,
    now: clock.now,
    schedule: (fn) => {
      tick = fn;
      return () => (stopped = true);
    },
  });
  await store.batchSet(Array.from({ length: 10 }, (_, i) => [`t${i}`, enc("x")] as const), {
    ttl: 10,
  });
  await store.set("keep", enc("y"));
  tick!();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(store.stats().swept, 0);
  clock.advance(10);
  tick!();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(store.stats().swept, 10);
  // The rows are gone from the shards themselves, not just hidden.
  const raw = await Promise.all(shards.map((s) => s.getEntries(["t1", "t2", "keep"])));
  assert.equal(raw.reduce((n, m) => n + m.size, 0), 1);
  await store.close();
  assert.equal(stopped, true);
});

test("sweeper: an open store never keeps the process alive", async () => {
  const { dir, dispose } = await tempDir("alive");
  try {
    const child = spawnChild("./_open_and_leave.ts", [dir]);
    const lines: string[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await readLines(child, (l) => lines.push(l));
    clearTimeout(timer);
    assert.equal(code, 0, "the child exited on its own");
    assert.deepEqual(lines, ["opened"]);
  } finally {
    await dispose();
  }
});
