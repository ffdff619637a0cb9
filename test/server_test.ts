// The RESP server: the pure parser, encoder and commands (on a session, no sockets), then real
// clients over TCP: redis-cli (a child process), ioredis, and raw node:net sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFile } from "node:child_process";
import { connect, type Socket } from "node:net";
import { Redis } from "ioredis";
import { encodeCounter, openStore, shardOf, type Store } from "../mod.ts";
import { ScanCursors, type ServerContext } from "../server/commands.ts";
import { serveResp } from "../server/mod.ts";
import {
  encodeReply,
  ErrorReply,
  OK,
  RespParser,
  RespProtocolError,
  SimpleReply,
} from "../server/resp.ts";
import { RespSession } from "../server/session.ts";
import { dec, enc, withTempDir } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";

/** A multibulk request. */
function cmd(...args: (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [enc(`*${args.length}\r\n`)];
  for (const a of args) {
    const bytes = typeof a === "string" ? enc(a) : a;
    parts.push(enc(`$${bytes.byteLength}\r\n`), bytes, enc("\r\n"));
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

function context(store: Store): ServerContext {
  return {
    store,
    startedAt: Date.now(),
    port: 0,
    clients: 0,
    commands: 0,
    cursors: new ScanCursors(),
  };
}

/** A session on a fresh memory store with a manual clock; `send` returns the reply text. */
async function withSession(
  fn: (
    send: (...args: (string | Uint8Array)[]) => Promise<string>,
    clock: { now: number },
  ) => Promise<void>,
): Promise<void> {
  const clock = { now: 1_000_000 };
  const store = await openStore("", { backend: "memory", shards: 4, now: () => clock.now });
  const session = new RespSession(context(store));
  try {
    await fn(async (...args) => dec((await session.feed(cmd(...args))).reply)!, clock);
  } finally {
    session.end();
    await store.close();
  }
}

test("parser: pipelined requests in one chunk come out one by one", () => {
  const parser = new RespParser();
  parser.push(concat([cmd("SET", "a", "1"), cmd("GET", "a"), enc("PING\r\n")]));
  assert.deepEqual(parser.next()!.map((b) => dec(b)), ["SET", "a", "1"]);
  assert.deepEqual(parser.next()!.map((b) => dec(b)), ["GET", "a"]);
  assert.deepEqual(parser.next()!.map((b) => dec(b)), ["PING"]);
  assert.equal(parser.next(), undefined);
  assert.equal(parser.buffered, 0);
});

test("parser: a request split byte by byte completes only with its last byte", () => {
  const parser = new RespParser();
  const value = new Uint8Array(300).map((_, i) => i % 256);
  const bytes = cmd("SET", "key", value);
  for (let i = 0; i < bytes.byteLength - 1; i++) {
    parser.push(bytes.subarray(i, i + 1));
    assert.equal(parser.next(), undefined, `complete after ${i + 1} of ${bytes.byteLength} bytes`);
  }
  parser.push(bytes.subarray(bytes.byteLength - 1));
  const args = parser.next()!;
  assert.equal(dec(args[1]), "key");
  assert.deepEqual(args[2], value);
});

test("parser: a large request across many chunks grows the buffer and stays intact", () => {
  const parser = new RespParser();
  const value = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
  const bytes = concat([cmd("SET", "big", value), cmd("GET", "big")]);
  for (let i = 0; i < bytes.byteLength; i += 1000) parser.push(bytes.subarray(i, i + 1000));
  assert.deepEqual(parser.next()![2], value);
  assert.equal(dec(parser.next()![0]), "GET");
});

test("parser: inline commands split on whitespace, honour quotes and skip empty lines", () => {
  const parser = new RespParser();
  parser.push(enc("\r\nSET  k \"two words\"\t'x y'\r\nPING\n"));
  assert.deepEqual(parser.next()!.map((b) => dec(b)), ["SET", "k", "two words", "x y"]);
  assert.deepEqual(parser.next()!.map((b) => dec(b)), ["PING"]);
  assert.equal(parser.next(), undefined);
});

test("parser: malformed input throws RespProtocolError", () => {
  for (
    const bad of [
      "*2\r\n+OK\r\n",
      "*1\r\n$x\r\n",
      "*1\r\n$-5\r\n",
      "*abc\r\n",
      'SET "k v\r\n',
      'ECHO "a"b\r\n',
    ]
  ) {
    const parser = new RespParser();
    parser.push(enc(bad));
    assert.throws(() => parser.next(), RespProtocolError, JSON.stringify(bad));
  }
  // As Redis: the two bytes after a bulk string are skipped unchecked; the rest is the next command.
  const parser = new RespParser();
  parser.push(enc("*1\r\n$1\r\nabcd\r\n"));
  assert.deepEqual(parser.next()!.map((b) => dec(b)), ["a"]);
  assert.deepEqual(parser.next()!.map((b) => dec(b)), ["d"]);
});

test("encoder: every reply type", () => {
  assert.equal(dec(encodeReply(OK)), "+OK\r\n");
  assert.equal(dec(encodeReply(new ErrorReply("ERR bad\r\nthing"))), "-ERR bad thing\r\n");
  assert.equal(dec(encodeReply(-3)), ":-3\r\n");
  assert.equal(dec(encodeReply(null)), "$-1\r\n");
  assert.equal(dec(encodeReply("é")), "$2\r\né\r\n");
  assert.equal(
    dec(encodeReply([new SimpleReply("x"), [1], new Uint8Array([0])])),
    "*3\r\n+x\r\n*1\r\n:1\r\n$1\r\n\0\r\n",
  );
});

test("commands: PING, ECHO, GET/SET, binary values, DEL, EXISTS, MGET, MSET", async () => {
  await withSession(async (send) => {
    assert.equal(await send("PING"), "+PONG\r\n");
    assert.equal(await send("ping", "hi"), "$2\r\nhi\r\n");
    assert.equal(await send("ECHO", "x y"), "$3\r\nx y\r\n");
    assert.equal(await send("GET", "a"), "$-1\r\n");
    const binary = new Uint8Array([0, 255, 13, 10, 36]);
    assert.equal(await send("SET", "a", binary), "+OK\r\n");
    assert.equal(await send("GET", "a"), `$5\r\n${dec(binary)}\r\n`);
    assert.equal(await send("MSET", "b", "2", "c", "3"), "+OK\r\n");
    assert.equal(
      await send("MGET", "a", "nope", "c"),
      `*3\r\n$5\r\n${dec(binary)}\r\n$-1\r\n$1\r\n3\r\n`,
    );
    assert.equal(await send("EXISTS", "a", "a", "nope", "b"), ":3\r\n");
    assert.equal(await send("DEL", "a", "b", "nope"), ":2\r\n");
    assert.equal(await send("DBSIZE"), ":1\r\n");
  });
});

test("commands: standard errors for unknown commands, bad arity and bad keys", async () => {
  await withSession(async (send) => {
    assert.equal(
      await send("FOO", "a", "b"),
      "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    );
    assert.equal(await send("nope"), "-ERR unknown command 'nope', with args beginning with: \r\n");
    assert.equal(await send("GET"), "-ERR wrong number of arguments for 'get' command\r\n");
    assert.equal(await send("SET", "k"), "-ERR wrong number of arguments for 'set' command\r\n");
    assert.equal(
      await send("MSET", "a", "1", "b"),
      "-ERR wrong number of arguments for 'mset' command\r\n",
    );
    assert.equal(
      await send("PING", "a", "b"),
      "-ERR wrong number of arguments for 'ping' command\r\n",
    );
    assert.match(await send("GET", "k".repeat(3000)), /^-ERR key too long/);
    assert.match(await send("SET", "k".repeat(3000), "v"), /^-ERR key too long/);
    assert.equal(await send("SET", "k", "v", "BOGUS"), "-ERR syntax error\r\n");
    assert.equal(
      await send("SET", "k", "v", "EX", "0"),
      "-ERR invalid expire time in 'set' command\r\n",
    );
    assert.equal(
      await send("SET", "k", "v", "EX", "1.5"),
      "-ERR value is not an integer or out of range\r\n",
    );
    assert.equal(await send("GET", "k"), "$-1\r\n", "a rejected SET stores nothing");
  });
});

test("commands: SET NX/XX/EX/PX, TTL, PTTL, EXPIRE, PEXPIRE, PERSIST with a manual clock", async () => {
  await withSession(async (send, clock) => {
    assert.equal(await send("SET", "k", "1", "XX"), "$-1\r\n");
    assert.equal(await send("SET", "k", "1", "NX", "EX", "10"), "+OK\r\n");
    assert.equal(await send("SET", "k", "2", "NX"), "$-1\r\n");
    assert.equal(await send("GET", "k"), "$1\r\n1\r\n");
    assert.equal(await send("TTL", "k"), ":10\r\n");
    assert.equal(await send("PTTL", "k"), ":10000\r\n");
    assert.equal(await send("SET", "k", "3", "XX", "PX", "1500"), "+OK\r\n");
    assert.equal(await send("PTTL", "k"), ":1500\r\n");
    assert.equal(await send("PERSIST", "k"), ":1\r\n");
    assert.equal(await send("PERSIST", "k"), ":0\r\n");
    assert.equal(await send("TTL", "k"), ":-1\r\n");
    assert.equal(await send("TTL", "missing"), ":-2\r\n");
    assert.equal(await send("EXPIRE", "k", "5"), ":1\r\n");
    assert.equal(await send("PEXPIRE", "missing", "5"), ":0\r\n");
    clock.now += 4_000;
    assert.equal(await send("GET", "k"), "$1\r\n3\r\n", "the value survives EXPIRE");
    assert.equal(await send("PTTL", "k"), ":1000\r\n");
    clock.now += 1_000;
    assert.equal(await send("GET", "k"), "$-1\r\n");
    assert.equal(await send("SET", "k", "4"), "+OK\r\n");
    assert.equal(await send("EXPIRE", "k", "-1"), ":1\r\n");
    assert.equal(await send("EXISTS", "k"), ":0\r\n", "a TTL <= 0 deletes");
    assert.equal(await send("EXPIRE", "k", "5", "BOGUS"), "-ERR Unsupported option BOGUS\r\n");
  });
});

test("commands: counters store decimal strings, keep TTLs and accept library counters", async () => {
  await withSession(async (send, clock) => {
    assert.equal(await send("INCR", "n"), ":1\r\n");
    assert.equal(await send("INCRBY", "n", "41"), ":42\r\n");
    assert.equal(await send("GET", "n"), "$2\r\n42\r\n");
    assert.equal(await send("DECR", "n"), ":41\r\n");
    assert.equal(await send("DECRBY", "n", "-9"), ":50\r\n");
    assert.equal(await send("SET", "s", "-7", "EX", "100"), "+OK\r\n");
    assert.equal(await send("INCR", "s"), ":-6\r\n");
    assert.equal(await send("TTL", "s"), ":100\r\n", "INCR keeps the TTL");
    clock.now += 100_000;
    assert.equal(await send("INCR", "s"), ":1\r\n", "an expired counter starts from 0");
    assert.equal(await send("TTL", "s"), ":-1\r\n");
    assert.equal(await send("SET", "t", "abc"), "+OK\r\n");
    assert.equal(await send("INCR", "t"), "-ERR value is not an integer or out of range\r\n");
    assert.equal(await send("SET", "t", "007"), "+OK\r\n");
    assert.equal(await send("INCR", "t"), "-ERR value is not an integer or out of range\r\n");
    assert.equal(
      await send("INCRBY", "n", "x"),
      "-ERR value is not an integer or out of range\r\n",
    );
    assert.equal(await send("SET", "max", String(Number.MAX_SAFE_INTEGER)), "+OK\r\n");
    assert.equal(await send("INCR", "max"), ":9007199254740992\r\n", "beyond 2^53, exact");
    assert.equal(await send("SET", "max", "9223372036854775806"), "+OK\r\n");
    assert.equal(await send("INCR", "max"), ":9223372036854775807\r\n");
    assert.equal(await send("INCR", "max"), "-ERR increment or decrement would overflow\r\n");
    // An 8-byte counter written by store.incr stays in that format.
    assert.equal(await send("SET", "lib", encodeCounter(5)), "+OK\r\n");
    assert.equal(await send("INCRBY", "lib", "3"), ":8\r\n");
    assert.equal(await send("GET", "lib"), `$8\r\n${dec(encodeCounter(8))}\r\n`);
  });
});

test("commands: a counter made by INCR reads back as decimal, one made by store.incr as 8 bytes", async () => {
  const store = await openStore("", { backend: "memory", shards: 2 });
  const session = new RespSession(context(store));
  try {
    await store.incr("lib", 7);
    assert.equal(dec((await session.feed(cmd("INCR", "lib"))).reply), ":8\r\n");
    assert.equal(await store.incr("lib"), 9, "the library still reads it as a counter");
    await session.feed(cmd("INCR", "wire"));
    assert.equal(dec(await store.get("wire")), "1");
  } finally {
    session.end();
    await store.close();
  }
});

test("commands: KEYS and SCAN with prefix* MATCH, COUNT and numeric cursors", async () => {
  await withSession(async (send) => {
    for (let i = 0; i < 25; i++) await send("SET", `user:${String(i).padStart(2, "0")}`, "x");
    await send("SET", "other", "x");
    await send("SET", "a*b", "x");
    assert.equal(await send("KEYS", "other"), "*1\r\n$5\r\nother\r\n");
    assert.equal(await send("KEYS", "a\\*b"), "*1\r\n$3\r\na*b\r\n");
    assert.match(await send("KEYS", "user:*"), /^\*25\r\n\$7\r\nuser:00\r\n/);
    assert.equal(await send("KEYS", "u?er:0[^1-9]"), "*1\r\n$7\r\nuser:00\r\n");
    const seen: string[] = [];
    let cursor = "0";
    let pages = 0;
    do {
      const reply = await send("SCAN", cursor, "MATCH", "user:*", "COUNT", "10");
      const lines = reply.split("\r\n");
      cursor = lines[2];
      assert.match(cursor, /^\d+$/);
      for (let i = 5; i < lines.length; i += 2) seen.push(lines[i]);
      pages++;
    } while (cursor !== "0");
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => `user:${String(i).padStart(2, "0")}`),
    );
    assert.equal(await send("SCAN", "999"), "-ERR invalid cursor\r\n");
    assert.equal(await send("SCAN", "0", "COUNT", "0"), "-ERR syntax error\r\n");
  });
});

test("commands: INFO, COMMAND COUNT/DOCS/INFO, CONFIG GET, SELECT", async () => {
  await withSession(async (send) => {
    await send("SET", "k", "v");
    const info = await send("INFO");
    assert.match(info, /redis_version:7\.0\.15\r\n/);
    assert.match(info, /loading:0\r\n/);
    assert.match(info, /connected_clients:1\r\n/);
    assert.match(info, /backend:memory\r\nshards:4\r\n/);
    assert.doesNotMatch(info, /Keyspace/, "no key count unless asked for");
    assert.match(await send("INFO", "keyspace"), /^\$\d+\r\n# Keyspace\r\ndb0:keys=1,/);
    assert.match(await send("INFO", "all"), /# Shardkv\r\n[^]*# Keyspace\r\ndb0:keys=1,/);
    assert.doesNotMatch(await send("INFO", "server"), /Keyspace/);
    const count = Number((await send("COMMAND", "COUNT")).slice(1, -2));
    assert.ok(count >= 25, `COMMAND COUNT ${count}`);
    assert.match(await send("COMMAND"), new RegExp(`^\\*${count}\\r\\n`));
    assert.match(
      await send("COMMAND", "DOCS", "get"),
      /^\*2\r\n\$3\r\nget\r\n\*6\r\n\$7\r\nsummary/,
    );
    assert.equal(
      await send("COMMAND", "INFO", "get", "nope"),
      "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n" +
        "*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n$-1\r\n",
    );
    assert.match(await send("COMMAND", "BOGUS"), /^-ERR unknown subcommand 'BOGUS'/);
    assert.equal(
      await send("CONFIG", "GET", "appendonly"),
      "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
    );
    assert.equal(await send("SELECT", "0"), "+OK\r\n");
    assert.equal(await send("SELECT", "16"), "-ERR DB index is out of range\r\n");
  });
});

test("session: pipelined and split requests reply in order; QUIT and protocol errors close", async () => {
  const store = await openStore("", { backend: "memory", shards: 4 });
  const ctx = context(store);
  try {
    const session = new RespSession(ctx);
    const bytes = concat([
      cmd("SET", "a", "1"),
      cmd("INCR", "a"),
      cmd("GET", "a"),
      enc("PING\r\n"),
    ]);
    const replies = await Promise.all(
      Array.from(bytes, (_, i) => session.feed(bytes.subarray(i, i + 1))),
    );
    assert.equal(replies.map((r) => dec(r.reply)).join(""), "+OK\r\n:2\r\n$1\r\n2\r\n+PONG\r\n");
    const quit = await session.feed(concat([cmd("QUIT"), cmd("PING")]));
    assert.deepEqual([dec(quit.reply), quit.close], ["+OK\r\n", true]);
    session.end();

    const bad = new RespSession(ctx);
    const r = await bad.feed(concat([cmd("PING"), enc("*1\r\n$x\r\n"), cmd("PING")]));
    assert.equal(dec(r.reply), "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
    assert.equal(r.close, true);
    bad.end();
    assert.equal(ctx.clients, 0);
  } finally {
    await store.close();
  }
});

test("session: pipelined GET and SET runs of several connections in one turn answer each its own", async () => {
  const store = await openStore("", { backend: "memory", shards: 4 });
  const ctx = context(store);
  const sessions = [0, 1, 2].map(() => new RespSession(ctx));
  try {
    await store.batchSet([["a", enc("1")], ["b", enc("2")], ["c", enc("3")]]);
    // Fed in one turn: the GET runs share one batchGet and the SET run joins the turn's batchSet,
    // yet each connection gets the replies of its own commands, in its own order and database.
    const [first, second, third] = await Promise.all([
      sessions[0].feed(concat([cmd("GET", "a"), cmd("GET", "nope"), cmd("GET", "b")])),
      sessions[1].feed(concat([cmd("SELECT", "1"), cmd("GET", "a"), cmd("GET", "a")])),
      sessions[2].feed(concat([cmd("SET", "d", "4"), cmd("SET", "a", "5"), cmd("GET", "d")])),
    ]);
    // Session 2's SET a 5 is concurrent with session 0's GET a: either value is right.
    assert.ok(
      ["$1\r\n1\r\n$-1\r\n$1\r\n2\r\n", "$1\r\n5\r\n$-1\r\n$1\r\n2\r\n"].includes(
        dec(first.reply)!,
      ),
      JSON.stringify(dec(first.reply)),
    );
    assert.equal(dec(second.reply), "+OK\r\n$-1\r\n$-1\r\n");
    assert.equal(dec(third.reply), "+OK\r\n+OK\r\n$1\r\n4\r\n");
    assert.equal(dec((await sessions[0].feed(cmd("GET", "a"))).reply), "$1\r\n5\r\n");
    assert.equal(ctx.commands, 10);
  } finally {
    for (const s of sessions) s.end();
    await store.close();
  }
});

test("session: runs of pipelined SETs and GETs give the replies of running them one by one", async () => {
  const store = await openStore("", { backend: "memory", shards: 4 });
  const ctx = context(store);
  const session = new RespSession(ctx);
  try {
    await store.set("ttl", enc("old"), { ttl: 60_000 });
    const pipeline = concat([
      cmd("SET", "a", "1"),
      cmd("SET", "a", "2"),
      cmd("SET", "ttl", "new"),
      cmd("SET", "b", "x"),
      cmd("GET", "a"),
      cmd("GET", "nope"),
      cmd("GET", "b"),
      cmd("SET", "a", "3", "NX"),
      cmd("SET", "c", "1"),
      cmd("SET", "k".repeat(3000), "bad key"),
      cmd("SET", "d", "1"),
      cmd("GET", "c"),
      cmd("GET", "k".repeat(3000)),
      cmd("GET", "d"),
    ]);
    const { reply } = await session.feed(pipeline);
    assert.equal(
      dec(reply),
      "+OK\r\n+OK\r\n+OK\r\n+OK\r\n$1\r\n2\r\n$-1\r\n$1\r\nx\r\n$-1\r\n+OK\r\n" +
        "-ERR key too long: shardkv keys are at most 2048 bytes, received 3000\r\n" +
        "+OK\r\n$1\r\n1\r\n" +
        "-ERR key too long: shardkv keys are at most 2048 bytes, received 3000\r\n$1\r\n1\r\n",
    );
    assert.equal(
      await store.ttl("ttl"),
      Infinity,
      "a batched SET clears the TTL like a single one",
    );
    assert.equal(ctx.commands, 14);
  } finally {
    session.end();
    await store.close();
  }
});

/** A server on a free port over a store in a temp dir (SQLite). */
async function withServer(fn: (port: number, store: Store) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 4 });
    const server = await serveResp(store, { port: 0 });
    try {
      assert.equal(server.hostname, "127.0.0.1");
      await fn(server.port, store);
    } finally {
      await server.close();
      await store.close();
    }
  });
}

/** Runs redis-cli; resolves with its stdout. A missing redis-cli fails the test. */
function redisCli(port: number, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("redis-cli", ["-p", String(port), ...args], (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(" ")} failed: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

test(
  "redis-cli: commands, errors, --scan and piped input against a live server",
  SLOW,
  async () => {
    await withServer(async (port, store) => {
      assert.equal(await redisCli(port, ["PING"]), "PONG\n");
      assert.equal(await redisCli(port, ["SET", "greeting", "hello world"]), "OK\n");
      assert.equal(await redisCli(port, ["GET", "greeting"]), "hello world\n");
      assert.equal(dec(await store.get("greeting")), "hello world");
      assert.equal(await redisCli(port, ["INCRBY", "hits", "5"]), "5\n");
      assert.equal(await redisCli(port, ["SET", "tmp", "x", "EX", "100"]), "OK\n");
      assert.equal(await redisCli(port, ["TTL", "tmp"]), "100\n");
      assert.equal(await redisCli(port, ["MGET", "greeting", "nope"]), "hello world\n\n");
      assert.equal(
        (await redisCli(port, ["FOO", "bar"])).trimEnd(),
        "ERR unknown command 'FOO', with args beginning with: 'bar'",
      );
      for (let i = 0; i < 30; i++) await store.set(`user:${i}`, enc("x"));
      const scanned = (await redisCli(port, ["--scan", "--pattern", "user:*"]))
        .trim().split("\n").sort();
      assert.equal(scanned.length, 30);
      assert.equal(new Set(scanned).size, 30);
      assert.equal(await redisCli(port, ["DBSIZE"]), "33\n");
      assert.equal(await redisCli(port, ["COMMAND", "COUNT"]).then((s) => Number(s) > 20), true);
      // Several commands on stdin: one connection, replies in order.
      assert.equal(await redisCli(port, [], "SET a 1\nINCR a\nGET a\nDEL a\n"), "OK\n2\n2\n1\n");
    });
  },
);

test("ioredis: commands, pipeline, binary values, TTLs and scanStream", SLOW, async () => {
  await withServer(async (port) => {
    const client = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    try {
      await client.connect();
      assert.equal(await client.set("k", "v"), "OK");
      assert.equal(await client.get("k"), "v");
      assert.equal(await client.set("k", "w", "NX"), null);
      assert.equal(await client.set("n", "10", "EX", 60), "OK");
      assert.equal(await client.incrby("n", 5), 15);
      assert.equal(await client.ttl("n"), 60);
      const binary = Buffer.from([0, 1, 2, 255, 254, 13, 10]);
      await client.set("bin", binary);
      assert.deepEqual(await client.getBuffer("bin"), binary);
      const pipe = client.pipeline();
      for (let i = 0; i < 200; i++) pipe.set(`p:${i}`, String(i));
      for (let i = 0; i < 200; i++) pipe.incr(`p:${i}`);
      const results = await pipe.exec();
      assert.equal(results!.length, 400);
      assert.deepEqual(results![399], [null, 200]);
      assert.deepEqual(await client.mget("p:0", "p:199", "none"), ["1", "200", null]);
      const keys: string[] = [];
      await new Promise<void>((resolve, reject) => {
        client.scanStream({ match: "p:*", count: 50 })
          .on("data", (batch: string[]) => keys.push(...batch))
          .on("end", resolve)
          .on("error", reject);
      });
      assert.equal(keys.length, 200);
      assert.equal(await client.del("p:0", "p:1", "zzz"), 2);
      await assert.rejects(client.call("NOPE"), /unknown command 'NOPE'/);
      assert.equal(await client.ping(), "PONG", "the connection survives an error reply");
    } finally {
      client.disconnect();
    }
  });
});

/** A raw TCP client that collects everything the server sends until it closes. */
function rawClient(
  port: number,
): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  let data = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => data += chunk);
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => {});
  return { socket, received: () => data, closed };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
}

function write(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (e) => (e ? reject(e) : resolve())));
}

test("raw TCP: 500 pipelined commands in one write get 500 replies in order", SLOW, async () => {
  await withServer(async (port) => {
    const c = rawClient(port);
    const parts: Uint8Array[] = [];
    let expected = "";
    for (let i = 0; i < 250; i++) {
      parts.push(cmd("SET", `k${i}`, `v${i}`), cmd("GET", `k${i}`));
      expected += `+OK\r\n$${`v${i}`.length}\r\nv${i}\r\n`;
    }
    await write(c.socket, concat(parts));
    await until(() => c.received().length >= expected.length, "500 replies");
    assert.equal(c.received(), expected);
    c.socket.end();
    await c.closed;
  });
});

test("raw TCP: a command split byte by byte across writes, then an inline one", SLOW, async () => {
  await withServer(async (port) => {
    const c = rawClient(port);
    const bytes = concat([
      cmd("SET", "split", "a\r\nb"),
      cmd("GET", "split"),
      enc('ECHO "x y"\r\n'),
    ]);
    for (let i = 0; i < bytes.byteLength; i++) {
      await write(c.socket, bytes.subarray(i, i + 1));
      // Let each byte reach the server as its own read.
      if (i % 4 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    const expected = "+OK\r\n$4\r\na\r\nb\r\n$3\r\nx y\r\n";
    await until(() => c.received().length >= expected.length, "the replies");
    assert.equal(c.received(), expected);
    c.socket.end();
    await c.closed;
  });
});

test(
  "raw TCP: garbage gets a protocol error and a disconnect; other clients keep working",
  SLOW,
  async () => {
    await withServer(async (port) => {
      const good = rawClient(port);
      await write(good.socket, cmd("SET", "x", "1"));
      await until(() => good.received() === "+OK\r\n", "the first reply");
      const bad = rawClient(port);
      await write(bad.socket, concat([cmd("PING"), enc("*2\r\n$3\r\nGET\r\n:1\r\n")]));
      await bad.closed;
      assert.equal(bad.received(), "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n");
      await write(good.socket, cmd("GET", "x"));
      await until(() => good.received().length >= 12, "the second reply");
      assert.equal(good.received(), "+OK\r\n$1\r\n1\r\n");
      const quitter = rawClient(port);
      await write(quitter.socket, enc("QUIT\r\n"));
      await quitter.closed;
      assert.equal(quitter.received(), "+OK\r\n");
      good.socket.end();
      await good.closed;
    });
  },
);

/** Bad arguments for every command: empty, non-UTF-8, huge and non-numeric values. */
const HOSTILE: (string | Uint8Array)[][] = [
  [],
  [""],
  [new Uint8Array([0xff])],
  ["", new Uint8Array([0xff])],
  [new Uint8Array([0xff]), ""],
  ["k", "", new Uint8Array([0xff]), "99999999999999999999999"],
  ["k", "v", "EX", "-1", "PX", "abc"],
  ["0", "MATCH", "[", "COUNT", "0", "TYPE"],
  ["GET", "", new Uint8Array([0xfe])],
  ["k".repeat(3000), "v", "k"],
  ["k", "k".repeat(3000), "k".repeat(3000)],
  ["k", "4294967296", "1"],
  ["k", "-9223372036854775808", "9223372036854775807"],
  ["k", "9223372036854775808", "-9223372036854775809", "BIT"],
  ["0", "MATCH", "*[", "COUNT", "9223372036854775807"],
  ["k", "k2", "DB", "15", "REPLACE", "DB"],
  ["k", "k2", "IDX", "MINMATCHLEN", "-1", "WITHMATCHLEN", "LEN"],
  ["GET", "*", "SET", "requirepass"],
  ["3", "AUTH", "default", "x", "SETNAME"],
  ["k", "1", "NX", "XX", "GT", "LT"],
];

test("hostile arguments to every command: error replies, no unhandled rejection (issue 16)", async () => {
  const process = (await import("node:process")).default;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    await withSession(async (send) => {
      const names = (await send("COMMAND")).match(/\*\d+\r\n\$\d+\r\n([a-z]+)\r\n/g)!
        .map((m) => m.split("\r\n")[2]);
      assert.ok(names.length > 10, `COMMAND lists the commands, got ${names.length}`);
      for (const name of [...names, "exists", "del", "mget", "mset"]) {
        for (const args of HOSTILE) {
          await send(name === "quit" || name === "multi" ? "PING" : name, ...args);
          assert.equal(await send("PING"), "+PONG\r\n", `alive after ${name} ${args.length}`);
        }
      }
      assert.match(await send("EXISTS", "", new Uint8Array([0xff])), /^[-:]/);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(unhandled, []);
    });
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("MULTI/EXEC: keys of one shard run in one transaction; keys of several get CROSSSLOT", async () => {
  const store = await openStore("", { backend: "memory", shards: 4 });
  const ctx = context(store);
  const a = new RespSession(ctx);
  const b = new RespSession(ctx);
  const send = async (s: RespSession, ...args: string[]) =>
    dec((await s.feed(cmd(...args))).reply)!;
  try {
    // "a" and "b" are on different shards of 4 (FNV-1a), "{a}x" is on a's.
    assert.notEqual(shardOf("a", 4), shardOf("b", 4));
    assert.equal(await send(a, "MULTI"), "+OK\r\n");
    assert.equal(await send(a, "SET", "a", "1"), "+QUEUED\r\n");
    assert.equal(await send(a, "SET", "{a}x", "2"), "+QUEUED\r\n");
    assert.equal(
      await send(a, "SET", "b", "3"),
      "-CROSSSLOT Keys in request don't hash to the same slot\r\n",
    );
    assert.equal(
      await send(a, "EXEC"),
      "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    assert.equal(await send(a, "EXISTS", "a", "{a}x", "b"), ":0\r\n", "nothing ran");
    assert.equal(await send(a, "MULTI"), "+OK\r\n");
    assert.match(await send(a, "MSET", "a", "1", "b", "2"), /^-CROSSSLOT/);
    assert.equal(await send(a, "DISCARD"), "+OK\r\n");
    // WATCH: another connection's write makes EXEC fail with a null array.
    assert.equal(await send(a, "WATCH", "a"), "+OK\r\n");
    assert.equal(await send(b, "SET", "a", "theirs"), "+OK\r\n");
    assert.equal(await send(a, "MULTI"), "+OK\r\n");
    assert.equal(await send(a, "SET", "a", "mine"), "+QUEUED\r\n");
    assert.equal(await send(a, "EXEC"), "*-1\r\n");
    assert.equal(await send(a, "GET", "a"), "$6\r\ntheirs\r\n");
    // Without interference it runs, and the other connection sees all of it or none of it.
    assert.equal(await send(a, "WATCH", "a"), "+OK\r\n");
    assert.equal(await send(a, "MULTI"), "+OK\r\n");
    await send(a, "SET", "a", "1");
    await send(a, "INCRBY", "{a}x", "5");
    const [exec, seen] = await Promise.all([send(a, "EXEC"), send(b, "MGET", "a", "{a}x")]);
    assert.equal(exec, "*2\r\n+OK\r\n:5\r\n");
    assert.ok(
      ["*2\r\n$6\r\ntheirs\r\n$-1\r\n", "*2\r\n$1\r\n1\r\n$1\r\n5\r\n"].includes(seen),
      `isolation: ${JSON.stringify(seen)}`,
    );
  } finally {
    a.end();
    b.end();
    await store.close();
  }
});

test("CLIENT ID/SETNAME/LIST/INFO/KILL and SELECT keep databases apart", async () => {
  const store = await openStore("", { backend: "memory", shards: 4 });
  const ctx = context(store);
  const a = new RespSession(ctx);
  const b = new RespSession(ctx);
  const send = async (s: RespSession, ...args: string[]) => (await s.feed(cmd(...args)));
  const text = async (s: RespSession, ...args: string[]) => dec((await send(s, ...args)).reply)!;
  try {
    const idA = Number((await text(a, "CLIENT", "ID")).slice(1, -2));
    const idB = Number((await text(b, "CLIENT", "ID")).slice(1, -2));
    assert.notEqual(idA, idB);
    assert.equal(await text(a, "CLIENT", "SETNAME", "worker-1"), "+OK\r\n");
    assert.equal(await text(a, "CLIENT", "GETNAME"), "$8\r\nworker-1\r\n");
    const list = await text(b, "CLIENT", "LIST");
    assert.match(list, new RegExp(`id=${idA} [^\\n]* name=worker-1 `));
    assert.match(list, new RegExp(`id=${idB} `));
    assert.match(await text(a, "CLIENT", "INFO"), new RegExp(`^\\$\\d+\\r\\nid=${idA} `));
    // Databases: the same key name in db 0 and db 5, and a library key read from db 0.
    await store.set("lib", enc("from the library"));
    assert.equal(await text(a, "GET", "lib"), "$16\r\nfrom the library\r\n");
    assert.equal(await text(a, "SELECT", "5"), "+OK\r\n");
    assert.equal(await text(a, "SET", "lib", "db5"), "+OK\r\n");
    assert.equal(await text(a, "DBSIZE"), ":1\r\n");
    assert.equal(await text(b, "GET", "lib"), "$16\r\nfrom the library\r\n");
    assert.match(await text(b, "INFO", "keyspace"), /db0:keys=1,[^]*db5:keys=1,/);
    assert.equal(await text(a, "FLUSHDB"), "+OK\r\n");
    assert.equal(dec(await store.get("lib")), "from the library", "FLUSHDB in db 5 spares db 0");
    // CLIENT KILL ID: the killed connection closes after its next reply.
    assert.equal(await text(b, "CLIENT", "KILL", "ID", String(idA)), ":1\r\n");
    const killed = await send(a, "PING");
    assert.equal(killed.close, true);
    assert.equal(await text(b, "CLIENT", "KILL", "ID", "999999"), ":0\r\n");
  } finally {
    a.end();
    b.end();
    await store.close();
  }
});

test("LCS refuses values whose table would pass its memory bound, and stays usable", async () => {
  await withSession(async (send) => {
    await send("SET", "a", "x".repeat(4096));
    await send("SET", "b", "x".repeat(4096));
    assert.match(
      await send("LCS", "a", "b", "LEN"),
      /^-ERR LCS needs \(len1\+1\)\*\(len2\+1\) <= 16777216/,
    );
    await send("SET", "b", "x".repeat(4000));
    assert.equal(await send("LCS", "a", "b", "LEN"), ":4000\r\n");
  });
});
