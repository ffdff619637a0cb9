// Shared by the benchmarks: runtime and machine description, argument parsing, latency
// recording and percentiles. Runs on Bun and Deno through node: modules only.
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

interface RuntimeGlobals {
  Bun?: { version: string };
  Deno?: { version: { deno: string; v8: string } };
}

/** `"bun"` or `"deno"`. */
export function runtimeName(): "bun" | "deno" {
  return (globalThis as RuntimeGlobals).Bun !== undefined ? "bun" : "deno";
}

/** Runtime name and version, e.g. `"bun 1.4.5"`. */
export function runtimeVersion(): string {
  const g = globalThis as RuntimeGlobals;
  if (g.Bun !== undefined) return `bun ${g.Bun.version}`;
  return `deno ${g.Deno!.version.deno} (v8 ${g.Deno!.version.v8})`;
}

/** What the results were measured on. */
export interface Machine {
  cpu: string;
  cores: number;
  memory: string;
  disk: string;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    const m = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m);
    if (m) cpu = m[1];
  } catch { /* not Linux */ }
  let cores = cpus().length;
  let disk = "unknown";
  try {
    cores = Number(execSync("nproc", { encoding: "utf8" }).trim()) || cores;
    disk = execSync(`df -h --output=fstype,size ${tmpdir()} | tail -1`, { encoding: "utf8" })
      .trim().replace(/\s+/g, " ");
  } catch { /* no coreutils */ }
  return { cpu, cores, memory: `${Math.round(totalmem() / 2 ** 30)} GiB`, disk };
}

/** `--name value` / `--flag` arguments. */
export function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const [name, inline] = a.slice(2).split("=", 2);
    if (inline !== undefined) out.set(name, inline);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) out.set(name, argv[++i]);
    else out.set(name, "true");
  }
  return out;
}

export function args(): Map<string, string> {
  return parseArgs(process.argv.slice(2));
}

/** A temp directory for one benchmark store, removed by `dispose`. */
export async function benchDir(label: string): Promise<{ dir: string; dispose(): Promise<void> }> {
  const base = process.env.SHARDKV_BENCH_DIR ?? tmpdir();
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, `shardkv-bench-${label}-`));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** Per-operation latencies in ms, kept in one preallocated buffer (samples past it are dropped). */
export class Latencies {
  #buf: Float64Array;
  #n = 0;
  constructor(capacity = 1 << 22) {
    this.#buf = new Float64Array(capacity);
  }
  add(ms: number): void {
    if (this.#n < this.#buf.length) this.#buf[this.#n++] = ms;
  }
  reset(): void {
    this.#n = 0;
  }
  /** p50, p99 and p99.9 in microseconds. */
  percentiles(): { p50: number; p99: number; p999: number } {
    const s = this.#buf.slice(0, this.#n).sort();
    const at = (q: number) =>
      s.length === 0 ? NaN : round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 1000, 1);
    return { p50: at(0.5), p99: at(0.99), p999: at(0.999) };
  }
}

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Resident set size of this process in bytes. */
export function rss(): number {
  return process.memoryUsage().rss;
}

/** Runs a full GC where the runtime exposes one. */
export function gc(): void {
  const g = globalThis as { Bun?: { gc(force: boolean): void }; gc?: () => void };
  if (g.Bun !== undefined) g.Bun.gc(true);
  else g.gc?.();
}

/** The 1-minute load average: other work on the machine shows up here. */
export function load1(): number {
  return round(loadavg()[0], 2);
}

/**
 * Writes `bench/results/<name>.json`: the run's fields plus the load average from `loadStart`
 * to now, the runtime version and the machine.
 */
export async function writeResults(
  name: string,
  run: { loadStart: number } & Record<string, unknown>,
): Promise<void> {
  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  await mkdir(dir, { recursive: true });
  const out = `${dir}${name}.json`;
  const { loadStart, ...fields } = run;
  const doc = {
    ...fields,
    load: [loadStart, load1()],
    runtime: runtimeVersion(),
    machine: machine(),
  };
  await writeFile(out, JSON.stringify(doc, null, 1) + "\n");
  console.error(`wrote ${out}`);
}

/** What `driveWorkers` measured. */
export interface DriveResult {
  opsPerSec: number;
  ops: number;
  errors: number;
}

/**
 * Runs `op` from `concurrency` async workers (closed loop) for `ms` after a warm-up of
 * min(1 s, ms / 4); every call of the measured phase is timed on its own into `lat`.
 */
export async function driveWorkers(
  concurrency: number,
  ms: number,
  op: (worker: number, n: number) => Promise<unknown>,
  lat: Latencies = new Latencies(1),
): Promise<DriveResult> {
  const counters = Array.from({ length: concurrency }, () => 0);
  const phase = async (phaseMs: number, record: boolean) => {
    let stop = false;
    let ops = 0;
    let errors = 0;
    const t0 = performance.now();
    const deadline = t0 + phaseMs;
    const worker = async (w: number) => {
      while (!stop) {
        const s = performance.now();
        try {
          await op(w, counters[w]++);
          ops++;
        } catch {
          errors++;
        }
        const e = performance.now();
        if (record) lat.add(e - s);
        if (e >= deadline) stop = true;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    return { ops, errors, secs: (performance.now() - t0) / 1000 };
  };
  await phase(Math.min(1000, ms / 4), false);
  lat.reset();
  const r = await phase(ms, true);
  return { opsPerSec: Math.round(r.ops / r.secs), ops: r.ops, errors: r.errors };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a server a benchmark starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
