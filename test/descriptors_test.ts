// Backends chosen with descriptors that carry their own options, the string shorthands, and
// options a backend cannot honour refused with a typed error (nothing created or changed).
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { test } from "node:test";
import { denoKv, memory, openStore, redis, sqlite } from "../mod.ts";
import { dropRedisStore } from "../backends/redis.ts";
import { dec, enc, tempDir } from "./_helpers.ts";
import { freshName, REDIS_URL } from "./_redis_env.ts";

test("descriptors: sqlite(), denoKv(), memory() open stores that reopen by name", async () => {
  const { dir, dispose } = await tempDir("desc");
  try {
    for (
      const [name, backend] of [
        ["sqlite", sqlite({ durability: "full", busyTimeout: 250 })],
        ["deno-kv", denoKv()],
      ] as const
    ) {
      const store = await openStore(`${dir}/${name}`, { backend, shards: 2 });
      assert.equal(store.backend, name);
      await store.set("k", enc(name));
      await store.close();
      const again = await openStore(`${dir}/${name}`, { backend: name });
      assert.equal(dec(await again.get("k")), name);
      await again.close();
    }
    const mem = await openStore("", { backend: memory(), shards: 3 });
    assert.equal(mem.backend, "memory");
    assert.equal(mem.shards, 3);
    await mem.close();
  } finally {
    await dispose();
  }
});

test("descriptors: redis({ url }) is the same store as the shorthand", async () => {
  const name = freshName("desc");
  try {
    const a = await openStore(name, { backend: redis({ url: REDIS_URL }), shards: 2 });
    await a.set("k", enc("v"));
    const b = await openStore(name, { backend: "redis", redis: { url: REDIS_URL } });
    assert.equal(dec(await b.get("k")), "v");
    await a.close();
    await b.close();
  } finally {
    await dropRedisStore(name, { url: REDIS_URL });
  }
});

test("descriptors: options a backend does not take are refused", () => {
  assert.throws(() => sqlite({ durability: "fast" as "full" }), RangeError);
  assert.throws(() => sqlite({ busyTimeout: -1 }), RangeError);
  assert.throws(() => sqlite({ url: "x" } as never), /does not take the option "url"/);
  assert.throws(() => memory({ durability: "full" } as never), TypeError);
  assert.throws(() => denoKv({ path: "x" } as never), TypeError);
  assert.throws(() => redis({ durability: "full" } as never), TypeError);
  assert.throws(() => redis({ url: "redis://a", nodes: ["b:1"] }), TypeError);
});

test("openStore: durability and redis that the backend cannot honour throw, creating nothing", async () => {
  const { dir, dispose } = await tempDir("desc-refuse");
  try {
    const refused: [string, Parameters<typeof openStore>[1], RegExp][] = [
      ["memory + full", { backend: "memory", durability: "full" }, /cannot honour/],
      ["deno-kv + relaxed", { backend: "deno-kv", durability: "relaxed" }, /cannot honour/],
      [
        "custom + full",
        { backend: () => Promise.reject(new Error("unused")), durability: "full" },
        /custom backend cannot honour/,
      ],
      ["redis option on sqlite", { redis: { url: REDIS_URL } }, /needs backend "redis"/],
      [
        "durability beside a descriptor",
        { backend: sqlite(), durability: "full" },
        /inside the backend descriptor/,
      ],
      [
        "redis beside a descriptor",
        { backend: redis(), redis: { url: REDIS_URL } },
        /inside the backend descriptor/,
      ],
    ];
    for (const [label, options, message] of refused) {
      await assert.rejects(openStore(`${dir}/new`, options), (e: Error) => {
        assert.ok(e instanceof TypeError, `${label}: ${e}`);
        assert.match(e.message, message, label);
        return true;
      });
    }
    assert.deepEqual(await readdir(dir), []);
    // An existing deno-kv store opened without naming its backend refuses a sqlite-only level.
    const kv = await openStore(`${dir}/kv`, { backend: "deno-kv", shards: 1 });
    await kv.close();
    await assert.rejects(openStore(`${dir}/kv`, { durability: "full" }), /cannot honour/);
    await assert.rejects(openStore(`${dir}/kv`, { backend: sqlite({ busyTimeout: 5 }) }));
  } finally {
    await dispose();
  }
});
