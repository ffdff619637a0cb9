// Child process for open_store_test: opens a store with a TTL key and never closes it. The
// process must still exit by itself (the sweeper's timer is unref'd).
import process from "node:process";
import { openStore } from "../mod.ts";

const store = await openStore(process.argv.at(-1)!, { shards: 2 });
await store.set("k", new Uint8Array([1]), { ttl: 60_000 });
console.log("opened");
