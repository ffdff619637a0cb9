import { openDenoKvBackend } from "../backends/deno_kv.ts";
import { conformance } from "./conformance.ts";
import { tempDir } from "./_helpers.ts";
import { conformanceForBackend, storeTarget } from "./_targets.ts";

// Deno runs Deno.openKv; Bun runs the same suite through the npm package @deno/kv.
conformanceForBackend("deno-kv", "deno-kv");
// The same driver hosted in worker threads (the `workers` wrapper).
conformance("deno-kv 16 shards in 2 workers", storeTarget("deno-kv", 16, 2), {
  shards: 16,
  cache: true,
});
conformance("deno-kv bare backend", async ({ now }) => {
  const { dir, dispose } = await tempDir("denokv-bare");
  return { store: await openDenoKvBackend(`${dir}/one.kv`, { now }), dispose };
}, { shards: 1 });
