// Child process for server_hostile_test: serves a memory store holding `big` (256 KiB) over RESP
// with the serveResp options given as JSON in the last argument, prints "port N" once
// listening, and stops when stdin closes. Runs on whichever runtime starts it.
import process from "node:process";
import { openStore } from "../mod.ts";
import { type ServeOptions, serveResp } from "../server/mod.ts";

const options = JSON.parse(process.argv.at(-1) ?? "{}") as ServeOptions;
const store = await openStore("", { backend: "memory", shards: 4 });
await store.set("big", new Uint8Array(256 * 1024).fill(120));
const server = await serveResp(store, {
  ...options,
  port: 0,
  log: (message) => console.error(message),
});
console.log(`port ${server.port}`);
process.stdin.on("data", () => {});
process.stdin.on("end", async () => {
  await server.close();
  await store.close();
  process.exit(0);
});
