// The `workers` option: shards of any hostable driver (sqlite, deno-kv, a hosted() custom
// driver) run in worker threads and pass the same conformance suite; the option is validated.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { autoWorkers, CorruptStoreError, denoKv, hosted, openStore, sqlite } from "../mod.ts";
import { conformance, type OpenTarget } from "./conformance.ts";
import { dec, enc, tempDir } from "./_helpers.ts";

function workersTarget(shards: number, workers: number): OpenTarget {
  return async ({ now, cache }) => {
    const { dir, dispose } = await tempDir(`workers-${shards}`);
    const store = await openStore(`${dir}/store`, { shards, workers, now, cache: cache ?? false });
    return { store, dispose };
  };
}

conformance("sqlite 1 shard in 1 worker", workersTarget(1, 1), { shards: 1 });
conformance("sqlite 16 shards in 2 workers", workersTarget(16, 2), { shards: 16, cache: true });

const MAP_DRIVER = new URL("./_hosted_map_driver.ts", import.meta.url);
for (const workers of [0, 2]) {
  conformance(`hosted custom driver, 4 shards, ${workers} workers`, async ({ now, cache }) => {
    const { dir, dispose } = await tempDir("workers-hosted");
    const store = await openStore(`${dir}/store`, {
      backend: hosted(MAP_DRIVER, "openHostedMap", { tag: "map" }),
      shards: 4,
      workers,
      now,
      cache: cache ?? false,
    });
    return { store, dispose };
  }, { shards: 4, cache: workers > 0 });
}

test("workers: descriptors are hosted with their options, deno-kv reopens without workers", async () => {
  const { dir, dispose } = await tempDir("workers-descriptors");
  try {
    const a = await openStore(`${dir}/sq`, {
      backend: sqlite({ durability: "full", busyTimeout: 100 }),
      shards: 2,
      workers: 2,
    });
    await a.set("k", enc("v"));
    await a.close();
    // Only Deno hosts deno-kv in workers (@deno/kv's native module crashes Bun's and Node's).
    const onDeno = "Deno" in globalThis;
    const b = await openStore(`${dir}/kv`, {
      backend: denoKv(),
      shards: 3,
      workers: onDeno ? 2 : 0,
    });
    await b.batchSet(Array.from({ length: 30 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
    await b.close();
    const c = await openStore(`${dir}/kv`);
    assert.equal(c.backend, "deno-kv");
    assert.equal(dec(await c.get("k7")), "v7");
    assert.equal((await c.scanKeys("k")).length, 30);
    await c.close();
    const d = await openStore(`${dir}/sq`, { workers: 1 });
    assert.equal(dec(await d.get("k")), "v");
    await d.close();
  } finally {
    await dispose();
  }
});

test("workers: a damaged shard file is a CorruptStoreError through the worker", async () => {
  const { dir, dispose } = await tempDir("workers-corrupt");
  try {
    const a = await openStore(`${dir}/store`, { shards: 2 });
    await a.close();
    const { writeFile } = await import("node:fs/promises");
    await writeFile(`${dir}/store/shard-001.sqlite`, "this is not an SQLite database".repeat(200));
    await assert.rejects(openStore(`${dir}/store`, { workers: 1 }), CorruptStoreError);
  } finally {
    await dispose();
  }
});

test("workers: hosted() and its module are checked, errors keep their class", async () => {
  assert.throws(() => hosted("./relative.ts", "x"), TypeError);
  assert.throws(() => hosted("https://example.com/d.ts", "x"), TypeError);
  assert.throws(() => hosted(MAP_DRIVER, ""), TypeError);
  assert.throws(() => hosted(MAP_DRIVER, "openHostedMap", { f() {} }), TypeError);
  const { dir, dispose } = await tempDir("workers-hosted-bad");
  try {
    for (const workers of [0, 1]) {
      for (
        const [name, options] of [["missing", undefined], ["openNothing", undefined], [
          "openHostedMap",
          { tag: "other" },
        ]] as const
      ) {
        await assert.rejects(
          openStore(`${dir}/s${workers}${name}`, {
            backend: hosted(MAP_DRIVER, name, options),
            workers,
          }),
          (e: Error) =>
            e instanceof TypeError && e.message.includes(name === "openHostedMap" ? "tag" : name),
        );
      }
    }
  } finally {
    await dispose();
  }
});

test("workers: data written through workers is there after reopening without them", async () => {
  const { dir, dispose } = await tempDir("workers-reopen");
  try {
    const a = await openStore(`${dir}/store`, { shards: 4, workers: 2 });
    await a.batchSet(Array.from({ length: 100 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
    await a.close();
    const b = await openStore(`${dir}/store`);
    assert.equal(dec(await b.get("k42")), "v42");
    assert.equal((await b.scanKeys("k")).length, 100);
    await b.close();
  } finally {
    await dispose();
  }
});

test("workers: bad values are RangeError, other backends are TypeError", async () => {
  for (const workers of [-1, 1.5, 65, NaN]) {
    await assert.rejects(openStore("/nonexistent-shardkv", { workers }), RangeError);
  }
  for (const workers of ["2", "AUTO", null, {}]) {
    await assert.rejects(
      openStore("/nonexistent-shardkv", { workers: workers as unknown as number }),
      (e: Error) => e instanceof TypeError && /workers must be a number or "auto"/.test(e.message),
    );
  }
  await assert.rejects(
    openStore("", { backend: "memory", workers: 2 }),
    (e: Error) => e instanceof TypeError && /memory.*live in the worker/.test(e.message),
  );
  await assert.rejects(
    openStore("x", { backend: "redis", workers: 2 }),
    (e: Error) => e instanceof TypeError && /redis/.test(e.message),
  );
  await assert.rejects(
    openStore("x", {
      backend: () => Promise.reject(new Error("unused")),
      workers: 1,
    }),
    (e: Error) => e instanceof TypeError && /hosted\(/.test(e.message),
  );
});

test('workers: "auto" follows the core count, the shard count and the backend', () => {
  assert.equal(autoWorkers({ cores: 1, shards: 4, backend: "sqlite" }), 0);
  assert.equal(autoWorkers({ cores: 2, shards: 16, backend: "sqlite" }), 0);
  assert.equal(autoWorkers({ cores: 3, shards: 16, backend: "sqlite" }), 0);
  assert.equal(autoWorkers({ cores: 4, shards: 4, backend: "sqlite" }), 2);
  assert.equal(autoWorkers({ cores: 4, shards: 3, backend: "sqlite" }), 3);
  assert.equal(autoWorkers({ cores: 64, shards: 16, backend: "sqlite" }), 2);
  assert.equal(autoWorkers({ cores: 64, shards: 9, backend: "sqlite" }), 3);
  assert.equal(autoWorkers({ cores: 64, shards: 1, backend: "sqlite" }), 0);
  assert.equal(autoWorkers({ cores: 64, shards: 7, backend: "sqlite" }), 0);
  for (const backend of ["deno-kv", "memory", "redis", "custom"]) {
    assert.equal(autoWorkers({ cores: 64, shards: 16, backend }), 0);
  }
  assert.throws(() => autoWorkers({ cores: 0, shards: 4, backend: "sqlite" }), RangeError);
  assert.throws(() => autoWorkers({ cores: 4, shards: 2.5, backend: "sqlite" }), RangeError);
  assert.throws(
    () => autoWorkers({ cores: "4" as unknown as number, shards: 4, backend: "sqlite" }),
    TypeError,
  );
  assert.throws(
    () => autoWorkers({ cores: 4, shards: 4, backend: undefined as unknown as string }),
    TypeError,
  );
});

test('workers: "auto" (the default) opens every backend, also those workers cannot host', async () => {
  const { dir, dispose } = await tempDir("workers-auto");
  try {
    const stores = [
      await openStore("", { backend: "memory", workers: "auto" }),
      await openStore(`${dir}/factory`, {
        backend: () => import("../backends/memory.ts").then((m) => m.openMemoryDriver()),
        workers: "auto",
      }),
      await openStore(`${dir}/sqlite`, { workers: "auto" }),
      await openStore(`${dir}/default`),
    ];
    for (const store of stores) {
      await store.set("k", enc("v"));
      assert.equal(dec((await store.get("k"))!), "v");
      await store.close();
    }
  } finally {
    await dispose();
  }
});

test("workers: an open store with workers never keeps the process alive", async () => {
  const { dir, dispose } = await tempDir("workers-alive");
  try {
    const mod = new URL("../mod.ts", import.meta.url).href;
    const code = `const { openStore } = await import(${JSON.stringify(mod)});
const s = await openStore(${JSON.stringify(`${dir}/store`)}, { shards: 2, workers: 2 });
await s.set("k", new Uint8Array([1]));
console.log("opened");`;
    const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
    const args = onDeno ? ["eval", code] : ["-e", code];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    let out = "";
    child.stdout!.on("data", (b: Uint8Array) => out += new TextDecoder().decode(b));
    const exit = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(timer);
    assert.equal(exit, 0, "the child exited on its own");
    assert.equal(out.trim(), "opened");
  } finally {
    await dispose();
  }
});
