/**
 * CPU time per operation of each thread (Linux `/proc/self/task`), for in-thread shards against
 * the `workers` option: what the README's "Worker threads" table and "What bounds the misses"
 * cite. CPU time is the measure the machine's other load disturbs least; throughput is printed
 * too. Each configuration runs in a fresh process, and the configurations alternate round by
 * round.
 *
 *   bun bench/thread_cpu.ts [--configs W1:1:0,W1:16:0,W1:16:2,W2:16:0,W2:16:2] [--seconds 2]
 *     [--rounds 2] [--keys 50000]
 *   deno run -A bench/thread_cpu.ts [same flags]
 *
 * A configuration is workload:shards:workers; W1 is 64 writers of unique keys with
 * `durability: "relaxed"`, W2 64 readers of `--keys` preloaded keys. Linux only.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { openStore } from "../mod.ts";
import { args, benchDir, round, runtimeName } from "./_common.ts";

const opt = args();
const seconds = Number(opt.get("seconds") ?? 2);
const keys = Number(opt.get("keys") ?? 50_000);
const VALUE = new Uint8Array(1024).fill(7);
const preKey = (i: number) => `key_${String(i).padStart(8, "0")}`;

/** CPU clock ticks (user + system) of each thread of this process, by thread id, with its name. */
function threadTicks(): Map<string, { name: string; ticks: number }> {
  const out = new Map<string, { name: string; ticks: number }>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const name = readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
      out.set(tid, { name, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** Child: runs one configuration and prints one JSON line. */
async function child(config: string): Promise<void> {
  const [workload, shards, workers] = config.split(":");
  const { dir, dispose } = await benchDir("thread-cpu");
  const store = await openStore(`${dir}/store`, {
    shards: Number(shards),
    workers: Number(workers),
    durability: workload === "W1" ? "relaxed" : "normal",
  });
  try {
    if (workload === "W2") {
      for (let i = 0; i < keys; i += 5000) {
        await store.batchSet(
          Array.from({ length: Math.min(5000, keys - i) }, (_, j) => [preKey(i + j), VALUE]),
        );
      }
    }
    const op = workload === "W1"
      ? (w: number, n: number) => store.set(`key_${w}_${n}`, VALUE)
      : () => store.get(preKey((Math.random() * keys) | 0));
    const phase = async (ms: number): Promise<number> => {
      let ops = 0;
      const end = performance.now() + ms;
      await Promise.all(Array.from({ length: 64 }, async (_, w) => {
        for (let n = 0; performance.now() < end; n++) {
          await op(w, n);
          ops++;
        }
      }));
      return ops;
    };
    await phase(300);
    const before = threadTicks();
    const t0 = performance.now();
    const ops = await phase(seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const after = threadTicks();
    // Clock ticks are 10 ms (USER_HZ 100): µs per op = ticks * 10_000 / ops.
    const threads: Record<string, number> = {};
    let total = 0;
    for (const [tid, { name, ticks }] of after) {
      const d = ticks - (before.get(tid)?.ticks ?? 0);
      if (d <= 0) continue;
      total += d;
      const label = threads[name] === undefined ? name : `${name}#${tid}`;
      threads[label] = round((d * 10_000) / ops, 2);
    }
    console.log(JSON.stringify({
      config,
      opsPerSec: Math.round(ops / elapsed),
      cpuPerOp: round((total * 10_000) / ops, 2),
      threads,
    }));
  } finally {
    await store.close();
    await dispose();
  }
}

function main(): void {
  const configs = (opt.get("configs") ?? "W1:1:0,W1:16:0,W1:16:2,W2:16:0,W2:16:2").split(",");
  const rounds = Number(opt.get("rounds") ?? 2);
  const self = fileURLToPath(import.meta.url);
  const passOn = ["--seconds", String(seconds), "--keys", String(keys)];
  for (let r = 1; r <= rounds; r++) {
    for (const config of configs) {
      const argv = runtimeName() === "deno"
        ? ["run", "-A", "--no-check", self, "--child", config, ...passOn]
        : [self, "--child", config, ...passOn];
      const res = spawnSync(process.execPath, argv, { encoding: "utf8" });
      const line = res.stdout.trim().split("\n").at(-1) ?? "";
      try {
        const m = JSON.parse(line) as {
          opsPerSec: number;
          cpuPerOp: number;
          threads: Record<string, number>;
        };
        const threads = Object.entries(m.threads).map(([n, v]) => `${n} ${v}`).join(", ");
        console.log(
          `round ${r} ${config.padEnd(9)} ${String(m.opsPerSec).padStart(7)} ops/s, ` +
            `CPU ${m.cpuPerOp} µs/op (${threads})`,
        );
      } catch {
        console.log(`round ${r} ${config}: failed: ${res.stderr.slice(-500)}`);
      }
    }
  }
}

if (opt.has("child")) await child(opt.get("child")!);
else main();
