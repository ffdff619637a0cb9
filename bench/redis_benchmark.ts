/**
 * redis-benchmark against shardkv's RESP server and against a real redis-server, in one run, with
 * issue 15's two runs: `-t set,get -c 10 -n 200000 -r 10000` and
 * `-t set,get -c 50 -n 500000 -r 100000 -P 16`, for redis-server (`appendonly yes`,
 * `appendfsync everysec`) and for `shardkv serve` on Bun and on Deno (SQLite, default options;
 * and memory). Prints a table with the ratio to redis-server (targets: `-c 10` SET >= 0.5x,
 * GET >= 0.8x; `-P 16` SET >= 0.25x, GET >= 0.3x) and writes bench/results/redis_benchmark.json.
 *
 * It also prints the server process's CPU time per request (user + system, all its threads, from
 * /proc on Linux): on a machine shared with other work, req/s mostly measures how much CPU the
 * benchmark got, while CPU per request still compares the servers' costs.
 *
 * Run: `bun bench/redis_benchmark.ts [--quick]` or `deno run -A bench/redis_benchmark.ts`
 * (needs redis-server and redis-benchmark on PATH: Debian's redis-server and redis-tools).
 * `--quick` divides the request counts by 10; `--only=bun` runs redis-server and Bun only.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { freePort } from "./_common.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const QUICK = process.argv.includes("--quick");
const ONLY = process.argv.find((a) => a.startsWith("--only="))?.slice(7);
const SCALE = QUICK ? 10 : 1;

/** The runs of issue 15: clients, requests, key space, pipeline. */
const RUNS = [
  { clients: 10, requests: 200_000 / SCALE, keyspace: 10_000, pipeline: 1 },
  { clients: 50, requests: 500_000 / SCALE, keyspace: 100_000, pipeline: 16 },
];
type Run = (typeof RUNS)[number];
const label = (r: Run): string =>
  `-c ${r.clients} -n ${r.requests} -r ${r.keyspace}${r.pipeline > 1 ? ` -P ${r.pipeline}` : ""}`;

interface Target {
  name: string;
  /** Starts the server on `port`; resolves once it accepts commands. */
  start(port: number, dir: string): Promise<ChildProcess>;
}

interface Row {
  target: string;
  run: string;
  setRps: number;
  getRps: number;
  setP50Ms: number;
  getP50Ms: number;
  /** The server's CPU time per request (µs), NaN where /proc is not available. */
  setCpuUs: number;
  getCpuUs: number;
}

/** CPU seconds (user + system, every thread) the process `pid` used so far; NaN without /proc. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    })
  );
}

/** Polls PING until the server on `port` answers (10 s at most). */
async function ready(port: number, child: ChildProcess): Promise<ChildProcess> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server on ${port} exited with ${child.exitCode}`);
    const pong = await run("redis-cli", ["-p", String(port), "PING"]).catch(() => "");
    if (pong.trim() === "PONG") return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no server answered on port ${port}`);
}

function shardkv(runtime: "bun" | "deno", backend: "sqlite" | "memory"): Target {
  return {
    name: `shardkv ${runtime} ${backend}`,
    start(port, dir) {
      const bin = join(ROOT, "node_modules", ".bin", runtime);
      const script = join(ROOT, "cli", "mod.ts");
      const args = ["serve", "--dir", dir, "--port", String(port), "--backend", backend];
      const child = spawn(
        bin,
        runtime === "deno" ? ["run", "-A", script, ...args] : [script, ...args],
        {
          stdio: "ignore",
        },
      );
      return ready(port, child);
    },
  };
}

const redisServer: Target = {
  name: "redis-server",
  start(port, dir) {
    // Issue 15's setting: an append-only file fsynced every second.
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--dir",
        dir,
      ],
      { stdio: "ignore" },
    );
    return ready(port, child);
  },
};

/** `redis-benchmark --csv` lines: "SET","rps","avg","min","p50",... */
function parseCsv(csv: string): Map<string, { rps: number; p50: number }> {
  const out = new Map<string, { rps: number; p50: number }>();
  for (const line of csv.trim().split("\n").slice(1)) {
    const cells = line.split(",").map((c) => c.replaceAll('"', ""));
    out.set(cells[0], { rps: Number(cells[1]), p50: Number(cells[4]) });
  }
  return out;
}

async function measure(target: Target): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), "shardkv-rb-"));
  const port = await freePort();
  const server = await target.start(port, dir);
  try {
    const rows: Row[] = [];
    for (const r of RUNS) {
      const results = new Map<string, { rps: number; p50: number; cpuUs: number }>();
      for (const test of ["set", "get"]) {
        const args = [
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "-t",
          test,
          "-c",
          String(r.clients),
          "-n",
          String(r.requests),
          "-r",
          String(r.keyspace),
          "--csv",
        ];
        if (r.pipeline > 1) args.push("-P", String(r.pipeline));
        const before = await cpuSeconds(server.pid);
        const [result] = parseCsv(await run("redis-benchmark", args)).values();
        const cpuUs = (await cpuSeconds(server.pid) - before) * 1e6 / r.requests;
        results.set(test, { ...result, cpuUs });
      }
      const set = results.get("set")!;
      const get = results.get("get")!;
      rows.push({
        target: target.name,
        run: label(r),
        setRps: set.rps,
        getRps: get.rps,
        setP50Ms: set.p50,
        getP50Ms: get.p50,
        setCpuUs: set.cpuUs,
        getCpuUs: get.cpuUs,
      });
      console.error(
        `${target.name} ${label(r)}: SET ${set.rps} GET ${get.rps} req/s, server CPU ` +
          `${set.cpuUs.toFixed(1)} / ${get.cpuUs.toFixed(1)} µs per request`,
      );
    }
    return rows;
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.exitCode !== null ? r(null) : server.once("exit", r));
    await rm(dir, { recursive: true, force: true });
  }
}

const targets = [
  redisServer,
  shardkv("bun", "sqlite"),
  shardkv("deno", "sqlite"),
  shardkv("bun", "memory"),
  shardkv("deno", "memory"),
].filter((t) => ONLY === undefined || t === redisServer || t.name.includes(ONLY));
const rows: Row[] = [];
for (const target of targets) rows.push(...(await measure(target)));

const baseline = (run: string): Row =>
  rows.find((r) => r.target === "redis-server" && r.run === run)!;
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const cpu = (us: number): string => Number.isNaN(us) ? "n/a" : us.toFixed(1);
const lines = [
  `redis-benchmark, req/s; ratio = shardkv / redis-server (appendonly yes, everysec); ` +
  `CPU = the server's CPU time per request (µs; user + system, all threads)`,
  "",
  "| server | run | SET req/s | GET req/s | SET p50 ms | GET p50 ms | SET ratio | GET ratio | " +
  "SET CPU µs | GET CPU µs | SET CPU ratio | GET CPU ratio |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...rows.map((r) => {
    const b = baseline(r.run);
    return `| ${r.target} | ${r.run} | ${fmt(r.setRps)} | ${
      fmt(r.getRps)
    } | ${r.setP50Ms} | ${r.getP50Ms} | ${ratio(r.setRps, b.setRps)} | ${
      ratio(r.getRps, b.getRps)
    } | ${cpu(r.setCpuUs)} | ${cpu(r.getCpuUs)} | ${ratio(b.setCpuUs, r.setCpuUs)} | ${
      ratio(b.getCpuUs, r.getCpuUs)
    } |`;
  }),
];
console.log(lines.join("\n"));

const redisVersion = (await run("redis-server", ["--version"])).trim();
const outFile = join(ROOT, "bench", "results", "redis_benchmark.json");
await mkdir(dirname(outFile), { recursive: true });
await writeFile(
  outFile,
  `${
    JSON.stringify(
      {
        date: new Date().toISOString(),
        command: RUNS.map((r) => `redis-benchmark -t set (then -t get) ${label(r)}`),
        redis: redisVersion,
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        notes:
          "redis-server with appendonly yes, appendfsync everysec; shardkv serve with default " +
          "options (sqlite: WAL, synchronous=NORMAL). Shared, loaded machine: ratios are indicative. " +
          "CPU ratio = redis-server's CPU per request / shardkv's (higher is better, like req/s).",
        rows,
        table: lines.join("\n"),
      },
      null,
      2,
    )
  }\n`,
);
console.error(`wrote ${outFile}`);
