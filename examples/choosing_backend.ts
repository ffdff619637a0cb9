/**
 * Choosing a backend: the same code runs on every backend, because every backend implements
 * the same `StorageBackend` interface. `"sqlite"` (default) persists each shard in a WAL-mode
 * SQLite file; `"memory"` keeps nothing on disk (tests, caches); `"deno-kv"` stores each shard
 * in a Deno KV file and runs only where Deno KV is available.
 *
 * Run: `deno run -A examples/choosing_backend.ts` or `bun examples/choosing_backend.ts`
 *
 * @module
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BackendName, openStore, type StorageBackend, text, typed } from "../mod.ts";

/** Backend-independent code: it only sees the StorageBackend interface. */
async function useIt(kv: StorageBackend): Promise<string> {
  const config = typed(kv, text);
  await config.set("config:theme", "dark");
  await kv.incr("stats:visits");
  await kv.incr("stats:visits");
  const theme = await config.get("config:theme");
  const keys = await kv.scanKeys("");
  return `theme=${theme} keys=${keys.join(",")}`;
}

const backends: BackendName[] = ["sqlite", "memory", "deno-kv"];
for (const backend of backends) {
  const dir = await mkdtemp(join(tmpdir(), `shardkv-${backend}-`));
  try {
    const store = await openStore(dir, { backend, shards: 4 }).catch((e: Error) => e);
    if (store instanceof Error) {
      console.log(`${backend}: not available here (${store.message})`);
      continue;
    }
    try {
      console.log(`${backend}: ${await useIt(store)}`);
    } finally {
      await store.close();
    }
    console.log(`${backend}: files on disk: ${(await readdir(dir)).length > 0 ? "yes" : "none"}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
