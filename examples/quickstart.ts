// Quickstart: open a 16-shard SQLite store, write, read, count, scan, batch, expire.
// Run with `deno run -A examples/quickstart.ts` or `bun examples/quickstart.ts`.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeCounter, openStore } from "../mod.ts";

const dir = await mkdtemp(join(tmpdir(), "shardkv-quickstart-"));
const text = new TextEncoder();
const str = (b: Uint8Array | undefined) => (b === undefined ? "(none)" : new TextDecoder().decode(b));

const store = await openStore(dir, { shards: 16 });
try {
  await store.set("user:1", text.encode("Ada Lovelace"));
  await store.set("session:abc", text.encode("token"), { ttl: 60_000 });
  console.log("user:1 =", str(await store.get("user:1")));
  console.log("session:abc expires in", await store.ttl("session:abc"), "ms");

  await store.incr("visits");
  console.log("visits =", await store.incr("visits", 41), "| stored bytes decode to", decodeCounter((await store.get("visits"))!));

  await store.batchSet(Array.from({ length: 5 }, (_, i) => [`user:${i + 2}`, text.encode(`user ${i + 2}`)] as const));
  console.log("users, in key order across 16 shards:", await store.scanKeys("user:"));
  console.log("first two after user:2:", await store.scanKeys("user:", { after: "user:2", limit: 2 }));
  console.log("deleted", await store.batchDelete(["user:5", "user:6", "nope"]), "keys");
  console.log("stats:", JSON.stringify(store.stats()));
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
