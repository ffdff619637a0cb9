// reshard(): moves a store to another shard count, keeping every live key, value and TTL; an
// interrupted reshard (killed process) leaves the old or the new layout, complete.
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openStore, ShardCountMismatchError, type Store } from "../mod.ts";
import { recoverReshard, reshard } from "../shard/reshard.ts";
import { dec, enc, prng, readLines, spawnChild, withTempDir } from "./_helpers.ts";

const KEYS = ["a", "é", "日本", "😀", "\u{10ffff}", "{u1}:a", "{u1}:b", "a\u0000b", "\uffff"];

/** Fills a store with `n` keys plus the multibyte ones; returns the expected contents. */
async function fill(store: Store, n: number): Promise<Map<string, string>> {
  const expected = new Map<string, string>();
  const entries: [string, Uint8Array][] = [];
  for (let i = 0; i < n; i++) entries.push([`key:${i}`, enc(`value ${i}`)]);
  for (const k of KEYS) entries.push([k, enc(`v-${k}`)]);
  await store.batchSet(entries);
  for (const [k, v] of entries) expected.set(k, dec(v)!);
  return expected;
}

/** Opens the store at `dir` and checks its shard count and some of its keys. */
async function assertStore(
  dir: string,
  shards: number,
  keys: Record<string, string>,
): Promise<void> {
  const s = await openStore(dir);
  try {
    assert.equal(s.shards, shards);
    for (const [k, v] of Object.entries(keys)) assert.equal(dec(await s.get(k)), v, `key ${k}`);
  } finally {
    await s.close();
  }
}

async function contents(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of store.entries("")) out.set(k, dec(v)!);
  return out;
}

test("reshard 4 -> 16 -> 1 keeps every key, value and remaining TTL", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 4 });
    const expected = await fill(store, 300);
    await store.set("ttl:long", enc("x"), { ttl: 3_600_000 });
    expected.set("ttl:long", "x");
    await store.set("ttl:gone", enc("x"), { ttl: 1 });
    await store.close();
    await new Promise((r) => setTimeout(r, 5));
    let progress = 0;
    await reshard(dir, { shards: 16, onProgress: (n) => progress = n });
    assert.equal(progress, expected.size);
    for (const shards of [16, 1]) {
      if (shards === 1) await reshard(dir, { shards: 1 });
      const s = await openStore(dir);
      assert.equal(s.shards, shards);
      assert.deepEqual(await contents(s), expected);
      const ttl = (await s.ttl("ttl:long"))!;
      assert.ok(ttl > 3_000_000 && ttl <= 3_600_000, `ttl ${ttl}`);
      assert.equal(await s.ttl("a"), Infinity);
      assert.equal(await s.get("ttl:gone"), undefined);
      await s.close();
    }
    // Only the new layout's files are left.
    const names = (await readdir(dir)).filter((n) => !n.endsWith("-wal") && !n.endsWith("-shm"));
    assert.deepEqual(names.sort(), ["shard-000.sqlite", "shardkv.json"]);
    await assert.rejects(openStore(dir, { shards: 4 }), ShardCountMismatchError);
  });
});

test("reshard moves a store from sqlite to deno-kv and back, keeping everything", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 2 });
    const expected = await fill(store, 200);
    await store.close();
    for (const [backend, shards] of [["deno-kv", 8], ["sqlite", 3]] as const) {
      await reshard(dir, { shards, backend });
      const s = await openStore(dir);
      assert.equal(s.backend, backend);
      assert.equal(s.shards, shards);
      assert.deepEqual(await contents(s), expected);
      await s.close();
    }
    const names = (await readdir(dir)).filter((n) => /^shard-\d+\.(sqlite|kv)$/.test(n)).sort();
    assert.deepEqual(names, ["shard-000.sqlite", "shard-001.sqlite", "shard-002.sqlite"]);
  });
});

test("reshard rejects bad arguments and a missing store, touching nothing", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(reshard(dir, { shards: 4 }), /No shardkv store/);
    const store = await openStore(dir, { shards: 2 });
    await store.set("k", enc("v"));
    await store.close();
    await assert.rejects(
      reshard(dir, { shards: 0 }),
      (e: Error) => e instanceof RangeError && /received number 0/.test(e.message),
    );
    await assert.rejects(reshard(dir, { shards: 2.5 }), RangeError);
    await assert.rejects(
      reshard(dir, { shards: 4, backend: "memory" as "sqlite" }),
      (e: Error) => e instanceof TypeError && /"memory"/.test(e.message),
    );
    await assert.rejects(reshard("", { shards: 4 }), TypeError);
    await assert.rejects(reshard(dir, null as unknown as { shards: number }), TypeError);
    await assertStore(dir, 2, { k: "v" });
  });
});

test("recoverReshard deletes the build directory of a reshard that did not commit", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 2 });
    await store.set("k", enc("v"));
    await store.close();
    // A dead process's build, half written.
    await mkdir(join(dir, ".reshard-999999999-dead"));
    await writeFile(join(dir, ".reshard-999999999-dead", "shard-000.sqlite"), "partial");
    await recoverReshard(dir);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith(".reshard")), []);
    await assertStore(dir, 2, { k: "v" });
  });
});

/** Builds the state a crash leaves right after the commit point, with one file already moved. */
async function interruptedAfterCommit(dir: string): Promise<void> {
  const old = await openStore(dir, { shards: 2 });
  await old.set("k", enc("old"));
  await old.close();
  const from = ".reshard-999999999-ab";
  const build = await openStore(join(dir, from), { shards: 3 });
  await build.set("k", enc("new"));
  await build.set("only-new", enc("1"));
  await build.close();
  const files = (await readdir(join(dir, from))).filter((n) => n !== "shardkv.json").sort();
  const manifest = JSON.parse(await readFile(join(dir, from, "shardkv.json"), "utf8"));
  await writeFile(
    join(dir, "shardkv.json"),
    JSON.stringify({ ...manifest, shards: 0, reshard: { from, files } }),
  );
  await rename(join(dir, from, files[0]), join(dir, files[0]));
}

test("recoverReshard rolls a committed reshard forward (idempotently)", async () => {
  await withTempDir(async (dir) => {
    await interruptedAfterCommit(dir);
    await recoverReshard(dir);
    await recoverReshard(dir);
    await assertStore(dir, 3, { k: "new", "only-new": "1" });
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith(".reshard")), []);
  });
});

test("openStore finishes an interrupted reshard by itself", async () => {
  await withTempDir(async (dir) => {
    await interruptedAfterCommit(dir);
    await assertStore(dir, 3, { k: "new", "only-new": "1" });
  });
});

test("reshard killed at random moments: the store is always the old or the new layout, complete", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 4 });
    const expected = await fill(store, 3000);
    await store.close();
    const random = prng(42);
    const outcomes = { old: 0, new: 0 };
    let current = 4;
    for (let cycle = 0; cycle < 8; cycle++) {
      const next = current === 4 ? 16 : 4;
      const child = spawnChild("./_child_writer.ts", ["reshard", dir, String(next)]);
      const timer = setTimeout(() => child.kill("SIGKILL"), 40 + Math.floor(random() * 250));
      await readLines(child, () => {});
      clearTimeout(timer);
      await recoverReshard(dir);
      const s = await openStore(dir);
      assert.ok(s.shards === current || s.shards === next, `unexpected shard count ${s.shards}`);
      outcomes[s.shards === next ? "new" : "old"]++;
      current = s.shards;
      assert.deepEqual(await contents(s), expected, `cycle ${cycle}: keys lost or changed`);
      await s.close();
    }
    assert.ok(outcomes.old + outcomes.new === 8);
  });
});
