// Runs the test suite under Deno, Bun and Node (all three from node_modules/.bin), then prints
// one line "N passed, N failed" summed over the three runtimes. Exit code 1 when anything failed
// or a runtime did not report. `node scripts/test.mjs [files...]` runs only the given files.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const files = process.argv.slice(2);
// Tests that drive the runtimes themselves (the consumer tests publish and install the packages
// for all three; the JSR and README checks run deno) run once, in the Node run.
const ONCE = ["test/consumer_test.ts", "test/jsr_test.ts", "test/readme_test.ts"];
const testFiles = (runtime) => {
  const all = files.length ? files : readdirSync(join(root, "test"))
    .filter((f) => f.endsWith("_test.ts")).sort().map((f) => `test/${f}`);
  return all.filter((f) => runtime === "node" || !ONCE.includes(f));
};
// Plain output for parsing: FORCE_COLOR set to anything (even 0) turns Deno's colours on.
const env = { ...process.env, NO_COLOR: "1" };
delete env.FORCE_COLOR;

const runs = [
  {
    name: "deno",
    cmd: bin("deno"),
    args: ["test", "-A", "--no-check", ...testFiles("deno")],
    // "ok | 12 passed (3 steps) | 0 failed (4ms)"
    parse: (out) => {
      const m = [
        ...out.matchAll(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g),
      ].at(-1);
      return m && { passed: +m[1], failed: +m[2] };
    },
    // "name => ./test/x_test.ts:12:6" under "FAILURES"
    failures: (out) => out.split(/^ERRORS$/m).at(-1).match(/^.+ => \S+:\d+:\d+$/gm) ?? [],
  },
  {
    name: "bun",
    cmd: bin("bun"),
    // bun applies bunfig's timeout to bun:test only, not to node:test suites.
    args: [
      "test",
      "--timeout",
      "120000",
      ...testFiles("bun").map((f) => `./${f}`),
    ],
    // " 12 pass\n 0 fail"
    parse: (out) => {
      const p = out.match(/^\s*(\d+) pass$/m);
      const f = out.match(/^\s*(\d+) fail$/m);
      return p && { passed: +p[1], failed: f ? +f[1] : 0 };
    },
    failures: (out) => out.match(/^\(fail\) .+$/gm) ?? [],
  },
  {
    name: "node",
    cmd: bin("node"),
    // Node 26 strips TypeScript types by default. The timeout only guards against a hang.
    args: ["--test", "--test-timeout=600000", ...testFiles("node")],
    // spec reporter: "ℹ pass 12\nℹ fail 0"; tap reporter: "# pass 12\n# fail 0"
    parse: (out) => {
      const p = [...out.matchAll(/^(?:ℹ|#) pass (\d+)$/gm)].at(-1);
      const f = [...out.matchAll(/^(?:ℹ|#) fail (\d+)$/gm)].at(-1);
      return p && { passed: +p[1], failed: f ? +f[1] : 0 };
    },
    failures: (out) => out.match(/^\s*✖ (?!failing tests).+$/gm) ?? [],
  },
];

// The redis backend and server tests need local Redis servers (127.0.0.1 only): start them
// unless they already run, and stop them afterwards if this run started them.
const redis = (cmd) =>
  spawnSync("bash", [join(root, "scripts", "redis_servers.sh"), cmd], { encoding: "utf8" });
const redisWasUp = redis("status").stdout.includes("cluster ok");
if (!redisWasUp) {
  const r = redis("start");
  process.stdout.write(r.stdout + r.stderr);
}

let passed = 0;
let failed = 0;
// What failed, repeated at the end: CI keeps only the tail of a long log.
const report = [];
// RUNTIMES=node,bun limits a run to those runtimes (for development; CI runs all three).
const only = process.env.RUNTIMES?.split(",");
for (const run of runs.filter((r) => only === undefined || only.includes(r.name))) {
  // A run given only files another runtime runs (ONCE) has nothing to do.
  if (testFiles(run.name).length === 0) continue;
  console.log(`\n=== ${run.name} ${run.args.join(" ")}`);
  const r = spawnSync(run.cmd, run.args, {
    cwd: root,
    encoding: "utf8",
    env,
    maxBuffer: 256 * 1024 * 1024,
  });
  // deno colours its summary even with NO_COLOR in some modes.
  // deno-lint-ignore no-control-regex
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.replace(/\x1b\[[0-9;]*m/g, "");
  process.stdout.write(out);
  const counts = run.parse(out);
  if (!counts) {
    const line = `${run.name}: no test summary found (exit ${r.status}); counting as 1 failure`;
    console.log(line);
    report.push(line);
    failed += 1;
    continue;
  }
  const names = [...new Set(run.failures(out).map((l) => l.trim()))];
  if (r.status !== 0 && counts.failed === 0) {
    counts.failed = 1;
    // Every test passed yet the runtime failed: its last words say why (a leak, a late error).
    names.push(
      `exit ${r.status} after all tests passed; last output:`,
      ...out.trimEnd().split("\n").slice(-15),
    );
  }
  console.log(`${run.name}: ${counts.passed} passed, ${counts.failed} failed`);
  if (counts.failed > 0) report.push(`${run.name} failed:`, ...names.map((n) => `  ${n}`));
  passed += counts.passed;
  failed += counts.failed;
}
if (!redisWasUp) redis("stop");
if (report.length) console.log(`\n${report.join("\n")}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
