import { openDenoKvBackend } from "../backends/deno_kv.ts";
import { conformance } from "./conformance.ts";
import { tempDir } from "./_helpers.ts";
import { conformanceForBackend } from "./_targets.ts";

// Deno runs Deno.openKv; Bun runs the same suite through the npm package @deno/kv.
conformanceForBackend("deno-kv", "deno-kv");
conformance("deno-kv bare backend", async ({ now }) => {
  const { dir, dispose } = await tempDir("denokv-bare");
  return { store: await openDenoKvBackend(`${dir}/one.kv`, { now }), dispose };
}, { shards: 1 });
