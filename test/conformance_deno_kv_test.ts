import { test } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../mod.ts";
import { openDenoKvBackend } from "../backends/deno_kv.ts";
import { conformance } from "./conformance.ts";
import { tempDir } from "./_helpers.ts";
import { conformanceForBackend, storeTarget } from "./_targets.ts";

// Deno runs Deno.openKv; Bun runs the same suite through the npm package @deno/kv.
conformanceForBackend("deno-kv", "deno-kv");
// The same driver hosted in worker threads (the `workers` wrapper), where the runtime can:
// on Bun and Node, @deno/kv's native module crashes worker threads, so openStore refuses it.
if (!("Deno" in globalThis)) {
  test("deno-kv with workers outside Deno: refused with a TypeError, new or existing, nothing opened", async () => {
    const { dir, dispose } = await tempDir("denokv-workers-bun");
    try {
      await assert.rejects(
        openStore(`${dir}/new`, { backend: "deno-kv", shards: 2, workers: 2 }),
        (e: unknown) => e instanceof TypeError && /deno-kv backend on (Bun|Node)/.test(e.message),
      );
      const made = await openStore(`${dir}/old`, { backend: "deno-kv", shards: 2 });
      await made.set("k", new Uint8Array([1]));
      await made.close();
      await assert.rejects(openStore(`${dir}/old`, { workers: 1 }), TypeError);
      const again = await openStore(`${dir}/old`);
      assert.deepEqual(await again.get("k"), new Uint8Array([1]));
      await again.close();
    } finally {
      await dispose();
    }
  });
} else {
  conformance("deno-kv 16 shards in 2 workers", storeTarget("deno-kv", 16, 2), {
    shards: 16,
    cache: true,
  });
}
conformance("deno-kv bare backend", async ({ now }) => {
  const { dir, dispose } = await tempDir("denokv-bare");
  return { store: await openDenoKvBackend(`${dir}/one.kv`, { now }), dispose };
}, { shards: 1 });
