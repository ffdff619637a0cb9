// Runs every benchmark on Bun and on Deno (the peers comparison on Bun), then writes
// bench/RESULTS.md and the chart.
//   node bench/run.mjs            full run (several minutes a runtime)
//   node bench/run.mjs --quick    under a minute a runtime
// Extra flags are passed to bench/throughput.ts (e.g. --shards 16 --backends sqlite).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const flags = process.argv.slice(2);
const quick = flags.includes("--quick") ? ["--quick"] : [];

const steps = [
  [bin("bun"), ["bench/throughput.ts", ...flags]],
  [bin("deno"), ["run", "-A", "--no-check", "bench/throughput.ts", ...flags]],
  [bin("bun"), ["bench/backends_bench.ts", ...quick]],
  [bin("deno"), ["run", "-A", "--no-check", "bench/backends_bench.ts", ...quick]],
  [bin("bun"), ["bench/peers.ts", ...quick]],
  [bin("bun"), ["bench/report.ts"]],
  // The report is committed, and CI checks every committed Markdown file's formatting.
  [bin("deno"), ["fmt", "bench/RESULTS.md"]],
];
for (const [cmd, args] of steps) {
  console.log(`\n=== ${cmd.split("/").at(-1)} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`failed (exit ${r.status})`);
    process.exit(1);
  }
}
