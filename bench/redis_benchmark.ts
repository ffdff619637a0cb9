/**
 * redis-benchmark against shardkv's RESP server and against a real redis-server, in one run:
 * `redis-benchmark -t set,get -n 100000` with and without `-P 16` (50 clients, the default), for
 * redis-server and for `shardkv serve` on Bun and on Deno (SQLite, 16 shards, and memory).
 * Prints a table with the ratio to redis-server and writes bench/results/redis_benchmark.json.
 *
 * Run: `bun bench/redis_benchmark.ts` or `deno run -A bench/redis_benchmark.ts`
 * (needs redis-server and redis-benchmark on PATH: Debian's redis-server and redis-tools).
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const REQUESTS = 100_000;
const PIPELINES = [1, 16];

interface Target {
  name: string;
  /** Starts the server on `port`; resolves once it accepts commands. */
  start(port: number, dir: string): Promise<ChildProcess>;
}

interface Row {
  target: string;
  pipeline: number;
  setRps: number;
  getRps: number;
  setP50Ms: number;
  getP50Ms: number;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    })
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
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
    // No persistence, like a cache: the most favourable setting for redis-server.
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
        "no",
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
    for (const pipeline of PIPELINES) {
      const args = [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-t",
        "set,get",
        "-n",
        String(REQUESTS),
        "--csv",
      ];
      if (pipeline > 1) args.push("-P", String(pipeline));
      const results = parseCsv(await run("redis-benchmark", args));
      const set = results.get("SET")!;
      const get = results.get("GET")!;
      rows.push({
        target: target.name,
        pipeline,
        setRps: set.rps,
        getRps: get.rps,
        setP50Ms: set.p50,
        getP50Ms: get.p50,
      });
      console.error(`${target.name} -P ${pipeline}: SET ${set.rps} GET ${get.rps} req/s`);
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
];
const rows: Row[] = [];
for (const target of targets) rows.push(...(await measure(target)));

const baseline = (pipeline: number): Row =>
  rows.find((r) => r.target === "redis-server" && r.pipeline === pipeline)!;
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const lines = [
  `redis-benchmark -t set,get -n ${REQUESTS} (50 clients), req/s; ratio = shardkv / redis-server`,
  "",
  "| server | -P | SET req/s | GET req/s | SET p50 ms | GET p50 ms | SET ratio | GET ratio |",
  "|---|---:|---:|---:|---:|---:|---:|---:|",
  ...rows.map((r) => {
    const b = baseline(r.pipeline);
    return `| ${r.target} | ${r.pipeline} | ${fmt(r.setRps)} | ${
      fmt(r.getRps)
    } | ${r.setP50Ms} | ${r.getP50Ms} | ${ratio(r.setRps, b.setRps)} | ${
      ratio(r.getRps, b.getRps)
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
        command: `redis-benchmark -t set,get -n ${REQUESTS} [-P 16]`,
        clients: 50,
        redis: redisVersion,
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        notes:
          "redis-server without persistence; shardkv sqlite: 16 shards, durability normal (WAL, " +
          "synchronous=NORMAL). Without -r every request uses the one key key:__rand_int__.",
        rows,
        table: lines.join("\n"),
      },
      null,
      2,
    )
  }\n`,
);
console.error(`wrote ${outFile}`);
