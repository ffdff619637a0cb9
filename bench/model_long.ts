// Long model-based run: compares the store with the in-memory model over many seeded random
// sequences. Usage (Deno: deno run -A bench/model_long.ts ...; Bun: bun bench/model_long.ts ...):
//   --ops <n>        operations per backend and shard count (default 1000000)
//   --backend <b>    memory, sqlite, deno-kv or both (memory and sqlite; the default)
//   --shards <list>  comma-separated shard counts (default 1,16)
//   --seed <n>       first seed (default: time based; printed so a failure can be replayed)
//   --cache          open the stores with a small read cache
//   --length <n>     operations per sequence (default 20000; each sequence gets a fresh store)
// Exit code 1 on the first mismatch, after printing the seed and a shrunk failing sequence.
import process from "node:process";
import { check, generate, opener, report, shrink } from "../test/_model.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

const total = Number(arg("ops", "1000000"));
const length = Number(arg("length", "20000"));
const backends = arg("backend", "both") === "both" ? ["memory", "sqlite"] : [arg("backend", "")];
const shardCounts = arg("shards", "1,16").split(",").map(Number);
let seed = Number(arg("seed", String(Date.now() % 1_000_000_000)));

for (const backend of backends) {
  if (backend !== "memory" && backend !== "sqlite" && backend !== "deno-kv") {
    throw new TypeError(`unknown backend ${backend}`);
  }
  for (const shards of shardCounts) {
    const open = opener(backend, shards, { cache: process.argv.includes("--cache") });
    const started = performance.now();
    for (let done = 0; done < total; done += length, seed++) {
      const ops = generate(seed, Math.min(length, total - done));
      const mismatch = await check(ops, { shards, open });
      if (mismatch !== undefined) {
        console.error(
          report(seed, `${backend}/${shards}`, await shrink(ops, mismatch, { shards, open })),
        );
        process.exit(1);
      }
      const n = done + ops.length;
      const rate = Math.round(n / ((performance.now() - started) / 1000));
      console.log(`${backend}/${shards} shards: ${n} ops ok (seed ${seed}, ${rate} ops/s)`);
    }
  }
}
console.log("model_long: no mismatch");
