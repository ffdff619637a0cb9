// Spawning a script on a runtime (Deno, Bun or Node, from node_modules/.bin), for the tests of
// the examples and the CLI. The suite runs once per runtime (scripts/test.mjs), and each run
// spawns its own runtime (CURRENT), so every example and command runs on all three.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** Options of a test that runs child processes: on a loaded machine they can outlast Bun's 5 s
 * default timeout (bunfig.toml's `[test] timeout` does not reach node:test tests). */
export const SLOW: { timeout: number } = { timeout: 120_000 };

const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);

/** Command and arguments that run `file` (relative to the repo root) on each runtime. */
export const RUNTIMES: Record<"deno" | "bun" | "node", (file: string) => [string, string[]]> = {
  deno: (file) => [bin("deno"), ["run", "-A", "--no-check", join(ROOT, file)]],
  bun: (file) => [bin("bun"), [join(ROOT, file)]],
  node: (file) => [bin("node"), [join(ROOT, file)]],
};

/** The runtime running the tests. */
export const CURRENT: keyof typeof RUNTIMES = "Deno" in globalThis
  ? "deno"
  : "Bun" in globalThis
  ? "bun"
  : "node";

/** What a finished run printed, and its exit code. */
export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs `file` with `args` on `runtime`, feeding `input` on stdin. Never rejects on exit codes. */
export function runOn(
  runtime: keyof typeof RUNTIMES,
  file: string,
  args: readonly string[] = [],
  input?: Uint8Array | string,
): Promise<RunResult> {
  const [cmd, argv] = RUNTIMES[runtime](file);
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...argv, ...args],
      { cwd: ROOT, timeout: 60_000, encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : undefined;
        if (code === undefined) reject(err);
        else resolve({ code, stdout, stderr: stderr.toString("utf8") });
      },
    );
    child.stdin!.end(input);
  });
}

/** A long-running child whose `stream` output is collected. */
export interface Started {
  child: ChildProcess;
  /** Everything the watched stream printed so far. */
  output(): string;
  /** Waits (up to 10 s) until the output matches `pattern`. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The exit code once the child exits. */
  exited: Promise<number | null>;
}

/** Starts `file` with `args` on `runtime`, watching its stdout or stderr. */
export function startOn(
  runtime: keyof typeof RUNTIMES,
  file: string,
  args: readonly string[],
  stream: "stdout" | "stderr",
): Started {
  const [cmd, argv] = RUNTIMES[runtime](file);
  const child = spawn(cmd, [...argv, ...args], { cwd: ROOT });
  let out = "";
  child[stream].setEncoding("utf8");
  child[stream].on("data", (s: string) => out += s);
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return {
    child,
    output: () => out,
    exited,
    async waitFor(pattern) {
      for (let i = 0; i < 1000; i++) {
        const m = out.match(pattern);
        if (m) return m;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`${runtime} ${file}: no ${pattern} in ${JSON.stringify(out)}`);
    },
  };
}
