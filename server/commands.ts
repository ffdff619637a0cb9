/**
 * Redis command dispatch over a shardkv `Store`, runtime-agnostic: arguments in, a reply out.
 *
 * @module
 */
import {
  decodeCounter,
  deleteKey,
  encodeCounter,
  existsKey,
  getKey,
  setKey,
  type Store,
  writeTxn,
} from "../mod.ts";
import { countKeys } from "./_count_keys.ts";
import { ErrorReply, OK, type Reply, SimpleReply } from "./resp.ts";

/** A command failed with this exact Redis error reply (code included, e.g. `"ERR ..."`). */
export class CommandError extends Error {
  /** Always `"CommandError"`. */
  override readonly name = "CommandError";
}

/** Server-wide state the commands read: the store, counters for INFO, SCAN cursors. */
export interface ServerContext {
  /** The store every connection shares. */
  readonly store: Store;
  /** `Date.now()` when the server started. */
  readonly startedAt: number;
  /** The TCP port it listens on. */
  port: number;
  /** Open connections. */
  clients: number;
  /** Commands processed so far. */
  commands: number;
  /** SCAN cursors handed out and not yet finished. */
  readonly cursors: ScanCursors;
}

/**
 * SCAN cursors. redis-cli parses a cursor as an unsigned 64-bit integer, so the cursor cannot be
 * the store's `after` key itself: each unfinished scan stores its last key under a number
 * (1, 2, ...) and the client sends that number back. "0" starts and ends a scan. The table keeps
 * the newest {@linkcode ScanCursors.limit} cursors; an older one gets `-ERR invalid cursor`.
 *
 * @example
 * ```ts
 * import { ScanCursors } from "@shardkv/shardkv/server";
 * const cursors = new ScanCursors();
 * const id = cursors.save("user:42");
 * cursors.resume(id); // "user:42"
 * ```
 */
export class ScanCursors {
  /** How many unfinished cursors are kept. */
  static readonly limit = 10_000;
  #next = 1;
  #afters = new Map<string, string>();

  /** Stores `after` and returns its cursor. */
  save(after: string): string {
    const id = String(this.#next++);
    this.#afters.set(id, after);
    if (this.#afters.size > ScanCursors.limit) {
      this.#afters.delete(this.#afters.keys().next().value!);
    }
    return id;
  }

  /** The `after` key of `cursor` (`undefined` for "0"); throws for an unknown cursor. */
  resume(cursor: string): string | undefined {
    if (cursor === "0") return undefined;
    const after = this.#afters.get(cursor);
    if (after === undefined) throw new CommandError("ERR invalid cursor");
    return after;
  }
}

/** What a command runs with: the server and its arguments (command name excluded). */
interface Call {
  ctx: ServerContext;
  args: Uint8Array[];
}

interface CommandSpec {
  /** Redis arity: argument count including the name; negative means "at least". */
  arity: number;
  flags: string[];
  /** Key positions for COMMAND INFO: first, last (-1: to the end), step. */
  keys: [number, number, number];
  run(call: Call): Promise<Reply> | Reply;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const PONG = new SimpleReply("PONG");

/** An argument as text (command names, options, numbers); not for keys. */
function text(bytes: Uint8Array): string {
  return String.fromCharCode(...(bytes.length > 256 ? bytes.subarray(0, 256) : bytes));
}

/** A key: its bytes must be valid UTF-8, since shardkv keys are strings. */
function keyOf(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new CommandError("ERR invalid key: not valid UTF-8 (shardkv keys are strings)");
  }
}

/** A Redis integer argument, limited to JavaScript's safe integers. */
function int(bytes: Uint8Array): number {
  const s = text(bytes);
  const n = /^(0|-?[1-9]\d{0,18})$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new CommandError("ERR value is not an integer or out of range");
  }
  return n;
}

/** The decimal integer a value holds (Redis's string2ll rules), or `undefined`. */
function decimalOf(value: Uint8Array): number | undefined {
  if (value.byteLength === 0 || value.byteLength > 20) return undefined;
  const s = text(value);
  return /^(0|-?[1-9]\d*)$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined;
}

/** A TTL option from the ms left: `Infinity` (no expiry) becomes no option. */
function keepTtl(left: number): { ttl?: number } {
  return Number.isFinite(left) ? { ttl: Math.max(1, left) } : {};
}

/**
 * INCRBY as Redis does it, atomically: a missing key counts as 0, a decimal string is parsed and
 * the result is stored as a decimal string, and the TTL is kept. A value that is not a decimal
 * string but has 8 bytes is a counter written by shardkv's `store.incr` and stays in that format,
 * so library code and Redis clients can share counters.
 */
async function incrBy(ctx: ServerContext, key: string, by: number): Promise<number> {
  return await writeTxn(ctx.store, async (txn) => {
    const stored = await getKey(txn, key);
    // Read under the shard lock, so no write lands between the value and its TTL.
    const left = stored === undefined ? undefined : await ctx.store.ttl(key);
    const old = left === undefined ? undefined : stored;
    let n = 0;
    let binary = false;
    if (old !== undefined) {
      const dec = decimalOf(old);
      if (dec !== undefined) n = dec;
      else if (old.byteLength === 8) {
        n = decodeCounter(old);
        binary = true;
      } else throw new CommandError("ERR value is not an integer or out of range");
    }
    const next = n + by;
    if (!Number.isSafeInteger(next)) {
      throw new CommandError("ERR increment or decrement would overflow");
    }
    const value = binary ? encodeCounter(next) : encoder.encode(String(next));
    await setKey(txn, key, value, left === undefined ? {} : keepTtl(left));
    return next;
  });
}

/** EXPIRE/PEXPIRE: a new TTL for a live key, atomically; a TTL <= 0 deletes the key. */
async function expire(call: Call, name: string, unit: number): Promise<Reply> {
  if (call.args.length > 2) {
    throw new CommandError(`ERR Unsupported option ${text(call.args[2])}`);
  }
  const key = keyOf(call.args[0]);
  const n = int(call.args[1]);
  const ms = n * unit;
  if (!Number.isSafeInteger(ms)) {
    throw new CommandError(`ERR invalid expire time in '${name}' command`);
  }
  return await writeTxn(call.ctx.store, async (txn) => {
    const value = await getKey(txn, key);
    if (value === undefined) return 0;
    if (ms <= 0) await deleteKey(txn, key);
    else await setKey(txn, key, value, { ttl: ms });
    return 1;
  });
}

/** SET key value [NX|XX] [EX seconds|PX milliseconds]. */
async function set(call: Call): Promise<Reply> {
  const key = keyOf(call.args[0]);
  const value = call.args[1];
  let cond: "NX" | "XX" | undefined;
  let ttl: number | undefined;
  for (let i = 2; i < call.args.length; i++) {
    const opt = text(call.args[i]).toUpperCase();
    if ((opt === "NX" || opt === "XX") && cond === undefined) cond = opt;
    else if ((opt === "EX" || opt === "PX") && ttl === undefined && i + 1 < call.args.length) {
      const n = int(call.args[++i]);
      ttl = n * (opt === "EX" ? 1000 : 1);
      if (n <= 0 || !Number.isSafeInteger(ttl)) {
        throw new CommandError("ERR invalid expire time in 'set' command");
      }
    } else throw new CommandError("ERR syntax error");
  }
  const store = call.ctx.store;
  if (cond === undefined) {
    await store.set(key, value, { ttl });
    return OK;
  }
  return await writeTxn(store, async (txn) => {
    if ((await existsKey(txn, key)) !== (cond === "XX")) return null;
    await setKey(txn, key, value, { ttl });
    return OK;
  });
}

/** A MATCH/KEYS pattern shardkv can answer with a prefix scan: `prefix*`, `*` or a literal key. */
interface Pattern {
  prefix: string;
  /** Only the key equal to the prefix matches (a pattern without `*`). */
  exact: boolean;
}

function patternOf(bytes: Uint8Array): Pattern {
  const pattern = keyOf(bytes);
  let prefix = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\" && i + 1 < pattern.length) prefix += pattern[++i];
    else if (c === "*" && i === pattern.length - 1) return { prefix, exact: false };
    else if (c === "*" || c === "?" || c === "[") {
      throw new CommandError(
        `ERR shardkv supports only 'prefix*' patterns, received '${pattern.slice(0, 128)}'`,
      );
    } else prefix += c;
  }
  return { prefix, exact: true };
}

async function keys(call: Call): Promise<Reply> {
  const { prefix, exact } = patternOf(call.args[0]);
  if (exact) return prefix !== "" && await call.ctx.store.exists(prefix) ? [prefix] : [];
  return await call.ctx.store.scanKeys(prefix);
}

/** SCAN cursor [MATCH pattern] [COUNT n]: one page of `scanKeys` resumed after the cursor's key. */
async function scan(call: Call): Promise<Reply> {
  const { ctx, args } = call;
  const cursor = text(args[0]);
  let pattern: Pattern = { prefix: "", exact: false };
  let count = 10;
  for (let i = 1; i < args.length; i += 2) {
    const opt = text(args[i]).toUpperCase();
    if (i + 1 >= args.length) throw new CommandError("ERR syntax error");
    if (opt === "MATCH") pattern = patternOf(args[i + 1]);
    else if (opt === "COUNT") {
      count = int(args[i + 1]);
      if (count < 1) throw new CommandError("ERR syntax error");
    } else if (opt === "TYPE") {
      if (text(args[i + 1]).toLowerCase() !== "string") return ["0", []];
    } else throw new CommandError("ERR syntax error");
  }
  const after = ctx.cursors.resume(cursor);
  const page = await ctx.store.scanKeys(pattern.prefix, { limit: count, after });
  const next = page.length < count ? "0" : ctx.cursors.save(page[page.length - 1]);
  return [next, pattern.exact ? page.filter((k) => k === pattern.prefix) : page];
}

/** The version shardkv reports as `redis_version`: the Redis 7.0 command set it answers like. */
const REDIS_VERSION = "7.0.0";

async function info(call: Call): Promise<Reply> {
  const { ctx } = call;
  const only = call.args[0] === undefined ? undefined : text(call.args[0]).toLowerCase();
  const stats = ctx.store.stats();
  const sections: Record<string, [string, string | number][]> = {
    server: [
      ["redis_version", REDIS_VERSION],
      ["redis_mode", "standalone"],
      ["shardkv_version", "0.1.0"],
      ["tcp_port", ctx.port],
      ["uptime_in_seconds", Math.floor((Date.now() - ctx.startedAt) / 1000)],
    ],
    clients: [["connected_clients", ctx.clients]],
    persistence: [["loading", 0]],
    stats: [
      ["total_commands_processed", ctx.commands],
      ["keyspace_hits", stats.cache?.hits ?? 0],
      ["keyspace_misses", stats.cache?.misses ?? 0],
      ["expired_keys", stats.swept],
    ],
    shardkv: [
      ["backend", ctx.store.backend],
      ["shards", ctx.store.shards],
      ["path", ctx.store.path],
      ["cache", stats.cache ? "on" : "off"],
      ["cache_entries", stats.cache?.entries ?? 0],
      ["cache_bytes", stats.cache?.bytes ?? 0],
      ["cache_evictions", stats.cache?.evictions ?? 0],
    ],
    keyspace: [],
  };
  // Counting keys scans the whole store, and clients such as ioredis send INFO on every
  // connect, so the Keyspace section comes only when asked for by name or with "all".
  const all = Object.keys(sections);
  const wanted = only === undefined || only === "default"
    ? all.filter((name) => name !== "keyspace")
    : only === "all" || only === "everything"
    ? all
    : [only];
  if (wanted.includes("keyspace")) {
    const n = await countKeys(ctx.store);
    if (n > 0) sections.keyspace.push(["db0", `keys=${n},expires=0,avg_ttl=0`]);
  }
  const out: string[] = [];
  for (const name of wanted) {
    const fields = sections[name];
    if (fields === undefined) continue;
    out.push(`# ${name[0].toUpperCase()}${name.slice(1)}`);
    for (const [k, v] of fields) out.push(`${k}:${v}`);
    out.push("");
  }
  return out.join("\r\n");
}

/** COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS (empty: no docs). */
function command(call: Call): Reply {
  const sub = call.args[0] === undefined ? undefined : text(call.args[0]).toUpperCase();
  const infoOf = (name: string): Reply => {
    const spec = COMMANDS[name];
    if (spec === undefined) return null;
    const flags = spec.flags.map((f) => new SimpleReply(f));
    return [name, spec.arity, flags, ...spec.keys];
  };
  if (sub === undefined) return Object.keys(COMMANDS).map(infoOf);
  if (sub === "COUNT") return Object.keys(COMMANDS).length;
  if (sub === "DOCS") return [];
  if (sub === "INFO") return call.args.slice(1).map((a) => infoOf(text(a).toLowerCase()));
  throw new CommandError(
    `ERR unknown subcommand '${text(call.args[0]).slice(0, 128)}'. Try COMMAND HELP.`,
  );
}

/** CONFIG GET: the few settings clients probe (redis-benchmark reads `save` and `appendonly`). */
const CONFIG: Record<string, string> = { save: "", appendonly: "no", databases: "1" };

function config(call: Call): Reply {
  if (text(call.args[0]).toUpperCase() !== "GET" || call.args.length !== 2) {
    throw new CommandError("ERR shardkv supports only CONFIG GET parameter");
  }
  const name = text(call.args[1]).toLowerCase();
  return Object.hasOwn(CONFIG, name) ? [name, CONFIG[name]] : [];
}

const READ = ["readonly", "fast"];
const WRITE = ["write", "denyoom"];
const ONE_KEY: [number, number, number] = [1, 1, 1];
const ALL_KEYS: [number, number, number] = [1, -1, 1];
const NO_KEYS: [number, number, number] = [0, 0, 0];

/** Counter commands: INCR, DECR, INCRBY, DECRBY. */
function counter(sign: 1 | -1, withAmount: boolean): CommandSpec {
  return {
    arity: withAmount ? 3 : 2,
    flags: WRITE,
    keys: ONE_KEY,
    run: ({ ctx, args }) => {
      const by = withAmount ? int(args[1]) : 1;
      return incrBy(ctx, keyOf(args[0]), sign * by);
    },
  };
}

/** TTL and PTTL: -2 missing key, -1 no expiry. */
function ttl(unit: number): CommandSpec {
  return {
    arity: 2,
    flags: READ,
    keys: ONE_KEY,
    run: async ({ ctx, args }) => {
      const left = await ctx.store.ttl(keyOf(args[0]));
      if (left === undefined) return -2;
      return Number.isFinite(left) ? Math.round(left / unit) : -1;
    },
  };
}

/** Every command, by lowercase name. */
const COMMANDS: Record<string, CommandSpec> = {
  ping: {
    arity: -1,
    flags: ["fast"],
    keys: NO_KEYS,
    run: ({ args }) => {
      if (args.length > 1) {
        throw new CommandError("ERR wrong number of arguments for 'ping' command");
      }
      return args.length === 1 ? args[0] : PONG;
    },
  },
  echo: { arity: 2, flags: ["fast"], keys: NO_KEYS, run: ({ args }) => args[0] },
  quit: { arity: -1, flags: ["fast"], keys: NO_KEYS, run: () => OK },
  select: {
    arity: 2,
    flags: ["fast"],
    keys: NO_KEYS,
    run: ({ args }) => {
      if (int(args[0]) !== 0) throw new CommandError("ERR DB index is out of range");
      return OK;
    },
  },
  get: {
    arity: 2,
    flags: READ,
    keys: ONE_KEY,
    run: async ({ ctx, args }) => (await ctx.store.get(keyOf(args[0]))) ?? null,
  },
  set: { arity: -3, flags: WRITE, keys: ONE_KEY, run: set },
  del: {
    arity: -2,
    flags: ["write"],
    keys: ALL_KEYS,
    run: ({ ctx, args }) => ctx.store.batchDelete(args.map(keyOf)),
  },
  exists: {
    arity: -2,
    flags: READ,
    keys: ALL_KEYS,
    run: async ({ ctx, args }) => {
      // Every key is checked before any lookup starts: a bad key after a started lookup would
      // leave that lookup's rejection unhandled (issue 16: it killed the server on Deno).
      const keys = args.map(keyOf);
      let n = 0;
      for (const key of keys) if (await ctx.store.exists(key)) n++;
      return n;
    },
  },
  incr: counter(1, false),
  decr: counter(-1, false),
  incrby: counter(1, true),
  decrby: counter(-1, true),
  mget: {
    arity: -2,
    flags: READ,
    keys: ALL_KEYS,
    run: async ({ ctx, args }) => {
      const keys = args.map(keyOf);
      const found = await ctx.store.batchGet(keys);
      return keys.map((k) => found.get(k) ?? null);
    },
  },
  mset: {
    arity: -3,
    flags: WRITE,
    keys: [1, -1, 2],
    run: async ({ ctx, args }) => {
      if (args.length % 2 !== 0) {
        throw new CommandError("ERR wrong number of arguments for 'mset' command");
      }
      const pairs: [string, Uint8Array][] = [];
      for (let i = 0; i < args.length; i += 2) pairs.push([keyOf(args[i]), args[i + 1]]);
      await ctx.store.batchSet(pairs);
      return OK;
    },
  },
  ttl: ttl(1000),
  pttl: ttl(1),
  expire: {
    arity: -3,
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: (c) => expire(c, "expire", 1000),
  },
  pexpire: {
    arity: -3,
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: (c) => expire(c, "pexpire", 1),
  },
  persist: {
    arity: 2,
    flags: ["write", "fast"],
    keys: ONE_KEY,
    run: async ({ ctx, args }) => {
      const key = keyOf(args[0]);
      return await writeTxn(ctx.store, async (txn) => {
        const value = await getKey(txn, key);
        if (value === undefined) return 0;
        const left = await ctx.store.ttl(key);
        if (left === undefined || !Number.isFinite(left)) return 0;
        await setKey(txn, key, value);
        return 1;
      });
    },
  },
  keys: { arity: 2, flags: ["readonly"], keys: NO_KEYS, run: keys },
  scan: { arity: -2, flags: ["readonly"], keys: NO_KEYS, run: scan },
  dbsize: { arity: 1, flags: ["readonly"], keys: NO_KEYS, run: ({ ctx }) => countKeys(ctx.store) },
  info: { arity: -1, flags: [], keys: NO_KEYS, run: info },
  command: { arity: -1, flags: [], keys: NO_KEYS, run: command },
  config: { arity: -2, flags: [], keys: NO_KEYS, run: config },
};

/** Redis's sanitising of names echoed in errors: at most 128 chars, no line breaks. */
function echoArg(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes.subarray(0, 128)).replace(/[\r\n]/g, " ");
}

/**
 * Runs one command (`args[0]` is its name) and returns its reply; never throws: failures become
 * error replies. `quit` is true for QUIT, after which the connection should close.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { execute, ScanCursors } from "@shardkv/shardkv/server";
 * const store = await openStore("", { backend: "memory" });
 * const ctx = { store, startedAt: Date.now(), port: 0, clients: 0, commands: 0, cursors: new ScanCursors() };
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * await execute(ctx, [bytes("SET"), bytes("k"), bytes("v")]); // { reply: OK, quit: false }
 * ```
 */
export async function execute(
  ctx: ServerContext,
  args: Uint8Array[],
): Promise<{ reply: Reply; quit: boolean }> {
  const name = text(args[0]).toLowerCase();
  const spec = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  ctx.commands++;
  if (spec === undefined) {
    const shown = args.slice(1).map((a) => `'${echoArg(a)}' `).join("");
    return {
      reply: new ErrorReply(
        `ERR unknown command '${echoArg(args[0])}', with args beginning with: ${shown}`,
      ),
      quit: false,
    };
  }
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    return {
      reply: new ErrorReply(`ERR wrong number of arguments for '${name}' command`),
      quit: false,
    };
  }
  try {
    return { reply: await spec.run({ ctx, args: args.slice(1) }), quit: name === "quit" };
  } catch (e) {
    const message = e instanceof CommandError
      ? e.message
      : `ERR ${e instanceof Error ? e.message : String(e)}`;
    return { reply: new ErrorReply(message), quit: false };
  }
}

/** A pipelined command that can join a batch: plain `SET key value` or `GET key`. */
function batchKind(args: Uint8Array[]): "set" | "get" | undefined {
  if (args.length === 3 && text(args[0]).toLowerCase() === "set") return "set";
  if (args.length === 2 && text(args[0]).toLowerCase() === "get") return "get";
  return undefined;
}

/** Replies of a run of same-kind batchable commands, or `undefined` to run them one by one. */
async function runBatch(
  ctx: ServerContext,
  kind: "set" | "get",
  run: Uint8Array[][],
): Promise<Reply[] | undefined> {
  try {
    const keys = run.map((args) => keyOf(args[1]));
    if (kind === "set") {
      // Duplicate keys: the last one wins, as if the SETs ran in order.
      await ctx.store.batchSet(keys.map((key, i) => [key, run[i][2]] as const));
      return run.map(() => OK);
    }
    const found = await ctx.store.batchGet(keys);
    return keys.map((key) => found.get(key) ?? null);
  } catch {
    // A rejected batch changes nothing; one by one, each command gets its own error reply.
    return undefined;
  }
}

/**
 * Runs pipelined commands in order and passes each reply to `reply`. A run of two or more
 * consecutive plain SETs becomes one `batchSet` (one commit per shard), and a run of GETs one
 * `batchGet`: the replies and the final state are those of running them one by one, and the
 * connection sees no state in between. Resolves `true` when a QUIT ended the list.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { executeAll, ScanCursors } from "@shardkv/shardkv/server";
 * const store = await openStore("", { backend: "memory" });
 * const ctx = { store, startedAt: Date.now(), port: 0, clients: 0, commands: 0, cursors: new ScanCursors() };
 * const b = (s: string) => new TextEncoder().encode(s);
 * await executeAll(ctx, [[b("SET"), b("a"), b("1")], [b("GET"), b("a")]], console.log);
 * ```
 */
export async function executeAll(
  ctx: ServerContext,
  commands: Uint8Array[][],
  reply: (reply: Reply) => void,
): Promise<boolean> {
  let i = 0;
  while (i < commands.length) {
    const kind = batchKind(commands[i]);
    let end = i + 1;
    while (kind !== undefined && end < commands.length && batchKind(commands[end]) === kind) end++;
    const replies = end - i > 1 ? await runBatch(ctx, kind!, commands.slice(i, end)) : undefined;
    if (replies !== undefined) {
      ctx.commands += replies.length;
      replies.forEach(reply);
      i = end;
      continue;
    }
    for (; i < end; i++) {
      const result = await execute(ctx, commands[i]);
      reply(result.reply);
      if (result.quit) return true;
    }
  }
  return false;
}
