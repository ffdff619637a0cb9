// Shared test helpers: temp dirs, a manual clock, byte helpers and spawning a child process
// on the runtime that runs the tests (Deno spawns deno, Bun spawns bun).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Keys of one crash-test batch: enough to span every shard of a 16-shard store. */
export const BATCH_KEYS = 24;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function enc(s: string): Uint8Array {
  return encoder.encode(s);
}

export function dec(b: Uint8Array | undefined): string | undefined {
  return b === undefined ? undefined : decoder.decode(b);
}

/** Runs `fn` with a fresh temp directory that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "shardkv-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts `test/<script>` with `args` on the current runtime, stdout (and stdin if asked) piped. */
export function spawnChild(
  script: string,
  args: readonly string[],
  options: { stdin?: boolean } = {},
): ChildProcess {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const onDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  const argv = onDeno ? ["run", "-A", "--no-check", file, ...args] : [file, ...args];
  return spawn(process.execPath, argv, {
    stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
  });
}

/** Collects a child's stdout as complete lines; `onLine` sees each as it arrives. */
export function readLines(
  child: ChildProcess,
  onLine: (line: string) => void,
): Promise<number | null> {
  let pending = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      onLine(line);
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code !== 0 && signal !== "SIGKILL") {
        reject(new Error(`child exited with ${code ?? signal}: ${stderr.slice(-2000)}`));
      } else resolve(code);
    });
  });
}

/** Seeded PRNG (mulberry32): the same seed gives the same sequence on every runtime. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A manual clock for TTL tests. */
export class Clock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A fresh temp directory and its disposer. */
export async function tempDir(label: string): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `shardkv-${label}-`));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** UTF-8 byte comparison, the reference order for keys. */
export function byteOrder(a: string, b: string): number {
  const x = enc(a);
  const y = enc(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
