// Child process for deno_kv_lock_test: opens the deno-kv database at its argument, takes the
// shard's lock with begin() (with a lease of 10 minutes), prints "LOCKED <pid>" and holds it
// until it is killed.
import process from "node:process";
import { openKv } from "../backends/_deno_kv_api.ts";
import { createDenoKvBackend } from "../backends/_deno_kv_backend.ts";

const backend = await createDenoKvBackend(await openKv(process.argv.at(-1)!), {
  now: Date.now,
  lockLeaseMs: 600_000,
});
await backend.begin(["k"]);
console.log(`LOCKED ${process.pid}`);
setInterval(() => {}, 60_000);
