/**
 * A well-behaved client's PING latency while four clients each send one 1,000,000-argument DEL
 * (issue 16's goal: p99 <= 50 ms on every runtime). Unlike the hostile test, the server, the
 * attackers and the probing client are three processes, so the figures are the server's alone:
 * the server runs `shardkv serve --backend memory` on the runtime given, the attackers run in a
 * child process of the runtime running this script, and this process only sends PING every 5 ms.
 *
 * Run: `bun bench/resp_attack_latency.ts [--server=deno|bun|node] [--rounds=5]` (or with
 * `deno run -A`). Prints each round's PING p50 / p99 / max and the median of the rounds.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { freePort } from "./_common.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SELF = fileURLToPath(import.meta.url);
const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** The command line that runs `script` on `runtime`. */
function command(runtime: string, script: string, args: string[]): [string, string[]] {
  const bin = runtime === "node"
    ? join(ROOT, "node_modules", ".bin", "node")
    : join(ROOT, "node_modules", ".bin", runtime);
  return [bin, runtime === "deno" ? ["run", "-A", script, ...args] : [script, ...args]];
}

/** The runtime running this script. */
function currentRuntime(): string {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  return g.Bun !== undefined ? "bun" : g.Deno !== undefined ? "deno" : "node";
}

/** Resolves once `socket` has received `count` complete integer replies (`:n\r\n`). */
function replies(socket: Socket, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    socket.on("data", (chunk: Uint8Array) => {
      for (const b of chunk) if (b === 0x0a && ++seen === count) resolve();
    });
  });
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

/** Attacker mode: for each line on stdin, four clients send one 1M-argument DEL each. */
async function attacker(port: number): Promise<void> {
  const parts = ["*1000001\r\n$3\r\nDEL\r\n"];
  for (let i = 0; i < 1_000_000; i++) parts.push(`$${`x${i}`.length}\r\nx${i}\r\n`);
  const request = new TextEncoder().encode(parts.join(""));
  process.stdout.write("ready\n");
  for await (const _ of process.stdin) {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connected(port)));
    await Promise.all(clients.map((c) => {
      const done = replies(c, 1);
      c.write(request);
      return done;
    }));
    for (const c of clients) c.destroy();
    process.stdout.write("done\n");
  }
}

/** The next line `child` prints on stdout. */
function line(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    const onData = (s: string) => {
      child.stdout!.off("data", onData);
      resolve(s.trim());
    };
    child.stdout!.on("data", onData);
  });
}

async function pingUntil(port: number, done: Promise<unknown>): Promise<number[]> {
  const socket = await connected(port);
  const times: number[] = [];
  let over = false;
  done.then(() => over = true);
  while (!over) {
    const start = performance.now();
    await new Promise<void>((resolve) => {
      socket.once("data", () => resolve());
      socket.write("PING\r\n");
    });
    times.push(performance.now() - start);
    await new Promise((r) => setTimeout(r, 5));
  }
  socket.destroy();
  return times;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main(): Promise<void> {
  const runtime = arg("server") ?? "deno";
  const rounds = Number(arg("rounds") ?? 5);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "shardkv-attack-"));
  const [bin, args] = command(runtime, join(ROOT, "cli", "mod.ts"), [
    "serve",
    "--dir",
    dir,
    "--port",
    String(port),
    "--backend",
    "memory",
  ]);
  const server = spawn(bin, args, { stdio: "ignore" });
  const [abin, aargs] = command(currentRuntime(), SELF, [`--attack=${port}`]);
  let attack: ChildProcess | undefined;
  try {
    for (let i = 0; i < 200; i++) {
      const ok = await connected(port).then((s) => (s.destroy(), true), () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    attack = spawn(abin, aargs, { stdio: ["pipe", "pipe", "inherit"] });
    attack.stdout!.setEncoding("utf8");
    await line(attack);
    const p99s: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const finished = line(attack);
      attack.stdin!.write("go\n");
      const times = (await pingUntil(port, finished)).sort((a, b) => a - b);
      p99s.push(quantile(times, 0.99));
      console.log(
        `${runtime} round ${r + 1}: PING p50 ${quantile(times, 0.5).toFixed(1)} ms, p99 ${
          quantile(times, 0.99).toFixed(1)
        } ms, max ${times.at(-1)!.toFixed(1)} ms (${times.length} pings)`,
      );
    }
    p99s.sort((a, b) => a - b);
    console.log(
      `${runtime}: median p99 ${quantile(p99s, 0.5).toFixed(1)} ms over ${rounds} rounds`,
    );
  } finally {
    attack?.kill();
    server.kill("SIGTERM");
    await new Promise((r) => server.exitCode !== null ? r(null) : server.once("exit", r));
    await rm(dir, { recursive: true, force: true });
  }
}

const attackPort = arg("attack");
if (attackPort !== undefined) await attacker(Number(attackPort));
else await main();
