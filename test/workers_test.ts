// The `workers` option: shards hosted in worker threads pass the same conformance suite, and
// the option is validated.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { openStore } from "../mod.ts";
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
  await assert.rejects(openStore("", { backend: "memory", workers: 2 }), TypeError);
  await assert.rejects(
    openStore("x", {
      backend: () => Promise.reject(new Error("unused")),
      workers: 1,
    }),
    TypeError,
  );
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
