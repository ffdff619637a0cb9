// Differential tests: the same command sequences go to Debian's redis-server (started here on a
// free port, no persistence) and to shardkv's server (memory and SQLite stores), over raw RESP;
// every reply must be byte for byte the same, except where a normalisation below says why not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { connect, createServer, type Socket } from "node:net";
import process from "node:process";
import { openStore, type Store } from "../mod.ts";
import { serveResp } from "../server/mod.ts";
import { withTempDir } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The length of the first complete RESP reply in `buf`, or -1 when it is not complete yet. */
function replyEnd(buf: Buffer, at = 0): number {
  if (at >= buf.length) return -1;
  const lf = buf.indexOf(10, at);
  if (lf === -1) return -1;
  const type = String.fromCharCode(buf[at]);
  const head = buf.toString("latin1", at + 1, lf - 1);
  if ("+-:_,#(".includes(type)) return lf + 1;
  if (type === "$" || type === "=" || type === "!") {
    const n = Number(head);
    if (n < 0) return lf + 1;
    return buf.length >= lf + 1 + n + 2 ? lf + 1 + n + 2 : -1;
  }
  if (type === "*" || type === "%" || type === "~" || type === ">") {
    let n = Number(head);
    if (n < 0) return lf + 1;
    if (type === "%") n *= 2;
    let end = lf + 1;
    for (let i = 0; i < n; i++) {
      end = replyEnd(buf, end);
      if (end === -1) return -1;
    }
    return end;
  }
  throw new Error(`bad reply type ${type}`);
}

/** A raw RESP connection: `send` writes one command and resolves with its reply bytes. */
class RawClient {
  #socket: Socket;
  #buf = Buffer.alloc(0);
  #waiting: ((b: Buffer) => void)[] = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      for (;;) {
        const end = this.#waiting.length === 0 ? -1 : replyEnd(this.#buf);
        if (end === -1) break;
        const reply = this.#buf.subarray(0, end);
        this.#buf = this.#buf.subarray(end);
        this.#waiting.shift()!(reply);
      }
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  send(args: (string | Uint8Array)[]): Promise<string> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = typeof a === "string" ? Buffer.from(a) : Buffer.from(a);
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${args.join(" ")}`)), 10_000);
      this.#waiting.push((b) => {
        clearTimeout(timer);
        resolve(b.toString("latin1"));
      });
      this.#socket.write(Buffer.concat(parts));
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Starts redis-server on a free port; resolves when it answers. */
async function startRedis(...extra: string[]): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    ...extra,
  ], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    try {
      const c = await RawClient.open(port);
      await c.send(["ECHO", "up"]);
      c.close();
      return { port, proc };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  proc.kill();
  throw new Error("redis-server did not start");
}

/**
 * Replies that cannot match byte for byte, made comparable. Each is listed in the README's
 * "Differences from Redis" or is inherently variable:
 * - KEYS, and SCAN's last page: the order is Redis's hash order vs shardkv's key order: compared
 *   sorted.
 * - PTTL/PEXPIRETIME/TIME: clocks: compared by shape.
 * - RANDOMKEY: any key: compared by type (null or bulk).
 * - CONFIG GET of several parameters: Redis's order is its dict's: compared sorted.
 */
function normalise(args: (string | Uint8Array)[], reply: string): string {
  const name = String(args[0]).toUpperCase();
  if (name === "KEYS" && reply.startsWith("*")) {
    const items = reply.split("\r\n").slice(1, -1);
    const keys: string[] = [];
    for (let i = 1; i < items.length; i += 2) keys.push(items[i]);
    return `KEYS ${JSON.stringify(keys.sort())}`;
  }
  if (name === "SCAN" && /^[*]2\r\n\$1\r\n0\r\n/.test(reply)) {
    const items = reply.split("\r\n").slice(4, -1);
    const keys: string[] = [];
    for (let i = 1; i < items.length; i += 2) keys.push(items[i]);
    return `SCAN 0 ${JSON.stringify(keys.sort())}`;
  }
  if ((name === "PTTL" || name === "PEXPIRETIME") && /^:\d{3,}/.test(reply)) return ":<ms>";
  if (name === "TIME") return reply.replace(/\d+/g, "n");
  if (name === "RANDOMKEY") return reply.startsWith("$-1") ? reply : "$<key>";
  if (name === "HELLO") return reply.replace(/(\$2\r\nid\r\n):\d+/, "$1:<id>");
  if (name === "CONFIG" && String(args[1]).toUpperCase() === "GET" && args.length > 3) {
    // Redis answers in its dict's (per-process random) order.
    const items = reply.split("\r\n").slice(1, -1);
    const pairs: string[] = [];
    for (let i = 0; i + 3 < items.length; i += 4) pairs.push(items.slice(i, i + 4).join("\n"));
    return `CONFIG GET ${JSON.stringify(pairs.sort())}`;
  }
  if (name === "CLIENT" && String(args[1]).toUpperCase() === "ID") {
    return reply.replace(/\d+/, "<id>");
  }
  return reply;
}

const NOW_S = () => Math.floor(Date.now() / 1000);

/** Hand-written edge cases per command. Each list starts on an empty db 0. */
function cases(): (string | Uint8Array)[][][] {
  const big = "9223372036854775807";
  const inFuture = String(NOW_S() + 1000);
  // More keys than one chunk (1024) of a multi-key command, with repeats across chunks.
  const many = Array.from({ length: 2500 }, (_, i) => `m${i % 2100}`);
  const pairs = many.slice(0, 2100).flatMap((k, i) => [k, `v${i}`]);
  return [
    // Multi-key commands over several chunks
    [
      ["MSET", ...pairs],
      ["EXISTS", ...many],
      ["MGET", ...many.slice(2000)],
      ["MSETNX", ...pairs],
      ["TOUCH", ...many],
      ["DEL", ...many],
      ["UNLINK", ...many],
      ["MSETNX", ...pairs],
      ["DBSIZE"],
      ["UNLINK", ...many, "m5"],
      ["EXISTS", ...many],
    ],
    // The unknown-command error's argument echo: Redis cuts it near 128 bytes
    [
      ["NOSUCH", ...Array.from({ length: 3000 }, (_, i) => `arg${i}`)],
      ["NOSUCH", "a".repeat(200), "b", "c"],
      ["NOSUCH", "x".repeat(125), "yy", "z"],
      ["NOSUCH", "x".repeat(126), "yy", "z"],
      ["NOSUCH", "b".repeat(50), "c".repeat(100), "d"],
      ["NO".repeat(100), "b", "c"],
      ["NOSUCH", "x\r\ny", "x\0y", "é"],
      ["NOSUCH"],
      ["GET", "a", "b", "c".repeat(300)],
    ],
    // SET and its options
    [
      ["SET", "k", "v"],
      ["SET", "k", "v2", "NX"],
      ["SET", "k", "v3", "XX"],
      ["GET", "k"],
      ["SET", "n", "v", "XX"],
      ["SET", "k", "v", "NX", "XX"],
      ["SET", "k", "v", "XX", "NX"],
      ["SET", "k", "v", "EX", "10", "PX", "100"],
      ["SET", "k", "v", "EX"],
      ["SET", "k", "v", "EX", "0"],
      ["SET", "k", "v", "EX", "-5"],
      ["SET", "k", "v", "EX", "abc"],
      ["SET", "k", "v", "EX", "1.5"],
      ["SET", "foo", "bar", "EX", "10000000000000000"],
      ["SET", "k", "v", "PX", big],
      ["SET", "k", "v", "EXAT", big],
      ["SET", "k", "v", "KEEPTTL", "EX", "5"],
      ["SET", "k", "v", "GET"],
      ["SET", "k", "w", "NX", "GET"],
      ["SET", "z", "w", "XX", "GET"],
      ["SET", "k", "v", "EX", "100"],
      ["TTL", "k"],
      ["SET", "k", "v2", "KEEPTTL"],
      ["TTL", "k"],
      ["SET", "k", "v3"],
      ["TTL", "k"],
      ["SET", "k", "v", "EXAT", inFuture],
      ["TTL", "k"],
      ["SET", "k", "v", "PXAT", "1"],
      ["GET", "k"],
      ["SET", "k", "v", "BOGUS"],
      ["SET", "k", "v", "get", "get"],
      ["SET", "k", "v", "EX", "5", "EX", "6"],
      ["TTL", "k"],
      ["SET", "k", "v", "PERSIST"],
    ],
    // SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX, MSET, MSETNX, MGET
    [
      ["SETNX", "a", "1"],
      ["SETNX", "a", "2"],
      ["GET", "a"],
      ["SETEX", "b", "100", "x"],
      ["TTL", "b"],
      ["SETEX", "b", "0", "x"],
      ["SETEX", "b", "-1", "x"],
      ["SETEX", "b", "x", "x"],
      ["PSETEX", "c", "100000", "y"],
      ["TTL", "c"],
      ["PSETEX", "c", "0", "y"],
      ["SETEX", "b", "9223372036854775", "x"],
      ["GETSET", "b", "new"],
      ["TTL", "b"],
      ["GETSET", "zz", "v"],
      ["GETDEL", "b"],
      ["GETDEL", "b"],
      ["EXISTS", "b"],
      ["GETEX", "a"],
      ["GETEX", "a", "EX", "100"],
      ["TTL", "a"],
      ["GETEX", "a", "PERSIST"],
      ["TTL", "a"],
      ["GETEX", "a", "EX", "0"],
      ["GETEX", "a", "EX", "10", "PERSIST"],
      ["GETEX", "a", "NX"],
      ["GETEX", "missing", "EX", "10"],
      ["GETEX", "a", "PXAT", "1"],
      ["EXISTS", "a"],
      ["MSET", "a", "1", "b", "2"],
      ["MSET", "a"],
      ["MSET", "a", "1", "b"],
      ["MGET", "a", "b", "nope"],
      ["MSETNX", "x", "1", "a", "9"],
      ["MSETNX", "x", "1", "y", "2"],
      ["MGET", "x", "y", "a"],
      ["MSETNX", "x"],
    ],
    // APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE
    [
      ["APPEND", "s", "hello"],
      ["APPEND", "s", " world"],
      ["STRLEN", "s"],
      ["STRLEN", "none"],
      ["GETRANGE", "s", "0", "4"],
      ["GETRANGE", "s", "-5", "-1"],
      ["GETRANGE", "s", "-1", "-5"],
      ["GETRANGE", "s", "5", "3"],
      ["GETRANGE", "s", "0", "-100"],
      ["GETRANGE", "s", "-100", "100"],
      ["GETRANGE", "s", big, big],
      ["GETRANGE", "s", "-" + big, "2"],
      ["GETRANGE", "none", "0", "5"],
      ["GETRANGE", "s", "a", "1"],
      ["SUBSTR", "s", "1", "3"],
      ["SETRANGE", "s", "6", "WORLD"],
      ["GET", "s"],
      ["SETRANGE", "s", "20", "!"],
      ["GET", "s"],
      ["SETRANGE", "n", "0", ""],
      ["EXISTS", "n"],
      ["SETRANGE", "n", "3", "x"],
      ["GET", "n"],
      ["SETRANGE", "s", "-1", "x"],
      ["SETRANGE", "s", "x", "x"],
      ["SETRANGE", "s", "0", ""],
      ["SETRANGE", "s", "536870912", "x"],
      ["SET", "t", "abc", "EX", "100"],
      ["APPEND", "t", "d"],
      ["TTL", "t"],
      ["SETRANGE", "t", "0", "X"],
      ["TTL", "t"],
    ],
    // GETBIT, SETBIT, BITCOUNT
    [
      ["SETBIT", "b", "7", "1"],
      ["GET", "b"],
      ["SETBIT", "b", "7", "0"],
      ["SETBIT", "b", "100", "1"],
      ["STRLEN", "b"],
      ["GETBIT", "b", "100"],
      ["GETBIT", "b", "1000"],
      ["GETBIT", "none", "0"],
      ["SETBIT", "b", "-1", "1"],
      ["SETBIT", "b", "1", "2"],
      ["SETBIT", "b", "1", "x"],
      ["SETBIT", "b", "4294967296", "1"],
      ["GETBIT", "b", "x"],
      ["SET", "f", "foobar"],
      ["BITCOUNT", "f"],
      ["BITCOUNT", "f", "0", "0"],
      ["BITCOUNT", "f", "1", "1"],
      ["BITCOUNT", "f", "1", "-2"],
      ["BITCOUNT", "f", "5", "30", "BIT"],
      ["BITCOUNT", "f", "-3", "-1", "BIT"],
      ["BITCOUNT", "f", "0", "1", "BYTE"],
      ["BITCOUNT", "f", "0", "1", "BITS"],
      ["BITCOUNT", "f", "0"],
      ["BITCOUNT", "f", "x", "1"],
      ["BITCOUNT", "none"],
      ["BITCOUNT", "f", "-1", "-3"],
      ["BITCOUNT", "f", "0", "-1", "BIT"],
    ],
    // INCR family and INCRBYFLOAT, with 64-bit limits
    [
      ["INCR", "n"],
      ["INCRBY", "n", "9007199254740993"],
      ["GET", "n"],
      ["DECRBY", "n", "-5"],
      ["DECR", "n"],
      ["SET", "m", big],
      ["INCR", "m"],
      ["DECRBY", "m", "-1"],
      ["INCRBY", "m", "-1"],
      ["SET", "m", "-9223372036854775808"],
      ["DECR", "m"],
      ["DECRBY", "x", "-9223372036854775808"],
      ["INCRBY", "x", "9223372036854775808"],
      ["INCRBY", "x", "1.0"],
      ["SET", "s", " 1"],
      ["INCR", "s"],
      ["SET", "s", "01"],
      ["INCR", "s"],
      ["SET", "s", "+1"],
      ["INCR", "s"],
      ["SET", "s", ""],
      ["INCR", "s"],
      ["INCRBYFLOAT", "f", "10.5"],
      ["INCRBYFLOAT", "f", "0.25"],
      ["INCRBYFLOAT", "f", "-10.75"],
      ["INCRBYFLOAT", "f", "5.0e3"],
      ["GET", "f"],
      ["INCRBYFLOAT", "f", "abc"],
      ["INCRBYFLOAT", "f", "inf"],
      ["INCRBYFLOAT", "f", " 1"],
      ["SET", "g", "1e3"],
      ["INCRBYFLOAT", "g", "1"],
      ["SET", "g", "x"],
      ["INCRBYFLOAT", "g", "1"],
      ["INCRBYFLOAT", "h", "3"],
      ["INCRBYFLOAT", "h", "1e20"],
      ["SET", "t", "10", "EX", "100"],
      ["INCR", "t"],
      ["TTL", "t"],
      ["INCRBYFLOAT", "t", "1.5"],
      ["TTL", "t"],
    ],
    // LCS
    [
      ["MSET", "a", "ohmytext", "b", "mynewtext"],
      ["LCS", "a", "b"],
      ["LCS", "a", "b", "LEN"],
      ["LCS", "a", "b", "IDX"],
      ["LCS", "a", "b", "IDX", "MINMATCHLEN", "4"],
      ["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
      ["LCS", "a", "b", "IDX", "LEN"],
      ["LCS", "a", "nope"],
      ["LCS", "a", "b", "BOGUS"],
      ["LCS", "a", "b", "MINMATCHLEN", "x"],
      ["LCS", "a", "b", "MINMATCHLEN"],
      ["LCS", "a", "b", "IDX", "WITHMATCHLEN"],
    ],
    // EXPIRE family, TTL, PERSIST
    [
      ["SET", "k", "v"],
      ["EXPIRE", "k", "100"],
      ["TTL", "k"],
      ["EXPIRE", "k", "200", "NX"],
      ["EXPIRE", "k", "200", "XX"],
      ["TTL", "k"],
      ["EXPIRE", "k", "100", "GT"],
      ["EXPIRE", "k", "300", "GT"],
      ["TTL", "k"],
      ["EXPIRE", "k", "400", "LT"],
      ["EXPIRE", "k", "50", "LT"],
      ["TTL", "k"],
      ["EXPIRE", "k", "1", "NX", "XX"],
      ["EXPIRE", "k", "1", "GT", "LT"],
      ["EXPIRE", "k", "1", "BOGUS"],
      ["EXPIRE", "k", "x"],
      ["EXPIRE", "foo", "9223370399119966"],
      ["PEXPIRE", "foo", "9223372036854770000"],
      ["EXPIRE", "k", "9223370399119966"],
      ["PEXPIRE", "k", "9223372036854770000"],
      ["PERSIST", "k"],
      ["PERSIST", "k"],
      ["TTL", "k"],
      ["EXPIRE", "k", "100", "XX"],
      ["EXPIRE", "k", "100", "GT"],
      ["EXPIRE", "k", "100", "LT"],
      ["TTL", "k"],
      ["PERSIST", "k"],
      ["EXPIREAT", "k", inFuture],
      ["EXPIRETIME", "k"],
      ["PEXPIREAT", "k", inFuture + "000"],
      ["PEXPIRETIME", "k"],
      ["EXPIRETIME", "nope"],
      ["PEXPIRE", "k", "100000"],
      ["PTTL", "k"],
      ["EXPIRE", "k", "-1"],
      ["EXISTS", "k"],
      ["TTL", "nope"],
      ["PTTL", "nope"],
      ["SET", "p", "v"],
      ["TTL", "p"],
      ["EXPIRETIME", "p"],
      ["EXPIREAT", "p", "1"],
      ["EXISTS", "p"],
      ["EXPIRE", "nope", "10"],
    ],
    // DEL, UNLINK, EXISTS, TOUCH, TYPE, RENAME, RENAMENX, COPY
    [
      ["MSET", "a", "1", "b", "2", "c", "3"],
      ["EXISTS", "a", "a", "b", "nope"],
      ["TOUCH", "a", "nope"],
      ["DEL", "a", "nope"],
      ["UNLINK", "b", "b"],
      ["TYPE", "c"],
      ["TYPE", "a"],
      ["RENAME", "c", "d"],
      ["GET", "d"],
      ["RENAME", "c", "e"],
      ["RENAME", "d", "d"],
      ["SET", "e", "x", "EX", "100"],
      ["RENAME", "e", "f"],
      ["TTL", "f"],
      ["RENAMENX", "f", "d"],
      ["RENAMENX", "f", "g"],
      ["RENAMENX", "g", "g"],
      ["RENAMENX", "nope", "g"],
      ["COPY", "g", "h"],
      ["TTL", "h"],
      ["COPY", "g", "h"],
      ["COPY", "d", "h", "REPLACE"],
      ["GET", "h"],
      ["COPY", "g", "g"],
      ["COPY", "nope", "x"],
      ["COPY", "g", "x", "DB", "16"],
      ["COPY", "g", "x", "DB", "x"],
      ["COPY", "g", "x", "BOGUS"],
      ["COPY", "g", "g", "DB", "1"],
      ["SELECT", "1"],
      ["GET", "g"],
      ["TTL", "g"],
      ["SELECT", "0"],
      ["DBSIZE"],
    ],
    // KEYS with globs, empty and binary keys, DBSIZE, FLUSHDB
    [
      [
        "MSET",
        "hello",
        "1",
        "hallo",
        "2",
        "hxllo",
        "3",
        "hllo",
        "4",
        "heeeello",
        "5",
        "a*b",
        "6",
        "[x",
        "7",
      ],
      ["KEYS", "h?llo"],
      ["KEYS", "h*llo"],
      ["KEYS", "h[ae]llo"],
      ["KEYS", "h[^e]llo"],
      ["KEYS", "h[a-b]llo"],
      ["KEYS", "a\\*b"],
      ["KEYS", "*"],
      ["KEYS", "[x"],
      ["KEYS", "\\[x"],
      ["KEYS", "h[a-"],
      ["KEYS", "h\\"],
      ["KEYS", "*o"],
      ["KEYS", "*[lo]"],
      ["KEYS", "nomatch*"],
      ["SET", "", "empty"],
      ["GET", ""],
      ["SET", new Uint8Array([0xff, 0x00, 0x41]), "bin"],
      ["GET", new Uint8Array([0xff, 0x00, 0x41])],
      ["KEYS", new Uint8Array([0xff, 0x2a])],
      ["EXISTS", ""],
      ["DBSIZE"],
      ["FLUSHDB", "BOGUS"],
      ["FLUSHDB", "ASYNC", "x"],
      ["FLUSHDB", "SYNC"],
      ["DBSIZE"],
      ["RANDOMKEY"],
      ["SET", "one", "1"],
      ["RANDOMKEY"],
    ],
    // Keys the mapping treats specially: U+0000 first, binary, UTF-8 cut by a pattern, per db
    [
      ["SET", "\u0000x", "nul"],
      ["SET", "\u00003ux", "looks like db 3"],
      ["SET", "é", "e-acute"],
      ["SET", new Uint8Array([0xc3]), "half"],
      ["SET", new Uint8Array([0x00, 0xff]), "nul-ff"],
      ["KEYS", "*"],
      ["KEYS", new Uint8Array([0xc3, 0x2a])],
      ["KEYS", "\u0000*"],
      ["KEYS", new Uint8Array([0x00, 0x3f])],
      ["GET", "\u0000x"],
      ["DBSIZE"],
      ["SELECT", "3"],
      ["KEYS", "*"],
      ["SET", "x", "db3"],
      ["SET", new Uint8Array([0xfe]), "db3-bin"],
      ["KEYS", "*"],
      ["KEYS", new Uint8Array([0xfe])],
      ["COPY", "x", "\u0000x", "DB", "0"],
      ["COPY", new Uint8Array([0xfe]), "bin", "DB", "0"],
      ["RENAME", new Uint8Array([0xfe]), "é"],
      ["KEYS", "*"],
      ["SELECT", "0"],
      ["GET", "\u0000x"],
      ["GET", "bin"],
      ["DBSIZE"],
      ["DEL", "\u0000x", "\u00003ux", "é", new Uint8Array([0xc3])],
      ["KEYS", "*"],
    ],
    // SELECT: separate keyspaces
    [
      ["SET", "k", "db0"],
      ["SELECT", "3"],
      ["GET", "k"],
      ["SET", "k", "db3"],
      ["DBSIZE"],
      ["KEYS", "*"],
      ["SELECT", "0"],
      ["GET", "k"],
      ["SELECT", "16"],
      ["SELECT", "-1"],
      ["SELECT", "x"],
      ["SELECT", "15"],
      ["SET", "", "x"],
      ["SELECT", "0"],
      ["EXISTS", ""],
      ["FLUSHALL"],
      ["SELECT", "3"],
      ["DBSIZE"],
      ["SELECT", "0"],
      ["FLUSHALL", "ASYNC"],
      ["FLUSHALL", "x"],
    ],
    // Transactions (keys of one hash tag) and WATCH
    [
      ["MULTI"],
      ["SET", "{u}a", "1"],
      ["INCR", "{u}a"],
      ["GET", "{u}a"],
      ["EXEC"],
      ["EXEC"],
      ["DISCARD"],
      ["MULTI"],
      ["MULTI"],
      ["SET", "{u}a"],
      ["EXEC"],
      ["MULTI"],
      ["SET", "{u}a", "x"],
      ["INCR", "{u}a"],
      ["EXEC"],
      ["WATCH", "{u}a"],
      ["SET", "{u}a", "changed"],
      ["MULTI"],
      ["GET", "{u}a"],
      ["EXEC"],
      ["WATCH", "{u}a"],
      ["MULTI"],
      ["GET", "{u}a"],
      ["EXEC"],
      ["MULTI"],
      ["WATCH", "x"],
      ["DISCARD"],
      ["UNWATCH"],
      ["MULTI"],
      ["PING"],
      ["ECHO", "hi"],
      ["DISCARD"],
      ["MULTI"],
      ["SET", "{u}a", "db0"],
      ["SELECT", "2"],
      ["SET", "{u}a", "db2"],
      ["GET", "{u}a"],
      ["EXEC"],
      ["GET", "{u}a"],
      ["SELECT", "0"],
      ["GET", "{u}a"],
      ["MULTI"],
      ["SELECT", "99"],
      ["GET", "{u}a"],
      ["EXEC"],
    ],
    // Connection and server commands
    [
      ["PING"],
      ["PING", "x"],
      ["PING", "a", "b"],
      ["ECHO", "e"],
      ["ECHO"],
      ["GET"],
      ["NOPE", "a"],
      ["CONFIG", "GET_XX"],
      ["CONFIG", "GET"],
      ["CONFIG", "GET", "appendonly"],
      ["CONFIG", "GET", "databases"],
      ["CONFIG", "SET", "nope", "1"],
      ["AUTH", "x"],
      ["AUTH", "a", "b", "c"],
      ["CLIENT", "SETNAME", "a b"],
      ["CLIENT", "SETNAME", "me"],
      ["CLIENT", "GETNAME"],
      ["CLIENT", "BOGUS"],
      ["HELLO", "4"],
      ["HELLO", "x"],
      ["TIME"],
      ["COMMAND", "BOGUS"],
      ["SCAN", "x"],
      ["SCAN", "0", "COUNT", "0"],
      ["SCAN", "0", "BOGUS"],
      ["SCAN", "0", "MATCH"],
      ["TYPE", "nope"],
      ["CLIENT", "ID"],
      ["HELLO"],
      ["HELLO", "2"],
    ],
    // CONFIG GET/SET of the server options shardkv honours (set back to Redis's defaults)
    [
      ["CONFIG", "GET", "timeout"],
      ["CONFIG", "GET", "client-query-buffer-limit"],
      ["CONFIG", "GET", "maxclients"],
      ["CONFIG", "GET", "requirepass"],
      ["CONFIG", "SET", "timeout", "100"],
      ["CONFIG", "GET", "timeout"],
      ["CONFIG", "SET", "timeout", "abc"],
      ["CONFIG", "SET", "timeout", "-1"],
      ["CONFIG", "SET", "timeout", "2147483648"],
      ["CONFIG", "SET", "timeout", "5", "timeout", "6"],
      ["CONFIG", "SET", "timeout", "5", "proto-max-bulk-len", "10"],
      ["CONFIG", "GET", "timeout"],
      ["CONFIG", "SET", "timeout", "0"],
      ["CONFIG", "SET", "proto-max-bulk-len", "xyz"],
      ["CONFIG", "SET", "proto-max-bulk-len", "2mb"],
      ["CONFIG", "GET", "proto-max-bulk-len"],
      ["CONFIG", "SET", "proto-max-bulk-len", "2MB"],
      ["CONFIG", "SET", "client-query-buffer-limit", "1000"],
      ["CONFIG", "SET", "client-query-buffer-limit", "2gb"],
      ["CONFIG", "GET", "client-query-buffer-limit"],
      ["CONFIG", "SET", "client-query-buffer-limit", "1gb"],
      ["CONFIG", "SET", "client-output-buffer-limit", "foo"],
      ["CONFIG", "SET", "client-output-buffer-limit", "nope 1 2 3"],
      ["CONFIG", "SET", "client-output-buffer-limit", "normal x 2 3"],
      ["CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 2mb 3"],
      ["CONFIG", "GET", "client-output-buffer-limit"],
      ["CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0"],
      ["CONFIG", "GET", "client-output-buffer-limit"],
      ["CONFIG", "SET", "maxclients", "0"],
      ["CONFIG", "SET", "maxclients", "abc"],
      ["CONFIG", "SET", "maxclients", "500"],
      ["CONFIG", "GET", "maxclients"],
      ["CONFIG", "SET", "maxclients", "10000"],
      ["CONFIG", "GET", "maxclients"],
    ],
    // INCRBYFLOAT in 80-bit long doubles: strtold's syntax (hex, inf), "%.17Lf" output, range
    [
      ["INCRBYFLOAT", "a", "0.1"],
      ["INCRBYFLOAT", "a", "0.2"],
      ["INCRBYFLOAT", "b", "1e-20"],
      ["INCRBYFLOAT", "b", "-1e-20"],
      ["INCRBYFLOAT", "c", "0x10"],
      ["INCRBYFLOAT", "c", "0X1.8p1"],
      ["INCRBYFLOAT", "c", "0x"],
      ["INCRBYFLOAT", "c", "1."],
      ["INCRBYFLOAT", "c", ".5"],
      ["INCRBYFLOAT", "c", "."],
      ["INCRBYFLOAT", "c", "1e"],
      ["INCRBYFLOAT", "c", "1\u0000"],
      ["INCRBYFLOAT", "c", "nan"],
      ["INCRBYFLOAT", "c", "Infinity"],
      ["INCRBYFLOAT", "c", "+inf"],
      ["INCRBYFLOAT", "d", "1e308"],
      ["INCRBYFLOAT", "d", "1.7976931348623157e308"],
      ["INCRBYFLOAT", "d", "1e4932"],
      ["INCRBYFLOAT", "e", "1e4933"],
      ["INCRBYFLOAT", "e", "1e-4950"],
      ["INCRBYFLOAT", "e", "1e-5000"],
      ["INCRBYFLOAT", "e", "0x1p-16445"],
      ["INCRBYFLOAT", "e", "0e99999999999"],
      ["INCRBYFLOAT", "e", "0.000003814697265625"],
      ["INCRBYFLOAT", "e", "123456789012345678901234567890"],
      ["INCRBYFLOAT", "e", "1".repeat(5119)],
      ["INCRBYFLOAT", "e", "1".repeat(5120)],
      ["SET", "f", "9223372036854775807"],
      ["INCRBYFLOAT", "f", "1"],
      ["INCRBYFLOAT", "f", "0.5"],
      ["SET", "g", "-0"],
      ["INCRBYFLOAT", "g", "-0"],
      ["SET", "g", "1e3"],
      ["INCRBYFLOAT", "g", "-1000"],
    ],
    // Argument parsing found by the random soak: int-sized arguments, SCAN cursors, BITCOUNT
    [
      ["SELECT", "2147483648"],
      ["SELECT", "-2147483649"],
      ["SELECT", "4294967296"],
      ["SET", "k", "foobar"],
      ["COPY", "k", "j", "DB", "2147483648"],
      ["COPY", "k", "j", "DB", "16"],
      ["BITCOUNT", "nope", "1"],
      ["BITCOUNT", "nope", "x", "y", "BOGUS"],
      ["BITCOUNT", "nope", "1", "2", "3", "4"],
      ["BITCOUNT", "k", "1"],
      ["BITCOUNT", "k", "x", "y"],
      ["SCAN", ""],
      ["SCAN", "+0"],
      ["SCAN", "-0"],
      ["SCAN", "000"],
      ["SCAN", "0\u0000x"],
      ["SCAN", " 0"],
      ["SCAN", "0 "],
      ["SCAN", "-"],
      ["SCAN", "18446744073709551616"],
      ["SCAN", "0x0"],
    ],
    // EXEC refused for its arity discards the transaction; CONFIG and COMMAND subcommands
    [
      ["EXEC", "x"],
      ["MULTI"],
      ["SET", "{t}a", "1"],
      ["EXEC", "x"],
      ["EXEC"],
      ["MULTI"],
      ["EXEC"],
      ["WATCH", "{t}a"],
      ["SET", "{t}a", "2"],
      ["EXEC", "x"],
      ["MULTI"],
      ["EXEC"],
      ["CONFIG", "GET", "TIMEOUT"],
      ["CONFIG", "GET", "Timeout", "time*", "timeout"],
      ["CONFIG", "GET", "[t]imeout"],
      ["CONFIG", "SET", "timeout", "1", "maxclients"],
      ["CONFIG", "SET", "timeout", "abc", "nosuch", "1"],
      ["CONFIG", "SET", "TIMEOUT", "abc"],
      ["CONFIG", "SET", "Databases", "16"],
      ["CONFIG", "SET", "cluster-enabled", "no"],
      ["CONFIG", "SET", "timeout", "1", "Databases", "2", "nosuch", "3"],
      ["CONFIG", "SET", "nosuch", "1", "Databases", "2"],
      ["CONFIG", "SET", "timeout", "1", "TIMEOUT", "2"],
      ["CONFIG", "GET", "timeout"],
      ["CONFIG", "REWRITE"],
      ["CONFIG", "HELP"],
      ["COMMAND", "GETKEYS"],
      ["COMMAND", "GETKEYS", "get"],
      ["COMMAND", "GETKEYS", "GET", "a"],
      ["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"],
      ["COMMAND", "GETKEYS", "ping"],
      ["COMMAND", "GETKEYS", "nosuch", "a"],
      ["COMMAND", "GETKEYS", "lcs", "a", "b", "IDX"],
      ["COMMAND", "GETKEYS", "copy", "a", "b", "DB", "1"],
      ["COMMAND", "LIST", "FILTERBY"],
      ["COMMAND", "LIST", "FILTERBY", "MODULE", "x"],
      ["COMMAND", "LIST", "FILTERBY", "BOGUS", "x"],
      ["COMMAND", "LIST", "FILTERBY", "pattern", "getd*"],
      ["COMMAND", "LIST", "x"],
    ],
    // Found by the random soak: what MULTI queues and EXEC refuses; WATCH sees only real changes;
    // expiry times past 2^53 ms (capped: on Node, SQLite could not read the key back)
    [
      ["SET", "h", "hello", "PXAT", "9223372036854775"],
      ["GET", "h"],
      ["INCRBY", "h", "1"],
      ["PEXPIREAT", "h", "9223372036854775807"],
      ["APPEND", "h", "!"],
      ["EXISTS", "h"],
      ["SET", "f", "foobar"],
      ["BITCOUNT", "f", "-2", "-5", "BOGUS"],
      ["BITCOUNT", "f", "-5", "-100"],
      ["BITCOUNT", "f", "-1", "-1", "BIT"],
      ["MULTI"],
      ["MSET", "{t}a", "1", "{t}b"],
      ["MSETNX", "{t}a", "1", "{t}b"],
      ["COPY", "{t}a", "{t}b", "DB", "-1"],
      ["COPY", "{t}a", "{t}b", "16", "DB"],
      ["SET", "{t}a", "1"],
      ["EXEC"],
      ["MSET", "a", "1", "b"],
      ["SET", "w", "1"],
      ["WATCH", "w", "none"],
      ["SET", "w", "2", "NX"],
      ["SETNX", "w", "3"],
      ["DEL", "none"],
      ["EXPIRE", "none", "100"],
      ["EXPIRE", "w", "100", "XX"],
      ["PERSIST", "w"],
      ["RENAME", "w", "w"],
      ["COPY", "w", "w2"],
      ["GETDEL", "none"],
      ["SETRANGE", "w", "0", ""],
      ["INCR", "none2"],
      ["GETEX", "w"],
      ["MSETNX", "w", "x", "y", "z"],
      ["SELECT", "1"],
      ["FLUSHDB"],
      ["SELECT", "0"],
      ["MULTI"],
      ["GET", "w"],
      ["EXEC"],
      ["WATCH", "none"],
      ["FLUSHALL"],
      ["MULTI"],
      ["PING"],
      ["EXEC"],
      ["SET", "w", "1"],
      ["WATCH", "w"],
      ["FLUSHALL"],
      ["MULTI"],
      ["PING"],
      ["EXEC"],
      ["SET", "w", "1"],
      ["WATCH", "w"],
      ["DEL", "none", "w"],
      ["MULTI"],
      ["PING"],
      ["EXEC"],
      ["SET", "w", "1"],
      ["WATCH", "w"],
      ["EXPIRE", "w", "100", "NX"],
      ["MULTI"],
      ["PING"],
      ["EXEC"],
      ["WATCH", "w"],
      ["SETBIT", "w", "0", "0"],
      ["MULTI"],
      ["PING"],
      ["EXEC"],
      ["WATCH", "w"],
      ["SETBIT", "w", "9", "0"],
      ["MULTI"],
      ["PING"],
      ["EXEC"],
    ],
    // CLIENT KILL filters (with an ID no client has) and NO-EVICT's argument
    [
      ["CLIENT", "KILL", "TYPE", "bogus"],
      ["CLIENT", "KILL", "TYPE", "NORMAL", "ID", "999999"],
      ["CLIENT", "KILL", "TYPE", "master"],
      ["CLIENT", "KILL", "USER", "nobody"],
      ["CLIENT", "KILL", "USER", "default", "ID", "999999"],
      ["CLIENT", "KILL", "USER", "x", "TYPE", "bogus"],
      ["CLIENT", "NO-EVICT", "on"],
      ["CLIENT", "NO-EVICT", "maybe"],
      ["CLIENT", "NO-TOUCH", "on"],
    ],
    // RESET: out of MULTI and WATCH, back to db 0, RESP2, no name
    [
      ["SET", "a", "1"],
      ["SELECT", "3"],
      ["CLIENT", "SETNAME", "x"],
      ["HELLO", "3"],
      ["WATCH", "a"],
      ["MULTI"],
      ["RESET"],
      ["CLIENT", "GETNAME"],
      ["GET", "a"],
      ["GET", "nope"],
      ["RESET", "x"],
      ["MULTI"],
      ["SET", "a", "2"],
      ["RESET"],
      ["EXEC"],
      ["GET", "a"],
    ],
    // RESP3 after HELLO 3: nulls, maps
    [
      ["HELLO", "3"],
      ["GET", "nope"],
      ["MGET", "a", "nope"],
      ["SET", "a", "ohmytext"],
      ["SET", "b", "mynewtext"],
      ["LCS", "a", "b", "IDX", "WITHMATCHLEN"],
      ["CONFIG", "GET", "appendonly"],
      ["SET", "a", "1", "XX", "GET"],
      ["MULTI"],
      ["GET", "nope"],
      ["INCR", "n"],
      ["EXEC"],
      ["WATCH", "a"],
      ["SET", "a", "2"],
      ["MULTI"],
      ["EXEC"],
      ["HELLO", "2"],
      ["GET", "nope"],
    ],
  ];
}

/** A seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integers as Redis reads them: edges of 64 bits and of doubles, and spellings it refuses. */
const INTS = [
  "0",
  "1",
  "-1",
  "2",
  "5",
  "100",
  "-100",
  "+1",
  " 1",
  "1 ",
  "01",
  "-0",
  "1e3",
  "3.5",
  "x",
  "",
  "9223372036854775807",
  "-9223372036854775808",
  "9223372036854775808",
  "-9223372036854775809",
  "9223372036854775806",
  "-9223372036854775807",
  "9007199254740992",
  "9007199254740993",
  "-9007199254740993",
  "4294967296",
  "2147483648",
  "-2147483649",
];

/**
 * INTS for fuzzed arguments: not those past 2^53, which as a PEXPIREAT/EXPIREAT time would be
 * a valid expiry past shardkv's cap (README), left to the hand-written cases; and no small
 * positive ones, which as a TTL (SET k v EX 1, PSETEX k 100 v) would expire the key while the
 * sequence runs and race Redis's expiry cycle.
 */
const FUZZ_INTS = INTS.filter((n) => !/^-?\d{16,}$/.test(n) && !shortTtl(n));

function shortTtl(n: string): boolean {
  return /^\d+$/.test(n) && +n > 0 && +n < 1e6;
}

/** Values: numbers in several spellings, text, glob characters. */
const VALUES = [
  "",
  "v",
  "hello",
  "12",
  "-3",
  "0.5",
  "abc",
  "1e3",
  " 1",
  "+1",
  "01",
  "-0",
  "9223372036854775807",
  "-9223372036854775808",
  "9007199254740993",
  "inf",
  "0x10",
  "1.5e3",
  "ohmytext",
  "mynewtext",
  "a*b[c]",
];

/** VALUES for fuzzed arguments, without small positive integers (see FUZZ_INTS). */
const FUZZ_VALUES = VALUES.filter((v) => !shortTtl(v));

/** Keys, some with glob characters; "{t}n" is kept for counters in transactions. */
const KEYS = ["a", "b", "c", "{t}x", "{t}y", "n", "k*", "k[1]", "k\\"];

/** Glob pattern pieces for KEYS and SCAN MATCH. */
const GLOB = ["a", "b", "k", "*", "?", "[a-c]", "[^a]", "[z-a]", "\\*", "[", "]", "\\", "{t}", "["];

/**
 * A random command, seeded: options in every combination and order, integer edges, ranges,
 * errors of arity and argument type, RESP3 switches. TTLs are long (nothing expires while a
 * sequence runs) and far apart (no two land in one millisecond), so replies do not race the
 * clock. `keys` is the key pool (a transaction's keys share a hash tag).
 */
function randomCommand(r: () => number, keys: string[] = KEYS): string[] {
  // In a transaction (keys of one hash tag) every argument a fuzzed command may take for a key
  // is one of them, or shardkv would answer CROSSSLOT.
  const inTransaction = keys !== KEYS;
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const some = <T>(xs: T[], p: number): T[] => xs.filter(() => r() < p);
  const shuffle = <T>(xs: T[]): T[] =>
    xs.map((x) => [r(), x] as const).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
  const between = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo));
  const key = () => pick(keys);
  const val = () => pick(VALUES);
  const int = () => pick(INTS);
  const nowS = NOW_S();
  /**
   * An expiry argument for a unit: mostly valid and far off, sometimes invalid or (`past`) in the
   * past. SET gets no past times: Redis 7.0 keeps such a key until its expiry cycle finds it,
   * so DBSIZE would race that cycle.
   */
  const ttl = (unit: string, past = true): string => {
    // Refused values, including ones that overflow once converted to absolute ms (valid ones
    // past 2^53 ms are left to the hand-written cases: shardkv caps them, see README).
    const unitName = unit.toUpperCase();
    const overflows = {
      EX: ["9223372036854775807", "9223372036854775"],
      PX: ["9223372036854775807"],
      EXAT: ["9223372036854776", "9223372036854775807"],
    }[unitName] ?? ["9223372036854775808"];
    if (r() < 0.25) return pick(["0", "-1", "x", "3.5", "+5", ...overflows]);
    switch (unitName) {
      case "EX":
        return String(between(1000, 10_000_000));
      case "PX":
        return String(between(1_000_000, 10_000_000_000));
      case "EXAT":
        return r() < 0.2 && past
          ? String(nowS - between(10, 1000))
          : String(nowS + between(1000, 10_000_000));
      default:
        return r() < 0.2 && past
          ? "1"
          : String((nowS + between(1000, 10_000_000)) * 1000 + between(0, 1000));
    }
  };
  const expiry = (past = true): string[] => {
    const unit = pick(["EX", "PX", "EXAT", "PXAT", "ex", "pxat"]);
    return [unit, ttl(unit, past)];
  };
  const range = () =>
    pick([
      ...INTS.slice(0, 8),
      "-2",
      "-5",
      "-100",
      "9223372036854775807",
      "-9223372036854775808",
      "x",
    ]);
  const float = (): string => {
    if (r() < 0.3) {
      return pick([
        "0.1",
        "-0.2",
        "1",
        "inf",
        "-inf",
        "nan",
        "0x1p3",
        "1e308",
        "1e-20",
        "x",
        "",
        " 1",
        "5e",
        ".5",
        "1.",
        "0x",
        "1e4933",
        "-0",
      ]);
    }
    const digits = Array.from({ length: between(1, 21) }, () => between(0, 10)).join("");
    const point = between(0, digits.length + 1);
    const text = digits.slice(0, point) + (r() < 0.7 ? "." : "") + digits.slice(point);
    return (r() < 0.3 ? "-" : "") + (text === "." ? "0" : text) +
      (r() < 0.2 ? `e${between(-30, 30)}` : "");
  };
  const pattern = () => Array.from({ length: between(1, 5) }, () => pick(GLOB)).join("");
  const cmds: (() => string[])[] = [
    () => ["SET", key(), val()],
    () => [
      "SET",
      key(),
      val(),
      ...shuffle([
        ...some(["NX", "XX", "GET", "KEEPTTL", "get"], 0.25),
        ...(r() < 0.6 ? expiry(false) : []),
      ]),
    ],
    () => [
      "SET",
      key(),
      val(),
      ...shuffle([...expiry(false), ...(r() < 0.2 ? expiry(false) : [])]),
    ],
    () => ["GET", key()],
    () => ["GETEX", key(), ...shuffle([...some([["PERSIST"], expiry(), expiry()], 0.4).flat()])],
    () => ["DEL", key(), key()],
    () => ["UNLINK", key(), key(), key()],
    () => ["EXISTS", key(), key()],
    () => ["TOUCH", key()],
    () => ["INCR", key()],
    () => ["DECR", key()],
    () => ["INCRBY", key(), int()],
    () => ["DECRBY", key(), int()],
    () => ["INCRBYFLOAT", key(), float()],
    () => ["SET", key(), pick(INTS)],
    () => ["APPEND", key(), val()],
    () => ["STRLEN", key()],
    () => [pick(["GETRANGE", "SUBSTR"]), key(), range(), range()],
    () => ["SETRANGE", key(), pick(["0", "1", "3", "10", "-1", "x", "+2", "536870912"]), val()],
    () => ["GETSET", key(), val()],
    () => ["GETDEL", key()],
    () => ["SETNX", key(), val()],
    () => ["SETEX", key(), ttl("EX"), val()],
    () => ["PSETEX", key(), ttl("PX"), val()],
    () => ["MSET", key(), val(), key(), val(), ...(r() < 0.2 ? [key()] : [])],
    () => ["MGET", key(), key(), key()],
    () => ["MSETNX", key(), val(), key(), val()],
    () => {
      const cmd = pick(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]);
      const unit = { EXPIRE: "EX", PEXPIRE: "PX", EXPIREAT: "EXAT", PEXPIREAT: "PXAT" }[cmd]!;
      return [cmd, key(), ttl(unit), ...shuffle(some(["NX", "XX", "GT", "LT", "gt"], 0.3))];
    },
    () => [pick(["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST", "TYPE"]), key()],
    () => [pick(["RENAME", "RENAMENX"]), key(), key()],
    () => [
      "COPY",
      key(),
      key(),
      ...shuffle(some([["REPLACE"], ["DB", pick(["0", "1", "16", "-1", "x"])]], 0.4).flat()),
    ],
    () => [
      "SETBIT",
      key(),
      pick(["0", "1", "7", "8", "63", "100", "799", "-1", "x", "4294967296", "+1"]),
      pick(["0", "1", "1", "2", "-1", "x", "01"]),
    ],
    () => ["GETBIT", key(), pick(["0", "1", "7", "9", "100", "-1", "x", "4294967296"])],
    () => [
      "BITCOUNT",
      key(),
      ...pick([[], [range(), range()], [range(), range(), pick(["BIT", "BYTE", "bit", "BOGUS"])], [
        range(),
      ]]),
    ],
    () => [
      "LCS",
      key(),
      key(),
      ...shuffle(
        some([["LEN"], ["IDX"], ["WITHMATCHLEN"], [
          "MINMATCHLEN",
          pick(["0", "1", "2", "4", "-1", "x"]),
        ]], 0.35).flat(),
      ),
    ],
    () => ["KEYS", pattern()],
    () => [
      "SCAN",
      "0",
      "MATCH",
      pattern(),
      "COUNT",
      "1000",
      ...(r() < 0.3 ? ["TYPE", pick(["string", "list"])] : []),
    ],
    () => ["DBSIZE"],
    () => ["SELECT", pick(["0", "0", "0", "1", "2", "16", "-1", "x"])],
    () => ["HELLO", pick(["2", "3", "3", "4"])],
    () => ["CLIENT", "SETNAME", pick(["me", "", "a b", "a\nb", "é", "x-y"])],
    () => ["CLIENT", "GETNAME"],
    () => [
      "CONFIG",
      "GET",
      pick(["timeout", "TIMEOUT", "time*", "[t]imeout", "maxclien?s", "nosuch", "databases"]),
    ],
    () => ["WATCH", key()],
    () => ["UNWATCH"],
    () => ["RESET"],
    () => [pick(["EXEC", "DISCARD"])],
    () => [pick(["FLUSHDB", "FLUSHALL"]), ...pick([[], ["ASYNC"], ["SYNC"], ["x"]])],
    // Arity and argument errors: a command with a few random arguments.
    () => [
      pick(FUZZED),
      ...Array.from(
        { length: between(0, 5) },
        () =>
          inTransaction
            ? key()
            : pick([key(), pick(FUZZ_VALUES), pick(FUZZ_INTS), "NX", "EX", "GET"]),
      ),
    ],
  ];
  return pick(cmds)();
}

/** Commands fuzzed with random arguments (not those that end, block or reconfigure a session). */
const FUZZED = [
  "get",
  "set",
  "setnx",
  "setex",
  "psetex",
  "getset",
  "getdel",
  "getex",
  "mget",
  "mset",
  "msetnx",
  "append",
  "strlen",
  "getrange",
  "substr",
  "setrange",
  "getbit",
  "setbit",
  "bitcount",
  "incr",
  "decr",
  "incrby",
  "decrby",
  "incrbyfloat",
  "lcs",
  "del",
  "unlink",
  "exists",
  "touch",
  "type",
  "expire",
  "pexpire",
  "expireat",
  "pexpireat",
  "ttl",
  "pttl",
  "expiretime",
  "pexpiretime",
  "persist",
  "rename",
  "renamenx",
  "copy",
  "keys",
  "dbsize",
  "select",
  "echo",
  "ping",
  "watch",
  "unwatch",
  "discard",
  "exec",
  "nosuch",
  "GeT",
];

const NOT_IN_TRANSACTION = new Set([
  "EXEC",
  "RESET",
  "DISCARD",
  "TTL",
  "PTTL",
  "EXPIRETIME",
  "PEXPIRETIME",
  "HELLO",
  "KEYS",
  "SCAN",
]);

/**
 * A transaction over keys of one hash tag: maybe WATCH and a write from outside, MULTI, a few
 * commands (some refused when queued, some failing when run), then EXEC or DISCARD.
 * Counters go to "{t}n", which holds only integers.
 */
function randomTransaction(r: () => number): string[][] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const keys = ["{t}x", "{t}y", "{t}z"];
  const key = () => pick(keys);
  const body: (() => string[])[] = [
    () => randomCommand(r, keys),
    () => randomCommand(r, keys),
    () => [pick(["INCR", "DECR"]), "{t}n"],
    () => ["INCRBY", "{t}n", pick(["1", "-1", "9223372036854775807", "x"])],
    () => ["SET", "{t}n", pick(["1", "10", "-5", "9223372036854775806"])],
    () => ["EXPIRE", key(), "100000"],
    () => ["SET", key()],
    () => ["NOSUCH", key()],
    () => ["MULTI"],
    () => ["WATCH", key()],
    () => ["SET", key(), "v", "BOGUS"],
  ];
  const out: string[][] = [];
  if (r() < 0.3) out.push(["WATCH", key()]);
  if (r() < 0.2) out.push(["SET", key(), "outside"]);
  out.push(["MULTI"]);
  for (let i = Math.floor(r() * 6); i >= 0; i--) {
    const args = pick(body)();
    // Not queued here: what would end the transaction, and replies that cannot be compared
    // inside EXEC's array (clocks, connection ids, key order).
    if (!NOT_IN_TRANSACTION.has(args[0].toUpperCase())) out.push(args);
  }
  out.push([r() < 0.85 ? "EXEC" : "DISCARD"]);
  return out;
}

async function withServers(
  fn: (redis: RawClient, shardkv: RawClient, label: string, ports: number[]) => Promise<void>,
): Promise<void> {
  const redis = await startRedis();
  try {
    await withTempDir(async (dir) => {
      for (const backend of ["memory", "sqlite"] as const) {
        const store: Store = await openStore(backend === "memory" ? "" : dir, {
          backend,
          shards: 4,
        });
        const server = await serveResp(store, { port: 0 });
        const a = await RawClient.open(redis.port);
        const b = await RawClient.open(server.port);
        try {
          await fn(a, b, backend, [redis.port, server.port]);
        } finally {
          a.close();
          b.close();
          await server.close();
          await store.close();
        }
      }
    });
  } finally {
    redis.proc.kill();
  }
}

/** Puts a connection back to a fresh state: no transaction, RESP2, no name, db 0, empty. */
async function reset(c: RawClient): Promise<void> {
  for (const args of [["DISCARD"], ["UNWATCH"], ["HELLO", "2"], ["CLIENT", "SETNAME", ""]]) {
    await c.send(args);
  }
  for (const args of [["SELECT", "0"], ["FLUSHALL"]]) await c.send(args);
}

const COUNTERS = new Set(["INCR", "DECR", "INCRBY", "DECRBY"]);

/**
 * In random sequences, whether a command must be left out: INCR and friends on an 8-byte value
 * that is not a decimal number, which shardkv deliberately takes for a library counter (README),
 * looked up on redis-server first (inside MULTI only "{t}n", which holds integers, is counted).
 */
async function leftOut(redis: RawClient, args: string[], inMulti: boolean): Promise<boolean> {
  if (!COUNTERS.has(args[0].toUpperCase()) || args.length < 2) return false;
  if (inMulti) return args[1] !== "{t}n";
  const value = await redis.send(["GET", args[1]]);
  return value.startsWith("$8\r\n") && !/^-?(0|[1-9]\d*)$/.test(value.slice(4, 12));
}

/**
 * TTL and EXPIRETIME of an absolute expiry round at a second's middle: one apart is the clock.
 * Expiry times past about 2^53 ms are capped there (README): past 9e12 s both are "far".
 */
function sameClock(args: (string | Uint8Array)[], want: string, got: string): boolean {
  const name = String(args[0]).toUpperCase();
  if (name !== "TTL" && name !== "EXPIRETIME") return false;
  const [a, b] = [want, got].map((x) => /^:(\d+)\r\n$/.exec(x)?.[1]);
  if (a === undefined || b === undefined) return false;
  return Math.abs(Number(a) - Number(b)) <= 1 || (Number(a) > 9e12 && Number(b) > 9e12);
}

/**
 * Sends `seq` to both servers and asserts the replies are the same. `random` sequences leave
 * out the deliberate 8-byte-counter difference and allow TTLs one second apart.
 */
async function compare(
  redis: RawClient,
  shardkv: RawClient,
  seq: (string | Uint8Array)[][],
  label: string,
  random = false,
): Promise<void> {
  await reset(redis);
  await reset(shardkv);
  const history: string[] = [];
  let inMulti = false;
  for (const [i, args] of seq.entries()) {
    if (random && await leftOut(redis, args as string[], inMulti)) continue;
    const want = normalise(args, await redis.send(args));
    const got = normalise(args, await shardkv.send(args));
    const name = String(args[0]).toUpperCase();
    if (name === "MULTI" && want === "+OK\r\n") inMulti = true;
    if (name === "EXEC" || (name === "DISCARD" && want === "+OK\r\n")) inMulti = false;
    if (name === "RESET" && want === "+RESET\r\n") inMulti = false;
    const shown = args.map((a) => typeof a === "string" ? a : `<${Buffer.from(a).toString("hex")}>`)
      .join(" ");
    // The commands before a difference, to reproduce it.
    history.push(`${shown} -> ${JSON.stringify(want)}`);
    if (random && sameClock(args, want, got)) continue;
    assert.equal(
      got,
      want,
      `${label} #${i}: ${shown}\n  after: ${history.slice(-12, -1).join("\n  ")}`,
    );
  }
}

test(
  "differential: hand-written edge cases per command match redis-server byte for byte (RESP2, RESP3)",
  SLOW,
  async () => {
    await withServers(async (redis, shardkv, backend) => {
      // Each case in RESP2, then again after HELLO 3.
      for (const resp3 of [false, true]) {
        for (const [n, seq] of cases().entries()) {
          const label = `${backend}${resp3 ? " resp3" : ""} case ${n}`;
          await compare(redis, shardkv, resp3 ? [["HELLO", "3"], ...seq] : seq, label);
        }
      }
    });
  },
);

// SHARDKV_DIFF_SEEDS=500 SHARDKV_DIFF_LENGTH=2000 soak: more and longer sequences than CI runs
// (SHARDKV_DIFF_FIRST=n starts at seed n, to replay one).
const SEEDS = Number(process.env.SHARDKV_DIFF_SEEDS ?? 5);
const LENGTH = Number(process.env.SHARDKV_DIFF_LENGTH ?? 300);
const FIRST = Number(process.env.SHARDKV_DIFF_FIRST ?? 1);

test("differential: seeded random command sequences match redis-server", {
  timeout: Math.max(SLOW.timeout, SEEDS * LENGTH * 5),
}, async () => {
  const failures: string[] = [];
  await withServers(async (redis, shardkv, backend) => {
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
      const r = rng(seed);
      const seq: string[][] = [];
      while (seq.length < LENGTH) {
        if (r() < 0.08) seq.push(["SELECT", "0"], ...randomTransaction(r));
        else seq.push(randomCommand(r));
      }
      // Every seed runs; a seed stops at its first difference (the states part there).
      try {
        await compare(redis, shardkv, seq, `${backend} seed ${seed}`, true);
      } catch (e) {
        if (!(e instanceof assert.AssertionError)) throw e;
        failures.push(e.message);
      }
    }
  });
  assert.deepEqual(failures, [], `${failures.length} seeds differ:\n${failures.join("\n\n")}`);
});

/**
 * COMMAND DOCS and INFO: for every command shardkv has, Redis's summary, since and group, and
 * Redis's arity, flags, key positions and ACL categories.
 */
test("differential: COMMAND DOCS and INFO of every command as redis-server", SLOW, async () => {
  const { Redis } = await import("ioredis");
  await withServers(async (redis, shardkv, _backend, ports) => {
    const [a, b] = ports.map((port) => new Redis({ port, host: "127.0.0.1" }));
    try {
      for (const name of (await b.call("COMMAND", "LIST")) as string[]) {
        const info = async (c: typeof a) =>
          ((await c.call("COMMAND", "INFO", name)) as unknown[][])[0].slice(0, 7);
        assert.deepEqual(await info(b), await info(a), name);
      }
    } finally {
      a.disconnect();
      b.disconnect();
    }
    const names = (await shardkv.send(["COMMAND", "LIST"])).split("\r\n").filter((_, i) =>
      i > 0 && i % 2 === 0
    );
    assert.ok(names.length > 60, `${names.length} commands`);
    const fields = (reply: string) =>
      ["summary", "since", "group"].map((f) =>
        new RegExp(`\\$\\d+\r\n${f}\r\n\\$\\d+\r\n([^\r]*)`).exec(reply)?.[1]
      );
    for (const name of names) {
      const want = fields(await redis.send(["COMMAND", "DOCS", name]));
      assert.ok(want.every((f) => f !== undefined), `${name}: ${want}`);
      assert.deepEqual(fields(await shardkv.send(["COMMAND", "DOCS", name])), want, name);
    }
  });
});

/** Two connections per server: WATCH on one sees exactly the changes the other makes. */
test("differential: WATCH and another connection's writes as redis-server", SLOW, async () => {
  // [connection, ...command]
  const seq: (number | string)[][] = [
    [0, "SET", "k", "1"],
    [0, "WATCH", "k"],
    [1, "SET", "k", "1", "NX"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "SET", "k", "2"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k", "m"],
    [1, "DEL", "m"],
    [1, "EXPIRE", "m", "100"],
    [1, "PERSIST", "k"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "m"],
    [1, "SET", "m", "1"],
    [1, "DEL", "m"],
    [0, "MULTI"],
    [0, "GET", "m"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "FLUSHDB"],
    [0, "MULTI"],
    [0, "PING"],
    [0, "EXEC"],
    [0, "SET", "k", "1"],
    [0, "WATCH", "k"],
    [1, "SELECT", "1"],
    [1, "FLUSHDB"],
    [0, "MULTI"],
    [0, "PING"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "SELECT", "0"],
    [1, "RENAME", "k", "k"],
    [1, "COPY", "k", "j"],
    [0, "MULTI"],
    [0, "PING"],
    [0, "EXEC"],
    [0, "WATCH", "j"],
    [1, "COPY", "k", "j", "REPLACE"],
    [0, "MULTI"],
    [0, "PING"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "MULTI"],
    [1, "SET", "k", "9"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [1, "EXEC"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "MULTI"],
    [1, "SET", "k", "10"],
    [1, "DISCARD"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "GETEX", "k", "PERSIST"],
    [1, "EXPIRE", "k", "100", "XX"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "EXPIRE", "k", "100", "NX"],
    [1, "EXPIRE", "k", "200", "GT"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "APPEND", "k", ""],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "INCRBYFLOAT", "k", "x"],
    [1, "INCRBY", "k", "0"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "SETRANGE", "k", "0", ""],
    [1, "LCS", "k", "k"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "MSETNX", "k", "1", "zz", "2"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "zz"],
    [1, "MSET", "zz", "2"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "RESET"],
    [1, "SELECT", "0"],
    [1, "GETSET", "k", "1"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "GETDEL", "k"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
    [0, "WATCH", "k"],
    [1, "SET", "k", "v", "XX"],
    [1, "SET", "k", "v", "XX", "GET"],
    [0, "MULTI"],
    [0, "GET", "k"],
    [0, "EXEC"],
  ];
  await withServers(async (redis, shardkv, backend, ports) => {
    const servers = [redis, shardkv];
    const seconds = await Promise.all(ports.map((port) => RawClient.open(port)));
    try {
      for (const c of servers) await reset(c);
      for (const [i, [who, ...args]] of seq.entries()) {
        const [want, got] = [0, 1].map((s) =>
          (who === 0 ? servers[s] : seconds[s]).send(args as string[])
        );
        assert.equal(await got, await want, `${backend} #${i}: ${who} ${args.join(" ")}`);
      }
    } finally {
      for (const c of seconds) c.close();
    }
  });
});

/**
 * Pipelined: each round's commands go in one write, so the server's batched paths (runs of plain
 * GET and SET) answer them; the whole byte stream must be Redis's (HELLO's id aside).
 */
test("differential: pipelined seeded rounds get redis-server's byte stream", SLOW, async () => {
  await withServers(async (redis, shardkv, backend) => {
    const r = rng(7);
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
    for (let round = 0; round < 20; round++) {
      const keys = ["a", "b", "c", "{t}x", `k${round % 3}`];
      const seq: string[][] = [["SELECT", "0"], ["FLUSHALL"], ["HELLO", pick(["2", "3"])]];
      for (let i = 0; i < 60; i++) {
        const k = pick(keys);
        seq.push(pick([
          ["SET", k, pick(["1", "v", "", "x".repeat(20)])],
          ["GET", k],
          ["GET", k],
          ["SET", k, "2"],
          ["DEL", k],
          ["MGET", k, pick(keys)],
          ["APPEND", k, "z"],
          ["SELECT", pick(["0", "1"])],
          ["SET", k],
          ["GET"],
          ["EXISTS", k],
          ["SET", k, "v", "GET"],
          // "n" holds only integers (an 8-byte text would be a library counter, README).
          ["INCR", "n"],
        ]));
      }
      const replies = async (c: RawClient) =>
        (await Promise.all(seq.map((args) => c.send(args)))).join("")
          .replace(/(\$2\r\nid\r\n):\d+/g, "$1<id>");
      assert.equal(await replies(shardkv), await replies(redis), `${backend} round ${round}`);
    }
  });
});

/** Full SCAN iterations (the order and pages differ): the same set of keys comes back. */
test(
  "differential: SCAN with MATCH, COUNT and TYPE returns the keys redis-server returns",
  SLOW,
  async () => {
    await withServers(async (redis, shardkv) => {
      const keys = ["user:1", "user:2", "user:10", "usr", "x", "", "{t}a", "u\\*"];
      const scanAll = async (c: RawClient, opts: string[]): Promise<string[]> => {
        const seen: string[] = [];
        let cursor = "0";
        do {
          const lines = (await c.send(["SCAN", cursor, ...opts])).split("\r\n");
          cursor = lines[2];
          for (let i = 5; i < lines.length - 1; i += 2) seen.push(lines[i]);
        } while (cursor !== "0");
        return seen.sort();
      };
      for (const c of [redis, shardkv]) {
        await c.send(["FLUSHALL"]);
        for (const k of keys) await c.send(["SET", k, "v"]);
      }
      for (
        const opts of [
          [],
          ["COUNT", "2"],
          ["MATCH", "user:*"],
          ["MATCH", "u?er:1*", "COUNT", "1"],
          ["MATCH", "*"],
          ["TYPE", "string"],
          ["TYPE", "list"],
          ["MATCH", "u\\\\*"],
        ]
      ) {
        assert.deepEqual(await scanAll(shardkv, opts), await scanAll(redis, opts), opts.join(" "));
      }
    });
  },
);

/**
 * The bytes a server sends for `input` written raw on a new connection, followed by an inline
 * `ECHO __end__`: up to that reply, the connection's close, or `wait` ms of silence.
 */
function exchange(port: number, input: string, wait: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(Buffer.from(input + "ECHO __end__\r\n", "latin1"));
    });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    };
    const timer = setTimeout(done, wait);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).toString("latin1").endsWith("$7\r\n__end__\r\n")) done();
    });
    socket.on("close", done);
    socket.on("error", reject);
  });
}

test("differential: inline requests and loose framing get redis-server's bytes", SLOW, async () => {
  const redis = await startRedis();
  const store = await openStore("", { backend: "memory", shards: 4 });
  const server = await serveResp(store, { port: 0 });
  // Redis's sdssplitargs: quotes anywhere in an argument, escapes in "...", only \' in '...'.
  const inputs = [
    'SET a "b c"\r\nGET a\r\n',
    "SET a 'b c'\r\nGET a\r\n",
    'SET a "b\\x41\\n"\r\nGET a\r\n',
    'SET a "unbalanced\r\n',
    "SET a 'x'y\r\n",
    'ECHO a"b c"\r\n',
    "ECHO a'b c'\r\n",
    'ECHO "a"\tb\r\n',
    'ECHO "a"\u000bb\r\n',
    "ECHO\u000ba\r\n",
    'ECHO "a\\"b"\r\n',
    "ECHO 'a\\'b'\r\n",
    "ECHO 'a\\nb'\r\n",
    'ECHO "\\x4"\r\n',
    'ECHO "\\x41\\x4a\\X41\\u0041\\xZZ"\r\n',
    'ECHO "\\n\\r\\t\\b\\a\\z"\r\n',
    "ECHO ''\r\n",
    'ECHO """"\r\n',
    "ECHO a\rb\r\n",
    '"ECHO" x\r\n',
    "\r\n\r\n  PING   \r\nPING\n",
    // The two bytes after a bulk string are skipped unchecked: "d\r\n" is the next command.
    "*2\r\n$4\r\nECHO\r\n$3\r\nabcd\r\n",
    "*1\r\n$x\r\n",
    "*-1\r\n*0\r\nPING\r\n",
  ];
  try {
    for (const input of inputs) {
      const want = await exchange(redis.port, input, 2000);
      assert.equal(await exchange(server.port, input, 2000), want, JSON.stringify(input));
    }
    // A NUL byte before the line's end: Redis (strchr) never finds the end and never answers.
    const nul = "ECHO a\u0000b\r\n";
    assert.equal(await exchange(server.port, nul, 300), await exchange(redis.port, nul, 300));
  } finally {
    redis.proc.kill();
    await server.close();
    await store.close();
  }
});

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 60_000 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

test(
  "redis-cli --bigkeys, --scan --pattern, -n 3 and redis-benchmark work unchanged",
  SLOW,
  async () => {
    const store = await openStore("", { backend: "memory", shards: 4 });
    const server = await serveResp(store, { port: 0 });
    const p = String(server.port);
    try {
      for (let i = 0; i < 20; i++) {
        await run("redis-cli", [
          "-p",
          p,
          "SET",
          `key:${i}`,
          "x".repeat(i),
        ]);
      }
      const big = await run("redis-cli", ["-p", p, "--bigkeys"]);
      assert.match(big, /Biggest string found so far '"key:19"' with 19 bytes/);
      assert.match(big, /20 strings with 190 bytes/);
      const scanned = (await run("redis-cli", ["-p", p, "--scan", "--pattern", "key:1?"])).trim()
        .split("\n").sort();
      assert.deepEqual(scanned, Array.from({ length: 10 }, (_, i) => `key:1${i}`).sort());
      assert.equal(await run("redis-cli", ["-p", p, "-n", "3", "SET", "k", "three"]), "OK\n");
      assert.equal(await run("redis-cli", ["-p", p, "-n", "3", "GET", "k"]), "three\n");
      assert.equal(await run("redis-cli", ["-p", p, "GET", "k"]), "\n");
      const bench = await run("redis-benchmark", [
        "-p",
        p,
        "-q",
        "-n",
        "2000",
        "-c",
        "4",
        "-t",
        "set,get,incr,mset",
      ]);
      for (const t of ["SET", "GET", "INCR", "MSET"]) {
        assert.match(
          bench,
          new RegExp(`${t}[^:]*: [\\d.]+ requests per second`),
        );
      }
    } finally {
      await server.close();
      await store.close();
    }
  },
);

test(
  "differential: AUTH, NOAUTH, HELLO AUTH and CONFIG SET requirepass match redis-server",
  SLOW,
  async () => {
    const redis = await startRedis("--requirepass", "secret");
    const store = await openStore("", { backend: "memory", shards: 4 });
    const server = await serveResp(store, { port: 0, requirepass: "secret" });
    const seqs: string[][][] = [
      [
        ["GET", "k"],
        ["SET", "k", "v"],
        ["PING"],
        ["MULTI"],
        ["EXEC"],
        ["HELLO", "3"],
        ["AUTH", "wrong"],
        ["AUTH", "nobody", "secret"],
        ["AUTH", "default", "wrong"],
        ["GET", "k"],
        ["AUTH", "secret"],
        ["GET", "k"],
        ["AUTH", "default", "secret"],
        ["CONFIG", "SET", "requirepass", "other"],
        ["CONFIG", "GET", "requirepass"],
      ],
      [["GET", "k"], ["AUTH", "secret"], ["HELLO", "2", "AUTH", "default", "other"], ["GET", "k"], [
        "CONFIG",
        "SET",
        "requirepass",
        "secret",
      ]],
      [
        ["HELLO", "2", "AUTH", "default", "wrong"],
        ["HELLO", "2", "AUTH", "default", "secret", "SETNAME", "a b"],
        ["GET", "k"],
        ["HELLO", "2", "AUTH", "default", "secret", "BOGUS"],
        ["GET", "k"],
        ["HELLO", "2", "AUTH", "default", "secret", "SETNAME", "me"],
        ["CLIENT", "GETNAME"],
        ["RESET"],
        ["GET", "k"],
        ["CLIENT", "GETNAME"],
        ["AUTH", "secret"],
        ["SET", "k", "v"],
        ["GET", "k"],
        ["DEL", "k"],
        ["QUIT"],
      ],
    ];
    try {
      for (const [n, seq] of seqs.entries()) {
        const a = await RawClient.open(redis.port);
        const b = await RawClient.open(server.port);
        try {
          for (const [i, args] of seq.entries()) {
            const want = normalise(args, await a.send(args));
            assert.equal(
              normalise(args, await b.send(args)),
              want,
              `auth ${n} #${i}: ${args.join(" ")}`,
            );
          }
        } finally {
          a.close();
          b.close();
        }
      }
    } finally {
      redis.proc.kill();
      await server.close();
      await store.close();
    }
  },
);

test("protected mode: no listening beyond loopback without requirepass", async () => {
  const store = await openStore("", { backend: "memory", shards: 1 });
  try {
    await assert.rejects(serveResp(store, { hostname: "0.0.0.0", port: 0 }), (e: Error) => {
      assert.ok(e instanceof RangeError);
      assert.match(
        e.message,
        /Protected mode: refusing to listen on 0\.0\.0\.0 without requirepass/,
      );
      return true;
    });
    const local = await serveResp(store, { hostname: "127.0.0.1", port: 0 });
    await local.close();
  } finally {
    await store.close();
  }
});

test(
  "ioredis with a password and db 3: AUTH and SELECT on connect, MULTI on one hash tag, CROSSSLOT",
  SLOW,
  async () => {
    const { Redis } = await import("ioredis");
    const store = await openStore("", { backend: "memory", shards: 4 });
    const server = await serveResp(store, { port: 0, requirepass: "s3cret" });
    const opts = {
      port: server.port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    };
    const good = new Redis({ ...opts, password: "s3cret", db: 3 });
    try {
      await good.connect();
      assert.equal(await good.set("k", "three"), "OK");
      assert.equal(await good.get("k"), "three");
      assert.deepEqual(
        await good.multi().set("{t}a", "1").incr("{t}a").get("{t}a").exec(),
        [[null, "OK"], [null, 2], [null, "2"]],
      );
      await assert.rejects(
        good.multi().set("{t}a", "1").set("{u}b", "2").exec(),
        /CROSSSLOT|EXECABORT/,
      );
      assert.equal(await store.get("k"), undefined, "db 3's key is not db 0's");
    } finally {
      good.disconnect();
      await server.close();
      await store.close();
    }
  },
);
