// Quickstart: open a 16-shard SQLite store, write, read, count, scan, batch, expire.
// Values are typed through a codec: `structured` keeps Dates, Maps, Sets, BigInts and typed
// arrays; `json` and `text` are built in too; the store itself holds bytes.
// Run with `deno run -A examples/quickstart.ts` or `bun examples/quickstart.ts`.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeCounter, openStore, structured, text, typed } from "../mod.ts";

interface User {
  name: string;
  joined: Date;
  roles: Set<string>;
}

const dir = await mkdtemp(join(tmpdir(), "shardkv-quickstart-"));
const store = await openStore(dir, { shards: 16 });
const users = typed<User>(store, structured);
const sessions = typed(store, text);
try {
  await users.set("user:1", {
    name: "Ada Lovelace",
    joined: new Date(),
    roles: new Set(["admin"]),
  });
  await sessions.set("session:abc", "token", { ttl: 60_000 });
  const ada = await users.get("user:1");
  console.log("user:1 =", ada?.name);
  console.log("session:abc expires in", await sessions.ttl("session:abc"), "ms");

  // Counters stay on the store: an 8-byte big-endian int64 each.
  await store.incr("visits");
  console.log(
    "visits =",
    await store.incr("visits", 41),
    "| stored bytes decode to",
    decodeCounter((await store.get("visits"))!),
  );

  await users.batchSet(
    Array.from({ length: 5 }, (_, i) =>
      [`user:${i + 2}`, {
        name: `user ${i + 2}`,
        joined: new Date(),
        roles: new Set<string>(),
      }] as const),
  );
  console.log("users, in key order across 16 shards:", await users.scanKeys("user:"));
  console.log(
    "first two after user:2:",
    await users.scanKeys("user:", { after: "user:2", limit: 2 }),
  );
  console.log("deleted", await users.batchDelete(["user:5", "user:6", "nope"]), "keys");
  console.log("stats:", JSON.stringify(store.stats()));
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
