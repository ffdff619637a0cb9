// A small RESP client for the hostile-client tests: raw node:net sockets, a reply parser, a
// latency probe, and a RESP server child process (test/_resp_server.ts) whose RSS can be read.
import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** A decoded reply: status (string), error, integer, bulk (bytes), null, or an array. */
export type Reply = string | { error: string } | number | Uint8Array | null | Reply[];

const enc = new TextEncoder();

/** A multibulk request. */
export function cmd(...args: (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [enc.encode(`*${args.length}\r\n`)];
  for (const a of args) {
    const bytes = typeof a === "string" ? enc.encode(a) : a;
    parts.push(enc.encode(`$${bytes.byteLength}\r\n`), bytes, enc.encode("\r\n"));
  }
  return Buffer.concat(parts);
}

/** The reply starting at `pos` and where it ends, or `undefined` when incomplete. */
export function parseReply(buf: Uint8Array, pos: number): [Reply, number] | undefined {
  if (pos >= buf.byteLength) return undefined;
  const lf = buf.indexOf(10, pos);
  if (lf === -1) return undefined;
  if (buf[lf - 1] !== 13) throw new Error(`reply line not ending in CRLF at ${pos}`);
  const line = Buffer.from(buf.subarray(pos + 1, lf - 1)).toString("latin1");
  const after = lf + 1;
  switch (buf[pos]) {
    case 0x2b: // +
      return [line, after];
    case 0x2d: // -
      return [{ error: line }, after];
    case 0x3a: { // :
      if (!/^-?\d+$/.test(line)) throw new Error(`bad integer reply ${line}`);
      return [Number(line), after];
    }
    case 0x5f: // _ (RESP3 null)
      return [null, after];
    case 0x23: // # (RESP3 boolean)
    case 0x2c: // , (RESP3 double)
    case 0x28: // ( (RESP3 big number)
      return [line, after];
    case 0x3d: // = (RESP3 verbatim string)
    case 0x21: { // ! (RESP3 blob error)
      const len = Number(line);
      if (!Number.isInteger(len) || len < 0) throw new Error(`bad length ${line}`);
      if (after + len + 2 > buf.byteLength) return undefined;
      return [buf.slice(after, after + len), after + len + 2];
    }
    case 0x25: // % (RESP3 map)
    case 0x7e: // ~ (RESP3 set)
    case 0x3e: { // > (RESP3 push)
      const count = Number(line) * (buf[pos] === 0x25 ? 2 : 1);
      if (!Number.isInteger(count) || count < 0) throw new Error(`bad aggregate length ${line}`);
      const items: Reply[] = [];
      let p = after;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, p);
        if (item === undefined) return undefined;
        items.push(item[0]);
        p = item[1];
      }
      return [items, p];
    }
    case 0x24: { // $
      const len = Number(line);
      if (len === -1) return [null, after];
      if (!Number.isInteger(len) || len < 0) throw new Error(`bad bulk length ${line}`);
      if (after + len + 2 > buf.byteLength) return undefined;
      if (buf[after + len] !== 13 || buf[after + len + 1] !== 10) throw new Error("bad bulk end");
      return [buf.slice(after, after + len), after + len + 2];
    }
    case 0x2a: { // *
      const count = Number(line);
      if (count === -1) return [null, after];
      if (!Number.isInteger(count) || count < 0) throw new Error(`bad array length ${line}`);
      const items: Reply[] = [];
      let p = after;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, p);
        if (item === undefined) return undefined;
        items.push(item[0]);
        p = item[1];
      }
      return [items, p];
    }
    default:
      throw new Error(`bad reply type byte ${buf[pos]} at ${pos}`);
  }
}

/** One connection; replies are matched to requests in order. */
export class Client {
  readonly socket: Socket;
  /** Resolves when the server closed the connection (or it failed). */
  readonly closed: Promise<void>;
  #buf: Buffer = Buffer.alloc(0);
  #waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  #ended = false;

  constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.#ended = true;
        for (const w of this.#waiters.splice(0)) w.reject(new Error("connection closed"));
        resolve();
      });
    });
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      this.#buf = this.#buf.byteLength === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      let pos = 0;
      while (this.#waiters.length > 0) {
        const parsed = parseReply(this.#buf, pos);
        if (parsed === undefined) break;
        pos = parsed[1];
        this.#waiters.shift()!.resolve(parsed[0]);
      }
      this.#buf = this.#buf.subarray(pos);
    });
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: "127.0.0.1" });
      socket.setNoDelay(true);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new Client(socket));
      });
    });
  }

  /** Writes raw bytes. */
  send(bytes: Uint8Array | string): void {
    this.socket.write(bytes);
  }

  /** The next reply not yet claimed. */
  next(): Promise<Reply> {
    if (this.#ended) return Promise.reject(new Error("connection closed"));
    const p = new Promise<Reply>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.socket.emit("data", Buffer.alloc(0)); // Parse what is already buffered.
    return p;
  }

  /** Sends one command and waits for its reply. */
  request(...args: (string | Uint8Array)[]): Promise<Reply> {
    this.send(cmd(...args));
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Resolves with `value` after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a fresh client gets PONG for PING within 10 s. */
export async function answersPing(port: number): Promise<boolean> {
  const client = await Client.connect(port);
  try {
    const reply = await Promise.race([client.request("PING"), sleep(10_000).then(() => "timeout")]);
    return reply === "PONG";
  } finally {
    client.close();
  }
}

/** Latencies of a well-behaved client sending PING every few ms until stopped. */
export async function probe(port: number): Promise<{ stop(): Promise<LatencyStats> }> {
  const client = await Client.connect(port);
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      const reply = await client.request("PING");
      if (reply !== "PONG") throw new Error(`probe got ${JSON.stringify(reply)}`);
      times.push(performance.now() - start);
      await sleep(5);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      client.close();
      return stats(times);
    },
  };
}

export interface LatencyStats {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function stats(times: number[]): LatencyStats {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}

/** A RESP server child (test/_resp_server.ts) on the runtime running the tests. */
export interface ServerChild {
  port: number;
  pid: number;
  child: ChildProcess;
  /** What the child printed on stderr so far. */
  stderr(): string;
  /** Whether the child is still running. */
  alive(): boolean;
  /** Resident memory in bytes (VmRSS). */
  rss(): Promise<number>;
  /** Stops the child (closing its stdin) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts the server child with `options`; `maxFiles` runs it under `ulimit -n`. */
export async function startServer(
  options: Record<string, unknown>,
  maxFiles?: number,
): Promise<ServerChild> {
  const file = fileURLToPath(new URL("_resp_server.ts", import.meta.url));
  const g = globalThis as { Deno?: unknown };
  const argv = g.Deno !== undefined
    ? ["run", "-A", "--no-check", file, JSON.stringify(options)]
    : [file, JSON.stringify(options)];
  const child = maxFiles === undefined
    ? spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "pipe"] })
    : spawn(
      "bash",
      ["-c", `ulimit -n ${maxFiles} && exec "$@"`, "bash", process.execPath, ...argv],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
  let out = "";
  let err = "";
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on("exit", () => {
      exited = true;
      resolve();
    })
  );
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (s: string) => err += s);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (s: string) => {
      out += s;
      const m = out.match(/port (\d+)\n/);
      if (m) resolve(Number(m[1]));
    });
    exit.then(() => reject(new Error(`server child exited: ${err}`)));
  });
  return {
    port,
    pid: child.pid!,
    child,
    stderr: () => err,
    alive: () => !exited,
    async rss() {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      const m = status.match(/VmRSS:\s+(\d+) kB/);
      if (!m) throw new Error("no VmRSS in /proc/PID/status");
      return Number(m[1]) * 1024;
    },
    async stop() {
      if (!exited) {
        child.stdin!.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exit;
        clearTimeout(timer);
      }
    },
  };
}
