// Soak: many SIGKILL cycles against one store, checking after each that no acknowledged write
// was lost and no batch or transaction was half-applied. Usage (Deno: deno run -A bench/soak.ts
// ...; Bun: bun bench/soak.ts ...):
//   --cycles <n>       kill cycles (default 200)
//   --shards <list>    comma-separated shard counts, one store each (default 1,16)
//   --backend <b>      sqlite or deno-kv (default sqlite)
//   --durability <d>   normal, relaxed, full or mixed (default mixed: alternates normal/relaxed)
//   --min-delay <ms>   shortest time a writer runs before the kill (default 20)
//   --max-delay <ms>   longest (default 500)
//   --seed <n>         seed of the kill delays (default: time based, printed)
//   --dir <path>       parent directory of the stores (default: a temp dir, removed at the end)
// Exit code 1 on the first violation.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { killWriter, verifyRun } from "../test/_crash.ts";
import { prng } from "../test/_helpers.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

const cycles = Number(arg("cycles", "200"));
const shardCounts = arg("shards", "1,16").split(",").map(Number);
const durability = arg("durability", "mixed");
const backend = arg("backend", "sqlite");
const minDelay = Number(arg("min-delay", "20"));
const maxDelay = Number(arg("max-delay", "500"));
const seed = Number(arg("seed", String(Date.now() % 1_000_000_000)));
const given = process.argv.includes("--dir");
const root = given ? arg("dir", "") : await mkdtemp(join(tmpdir(), "shardkv-soak-"));
const random = prng(seed);
console.log(
  `soak: ${backend}, ${cycles} cycles x shards ${shardCounts.join(",")}, seed ${seed}, in ${root}`,
);

let failed = false;
try {
  for (const shards of shardCounts) {
    const dir = join(root, `store-${shards}`);
    let counter = 0;
    let acked = 0;
    const started = performance.now();
    for (let run = 0; run < cycles; run++) {
      const level = durability === "mixed" ? (run % 2 === 0 ? "normal" : "relaxed") : durability;
      const delayMs = minDelay + Math.floor(random() * (maxDelay - minDelay));
      const acks = await killWriter(dir, { shards, run, durability: level, delayMs, backend });
      acked += acks.single + 1 + acks.batch + acks.txn;
      counter = await verifyRun(dir, { shards, run, acks, counterBefore: counter });
      if ((run + 1) % 10 === 0 || run + 1 === cycles) {
        const s = ((performance.now() - started) / 1000).toFixed(1);
        console.log(
          `${shards} shards: ${
            run + 1
          } kills, ${acked} acknowledged writes checked, 0 lost (${s} s)`,
        );
      }
    }
  }
  console.log("soak: no acknowledged write lost, no batch or transaction half-applied");
} catch (e) {
  failed = true;
  console.error(`soak FAILED (seed ${seed}):`, e);
} finally {
  if (!given) await rm(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
