// Child process for manifest_test: rewrites the manifest at argv dir forever, alternating two
// large manifests (a long backend name, so a torn write would have a wide window), printing
// each one's name after it is written, until it is killed.
import process from "node:process";
import { FORMAT_VERSION, HASH_NAME, writeManifest } from "../shard/manifest.ts";

const dir = process.argv.at(-1)!;
for (let i = 0;; i++) {
  const backend = (i % 2 === 0 ? "a" : "b").repeat(4 << 20);
  await writeManifest(dir, { format: FORMAT_VERSION, backend, shards: 1 + i % 2, hash: HASH_NAME });
  console.log(i === 0 ? "READY" : "W");
}
