// Connection and server commands: PING, SELECT, AUTH, HELLO, CLIENT, INFO, CONFIG, TIME,
// DBSIZE, FLUSHDB/FLUSHALL, plus the per-server state they share (clients, WATCH registry).
import process from "node:process";
import {
  CommandError,
  echoArg,
  int32,
  INT64_MAX,
  int64Of,
  latin1,
  SYNTAX,
  upper,
} from "./_cmd_args.ts";
import {
  type Call,
  type Client,
  type CommandSpec,
  defaultConfig,
  NO_KEYS,
  type ServerConfig,
  type ServerContext,
} from "./_cmd_context.ts";
import { countDb, DATABASES, dbOf, flushDb, Glob } from "./_cmd_keyspace.ts";
import { mapReply, verbatim } from "./_cmd_resp3.ts";
import { OK, type Reply, SimpleReply } from "./resp.ts";

/** The Redis version shardkv answers like (the 7.0 command set). */
export const REDIS_VERSION = "7.0.15";

/** Server-wide state beyond {@linkcode ServerContext}: clients and WATCHed keys. */
export interface ServerState {
  nextId: number;
  clients: Map<number, Client>;
  watchers: Map<string, Set<Client>>;
  expiredKeys: number;
}

const states = new WeakMap<ServerContext, ServerState>();

/** The state of `ctx`, made on first use. */
export function stateOf(ctx: ServerContext): ServerState {
  let s = states.get(ctx);
  if (s === undefined) {
    s = { nextId: 1, clients: new Map(), watchers: new Map(), expiredKeys: 0 };
    states.set(ctx, s);
  }
  return s;
}

/** A new connection's state, registered for CLIENT LIST/KILL. */
export function newClient(ctx: ServerContext): Client {
  const state = stateOf(ctx);
  const client: Client = {
    id: state.nextId++,
    db: 0,
    name: "",
    resp: 2,
    authed: ctx.requirepass === undefined || ctx.requirepass === "",
    createdAt: Date.now(),
    lastCommand: "NULL",
    multiFailed: false,
    multiShard: -1,
    multiDb: 0,
    watching: new Set(),
    dirty: false,
    killed: false,
  };
  state.clients.set(client.id, client);
  return client;
}

/** Forgets a connection: its WATCHes and its CLIENT LIST entry. */
export function dropClient(ctx: ServerContext, client: Client): void {
  unwatch(ctx, client);
  stateOf(ctx).clients.delete(client.id);
}

/** Ends a client's WATCHes. */
export function unwatch(ctx: ServerContext, client: Client): void {
  const { watchers } = stateOf(ctx);
  for (const key of client.watching) {
    const set = watchers.get(key);
    set?.delete(client);
    if (set?.size === 0) watchers.delete(key);
  }
  client.watching.clear();
  client.dirty = false;
}

/** Marks the clients WATCHing any of `keys` dirty. */
export function touchKeys(ctx: ServerContext, keys: string[]): void {
  const { watchers } = stateOf(ctx);
  if (watchers.size === 0) return;
  for (const key of keys) for (const c of watchers.get(key) ?? []) c.dirty = true;
}

/**
 * Before a flush of `db` (every db for `null`): marks the clients WATCHing a key that exists
 * there, as Redis's touchAllWatchedKeysInDb does (a watched key that does not exist is not
 * changed by the flush).
 */
async function touchFlushed(ctx: ServerContext, db: number | null): Promise<void> {
  const { watchers } = stateOf(ctx);
  const keys = [...watchers.keys()].filter((key) => db === null || dbOf(key) === db);
  if (keys.length === 0) return;
  const found = await ctx.store.batchGet(keys);
  touchKeys(ctx, keys.filter((key) => found.has(key)));
}

function flushOption(args: Uint8Array[]): void {
  if (args.length > 1) throw new CommandError(SYNTAX);
  if (args.length === 1 && !["SYNC", "ASYNC"].includes(upper(args[0]))) {
    throw new CommandError(SYNTAX);
  }
}

const WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled.";

function authenticate(
  ctx: ServerContext,
  client: Client,
  user: Uint8Array | undefined,
  pass: Uint8Array,
) {
  const required = ctx.requirepass ?? "";
  if (user === undefined && required === "") {
    throw new CommandError(
      "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
    );
  }
  const userOk = user === undefined || latin1(user) === "default";
  if (!userOk || (required !== "" && latin1(pass) !== required)) throw new CommandError(WRONGPASS);
  client.authed = true;
}

function hello(call: Call): Reply {
  const { ctx, client, args } = call;
  let resp = client.resp;
  if (args.length > 0) {
    const v = int64Of(args[0]);
    if (v === undefined) {
      throw new CommandError("ERR Protocol version is not an integer or out of range");
    }
    if (v < 2n || v > 3n) throw new CommandError("NOPROTO unsupported protocol version");
    resp = Number(v) as 2 | 3;
  }
  let name: Uint8Array | undefined;
  let auth: [Uint8Array, Uint8Array] | undefined;
  for (let j = 1; j < args.length; j++) {
    const more = args.length - j - 1;
    const opt = upper(args[j]);
    if (opt === "AUTH" && more >= 2) {
      auth = [args[j + 1], args[j + 2]];
      j += 2;
    } else if (opt === "SETNAME" && more >= 1) {
      name = args[++j];
    } else throw new CommandError(`ERR Syntax error in HELLO option '${echoArg(args[j])}'`);
  }
  // Options are parsed before AUTH runs, and the name checked after it, as Redis 7.0 does.
  if (auth !== undefined) authenticate(ctx, client, auth[0], auth[1]);
  if (!client.authed) {
    throw new CommandError(
      "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
    );
  }
  if (name !== undefined) client.name = clientName(name);
  client.resp = resp;
  return mapReply(client, [
    ["server", "redis"],
    ["version", REDIS_VERSION],
    ["proto", resp],
    ["id", client.id],
    ["mode", "standalone"],
    ["role", "master"],
    ["modules", []],
  ]);
}

function clientName(bytes: Uint8Array): string {
  for (const b of bytes) {
    if (b < 33 || b > 126) {
      throw new CommandError(
        "ERR Client names cannot contain spaces, newlines or special characters.",
      );
    }
  }
  return latin1(bytes);
}

function clientLine(ctx: ServerContext, c: Client, now: number): string {
  const age = Math.floor((now - c.createdAt) / 1000);
  return `id=${c.id} addr=127.0.0.1:0 laddr=127.0.0.1:${ctx.port} fd=0 name=${c.name} age=${age} ` +
    `idle=0 flags=${c.multi ? "x" : "N"} db=${c.db} sub=0 psub=0 ssub=0 multi=${
      c.multi ? c.multi.length : -1
    } ` +
    `qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 ` +
    `events=r cmd=${c.lastCommand} user=default redir=-1 resp=${c.resp}\n`;
}

function client(call: Call): Reply {
  const { ctx, args } = call;
  const me = call.client;
  const sub = upper(args[0]);
  const state = stateOf(ctx);
  const now = Date.now();
  const arity = (ok: boolean) => {
    if (!ok) {
      throw new CommandError(
        `ERR wrong number of arguments for 'client|${latin1(args[0]).toLowerCase()}' command`,
      );
    }
  };
  switch (sub) {
    case "ID":
      arity(args.length === 1);
      return me.id;
    case "GETNAME":
      arity(args.length === 1);
      return me.name === "" ? null : me.name;
    case "SETNAME":
      arity(args.length === 2);
      me.name = clientName(args[1]);
      return OK;
    case "INFO":
      arity(args.length === 1);
      return verbatim(me, clientLine(ctx, me, now));
    case "LIST": {
      let ids: Set<number> | undefined;
      for (let j = 1; j < args.length; j++) {
        const opt = upper(args[j]);
        if (opt === "TYPE" && j + 1 < args.length) {
          const type = latin1(args[++j]).toLowerCase();
          if (!["normal", "master", "replica", "pubsub"].includes(type)) {
            throw new CommandError(`ERR Unknown client type '${echoArg(args[j])}'`);
          }
          if (type !== "normal") ids = new Set();
        } else if (opt === "ID" && j + 1 < args.length) {
          ids = new Set();
          for (j++; j < args.length; j++) {
            const id = int64Of(args[j]);
            if (id === undefined || id < 1n) throw new CommandError("ERR Invalid client ID");
            ids.add(Number(id));
          }
        } else throw new CommandError(SYNTAX);
      }
      let out = "";
      for (const c of state.clients.values()) {
        if (ids === undefined || ids.has(c.id)) out += clientLine(ctx, c, now);
      }
      return verbatim(me, out);
    }
    case "KILL": {
      arity(args.length >= 2);
      if (args.length === 2) throw new CommandError("ERR No such client");
      let id: number | undefined;
      let skipMe = true;
      for (let j = 1; j < args.length; j += 2) {
        if (j + 1 >= args.length) throw new CommandError(SYNTAX);
        const opt = upper(args[j]);
        if (opt === "ID") {
          const n = int64Of(args[j + 1]);
          if (n === undefined || n < 1n) {
            throw new CommandError("ERR client-id should be greater than 0");
          }
          id = Number(n);
        } else if (opt === "SKIPME") {
          const v = latin1(args[j + 1]).toLowerCase();
          if (v !== "yes" && v !== "no") throw new CommandError(SYNTAX);
          skipMe = v === "yes";
        } else if (opt === "TYPE") {
          const type = latin1(args[j + 1]).toLowerCase();
          if (!["normal", "slave", "replica", "pubsub", "master"].includes(type)) {
            throw new CommandError(`ERR Unknown client type '${echoArg(args[j + 1])}'`);
          }
          // Every shardkv client is of type normal.
          if (type !== "normal") id = -1;
        } else if (opt === "USER") {
          // The only user is "default", which every client is.
          if (latin1(args[j + 1]) !== "default") {
            throw new CommandError(`ERR No such user '${echoArg(args[j + 1])}'`);
          }
        } else if (opt === "ADDR" || opt === "LADDR") {
          // Accepted filters; shardkv knows no addresses, so these match no client.
          id = -1;
        } else throw new CommandError(SYNTAX);
      }
      let killed = 0;
      for (const c of state.clients.values()) {
        if ((id === undefined || c.id === id) && !(skipMe && c === me)) {
          c.killed = true;
          killed++;
        }
      }
      return killed;
    }
    case "NO-EVICT": {
      arity(args.length === 2);
      const v = latin1(args[1]).toLowerCase();
      if (v !== "on" && v !== "off") throw new CommandError(SYNTAX);
      return OK;
    }
    case "HELP":
      return [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ID",
        "GETNAME",
        "SETNAME",
        "INFO",
        "LIST",
        "KILL",
      ]
        .map((s) => new SimpleReply(s));
    default:
      throw new CommandError(
        `ERR unknown subcommand '${echoArg(args[0])}'. Try CLIENT HELP.`,
      );
  }
}

/** The config of `ctx`: its server's options, or the defaults (made on first use). */
function configOf(ctx: ServerContext): ServerConfig {
  return ctx.config ??= defaultConfig();
}

/** CONFIG parameters shardkv reports. */
function configValues(ctx: ServerContext): Record<string, string> {
  const c = configOf(ctx);
  return {
    requirepass: ctx.requirepass ?? "",
    databases: String(DATABASES),
    save: "",
    appendonly: "no",
    maxmemory: "0",
    port: String(ctx.port),
    bind: "127.0.0.1",
    timeout: String(c.timeout),
    "proto-max-bulk-len": String(c.protoMaxBulkLen),
    "client-query-buffer-limit": String(c.clientQueryBufferLimit),
    "client-output-buffer-limit":
      `normal ${c.outputHard} ${c.outputSoft} ${c.outputSoftSeconds} ${c.outputOther}`,
    maxclients: String(c.maxclients),
    "cluster-enabled": "no",
  };
}

const MEMORY_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1024,
  m: 1000 ** 2,
  mb: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1024 ** 3,
};

/** Redis's memtoull: digits and an optional unit (k, kb, m, mb, g, gb), or undefined. */
function memoryValue(text: string): bigint | undefined {
  const m = /^(\d+)([a-z]*)$/i.exec(text);
  const unit = m === null ? undefined : MEMORY_UNITS[m[2].toLowerCase()];
  return unit === undefined ? undefined : BigInt(m![1]) * BigInt(unit);
}

type Setter = (c: ServerConfig, value: string) => string | undefined;

function between(n: bigint | undefined, min: bigint, max: bigint): string | undefined {
  if (n === undefined) return "argument couldn't be parsed into an integer";
  if (n < min || n > max) return `argument must be between ${min} and ${max} inclusive`;
}

/** How CONFIG SET changes each parameter it honours: an error text, or undefined when done. */
const SETTERS: Record<string, Setter> = {
  timeout: (c, v) => {
    const n = int64Of(new TextEncoder().encode(v));
    const bad = between(n, 0n, 2147483647n);
    if (bad === undefined) c.timeout = Number(n);
    return bad;
  },
  maxclients: (c, v) => {
    const n = int64Of(new TextEncoder().encode(v));
    const bad = between(n, 1n, 4294967295n);
    if (bad === undefined) c.maxclients = Number(n);
    return bad;
  },
  "proto-max-bulk-len": (c, v) => {
    const n = memoryValue(v);
    if (n === undefined) return "argument must be a memory value";
    const bad = between(n, 1024n * 1024n, INT64_MAX);
    if (bad === undefined) c.protoMaxBulkLen = Number(n);
    return bad;
  },
  "client-query-buffer-limit": (c, v) => {
    const n = memoryValue(v);
    if (n === undefined) return "argument must be a memory value";
    const bad = between(n, 1024n * 1024n, INT64_MAX);
    if (bad === undefined) c.clientQueryBufferLimit = Number(n);
    return bad;
  },
  "client-output-buffer-limit": (c, v) => {
    // Redis's updateClientOutputBufferLimit: groups of "class hard soft seconds".
    const words = v.split(" ").filter((w) => w !== "");
    if (words.length % 4 !== 0) {
      return "Wrong number of arguments in buffer limit configuration.";
    }
    const others = new Map(
      c.outputOther.split(" ").flatMap((w, i, all) =>
        i % 4 === 0 ? [[w, all.slice(i + 1, i + 4)]] : []
      ),
    );
    let normal: bigint[] | undefined;
    for (let i = 0; i < words.length; i += 4) {
      const cls = words[i].toLowerCase();
      const known = ["normal", "slave", "replica", "pubsub"].includes(cls);
      if (!known) return "Invalid client class specified in buffer limit configuration.";
      const hard = memoryValue(words[i + 1]);
      const soft = memoryValue(words[i + 2]);
      const secs = /^-?\d+$/.test(words[i + 3]) ? BigInt(words[i + 3]) : undefined;
      if (hard === undefined || soft === undefined || secs === undefined || secs < 0n) {
        return "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
      }
      if (cls === "normal") normal = [hard, soft, secs];
      else others.set(cls === "replica" ? "slave" : cls, [hard, soft, secs].map(String));
    }
    if (normal !== undefined) {
      [c.outputHard, c.outputSoft, c.outputSoftSeconds] = normal.map(Number);
    }
    c.outputOther = [...others].map(([cls, limits]) => `${cls} ${limits.join(" ")}`).join(" ");
  },
};

/** Parameters Redis cannot change at run time. */
const IMMUTABLE = new Set(["databases", "cluster-enabled"]);

function config(call: Call): Reply {
  const { ctx, args, client } = call;
  const sub = upper(args[0]);
  const wrong = () =>
    new CommandError(
      `ERR wrong number of arguments for 'config|${latin1(args[0]).toLowerCase()}' command`,
    );
  if (sub === "GET") {
    if (args.length < 2) throw wrong();
    const values = configValues(ctx);
    // Redis's configGetCommand: a name without glob characters is answered under the name as
    // given, a pattern under the names it matches (ignoring case); a parameter comes once.
    const found = new Map<string, string>();
    for (const arg of args.slice(1)) {
      const pattern = latin1(arg);
      if (!/[[*?]/.test(pattern)) {
        const name = pattern.toLowerCase();
        if (Object.hasOwn(values, name) && !found.has(name)) found.set(name, pattern);
        continue;
      }
      const glob = new Glob(new TextEncoder().encode(pattern.toLowerCase()));
      for (const name of Object.keys(values)) {
        if (!found.has(name) && glob.matches(new TextEncoder().encode(name))) {
          found.set(name, name);
        }
      }
    }
    const pairs: [string, Reply][] = [];
    for (const name of Object.keys(values)) {
      const shown = found.get(name);
      if (shown !== undefined) pairs.push([shown, values[name]]);
    }
    return mapReply(client, pairs);
  }
  if (sub === "SET") {
    if (args.length < 3) throw wrong();
    if (args.length % 2 === 0) throw new CommandError(SYNTAX);
    const values = configValues(ctx);
    const failed = (name: string, why: string) =>
      new CommandError(`ERR CONFIG SET failed (possibly related to argument '${name}') - ${why}`);
    // As Redis's configSetCommand: first every name is checked (unknown, immutable, duplicate:
    // the first such error wins), then the values, on a copy applied once all are valid.
    const seen = new Set<string>();
    for (let j = 1; j < args.length; j += 2) {
      const name = latin1(args[j]).toLowerCase();
      if (!Object.hasOwn(values, name)) {
        throw new CommandError(
          `ERR Unknown option or number of arguments for CONFIG SET - '${echoArg(args[j])}'`,
        );
      }
      if (IMMUTABLE.has(name)) throw failed(echoArg(args[j]), "can't set immutable config");
      if (seen.has(name)) throw failed(echoArg(args[j]), "duplicate parameter");
      seen.add(name);
    }
    const next = { ...configOf(ctx) };
    let pass: string | undefined;
    for (let j = 1; j < args.length; j += 2) {
      const name = latin1(args[j]).toLowerCase();
      const value = latin1(args[j + 1]);
      if (name === "requirepass") pass = value;
      else if (Object.hasOwn(SETTERS, name)) {
        const why = SETTERS[name](next, value);
        if (why !== undefined) throw failed(name, why);
      } else if (values[name] !== value) {
        throw failed(name, "shardkv cannot change it");
      }
    }
    if (pass !== undefined) ctx.requirepass = pass;
    Object.assign(configOf(ctx), next);
    return OK;
  }
  if (sub === "RESETSTAT" || sub === "REWRITE") {
    if (args.length !== 1) throw wrong();
    // shardkv serve, like a redis-server started without one, has no config file.
    if (sub === "REWRITE") {
      throw new CommandError("ERR The server is running without a config file");
    }
    return OK;
  }
  if (sub === "HELP") {
    return [
      "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET <pattern>",
      "    Return parameters matching the glob-like <pattern> and their values.",
      "SET <directive> <value>",
      "    Set the configuration <directive> to <value>.",
      "RESETSTAT",
      "    Reset statistics reported by the INFO command.",
      "REWRITE",
      "    Rewrite the configuration file.",
      "HELP",
      "    Prints this help.",
    ].map((line) => new SimpleReply(line));
  }
  throw new CommandError(`ERR unknown subcommand '${echoArg(args[0])}'. Try CONFIG HELP.`);
}

async function info(call: Call): Promise<Reply> {
  const { ctx, args, client } = call;
  const stats = ctx.store.stats();
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const uptime = Math.floor((Date.now() - ctx.startedAt) / 1000);
  const sections: Record<string, [string, string | number][]> = {
    server: [
      ["redis_version", REDIS_VERSION],
      ["redis_mode", "standalone"],
      ["os", `${process.platform} ${process.arch}`],
      ["arch_bits", 64],
      ["process_id", process.pid],
      ["tcp_port", ctx.port],
      ["uptime_in_seconds", uptime],
      ["uptime_in_days", Math.floor(uptime / 86400)],
      ["executable", "shardkv"],
      ["shardkv_version", "0.1.0"],
    ],
    clients: [
      ["connected_clients", ctx.clients],
      ["blocked_clients", 0],
      ["tracking_clients", 0],
      ["maxclients", 10000],
    ],
    memory: [
      ["used_memory", mem.heapUsed],
      ["used_memory_human", `${(mem.heapUsed / 1048576).toFixed(2)}M`],
      ["used_memory_rss", mem.rss],
      ["used_memory_peak", mem.heapTotal],
      ["maxmemory", 0],
      ["maxmemory_policy", "noeviction"],
      ["mem_allocator", "javascript"],
    ],
    persistence: [
      ["loading", 0],
      ["async_loading", 0],
      ["rdb_changes_since_last_save", 0],
      ["rdb_bgsave_in_progress", 0],
      ["aof_enabled", 0],
      ["aof_rewrite_in_progress", 0],
    ],
    stats: [
      ["total_connections_received", stateOf(ctx).nextId - 1],
      ["total_commands_processed", ctx.commands],
      ["expired_keys", stats.swept],
      ["evicted_keys", 0],
      ["keyspace_hits", stats.cache?.hits ?? 0],
      ["keyspace_misses", stats.cache?.misses ?? 0],
    ],
    replication: [["role", "master"], ["connected_slaves", 0]],
    cpu: [
      ["used_cpu_sys", (cpu.system / 1e6).toFixed(6)],
      ["used_cpu_user", (cpu.user / 1e6).toFixed(6)],
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
  const asked = args.map((a) => latin1(a).toLowerCase());
  const wanted = asked.length === 0 || asked.includes("default")
    ? all.filter((name) => name !== "keyspace")
    : asked.includes("all") || asked.includes("everything")
    ? all
    : all.filter((name) => asked.includes(name));
  if (wanted.includes("keyspace")) {
    for (let db = 0; db < DATABASES; db++) {
      const n = await countDb(ctx.store, db);
      if (n > 0) sections.keyspace.push([`db${db}`, `keys=${n},expires=0,avg_ttl=0`]);
    }
  }
  const out: string[] = [];
  for (const name of wanted) {
    if (out.length > 0) out.push("");
    out.push(`# ${name[0].toUpperCase()}${name.slice(1)}`);
    for (const [k, v] of sections[name]) out.push(`${k}:${v}`);
  }
  return verbatim(client, out.length === 0 ? "" : out.join("\r\n") + "\r\n");
}

const PONG = new SimpleReply("PONG");
const RESET = new SimpleReply("RESET");

function spec(
  arity: number,
  flags: string[],
  group: string,
  summary: string,
  since: string,
  run: (call: Call) => Promise<Reply> | Reply,
): CommandSpec {
  return { arity, flags, keys: NO_KEYS, group, summary, since, run };
}

const CONN = "connection";
/** Redis's flags of the connection commands that run before AUTH. */
const NO_AUTH_FLAGS = ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"];
const SERVER = "server";

/** Connection and server commands, by lowercase name. */
export const SERVER_COMMANDS: Record<string, CommandSpec> = {
  ping: spec(-1, ["fast"], CONN, "Ping the server", "1.0.0", ({ args }) => {
    if (args.length > 1) {
      throw new CommandError("ERR wrong number of arguments for 'ping' command");
    }
    return args.length === 1 ? args[0] : PONG;
  }),
  echo: spec(
    2,
    ["loading", "stale", "fast"],
    CONN,
    "Echo the given string",
    "1.0.0",
    ({ args }) => args[0],
  ),
  quit: spec(-1, NO_AUTH_FLAGS, CONN, "Close the connection", "1.0.0", () => OK),
  reset: spec(
    1,
    NO_AUTH_FLAGS,
    CONN,
    "Reset the connection",
    "6.2.0",
    ({ ctx, client }) => {
      // Redis's clearClientConnectionState: no transaction or WATCH, db 0, RESP2, no name, and
      // authenticated only when no password is required.
      client.multi = undefined;
      unwatch(ctx, client);
      client.db = 0;
      client.resp = 2;
      client.name = "";
      client.authed = ctx.requirepass === undefined || ctx.requirepass === "";
      return RESET;
    },
  ),
  select: spec(
    2,
    ["loading", "stale", "fast"],
    CONN,
    "Change the selected database for the current connection",
    "1.0.0",
    ({ args, client }) => {
      const n = int32(args[0]);
      if (n < 0 || n >= DATABASES) throw new CommandError("ERR DB index is out of range");
      client.db = n;
      return OK;
    },
  ),
  auth: spec(
    -2,
    NO_AUTH_FLAGS,
    CONN,
    "Authenticate to the server",
    "1.0.0",
    ({ ctx, client, args }) => {
      if (args.length > 2) throw new CommandError(SYNTAX);
      authenticate(ctx, client, args.length === 2 ? args[0] : undefined, args[args.length - 1]);
      return OK;
    },
  ),
  hello: spec(-1, NO_AUTH_FLAGS, CONN, "Handshake with Redis", "6.0.0", hello),
  client: spec(-2, [], CONN, "A container for client connection commands", "2.4.0", client),
  dbsize: spec(
    1,
    ["readonly", "fast"],
    SERVER,
    "Return the number of keys in the selected database",
    "1.0.0",
    ({ ctx, client }) => countDb(ctx.store, client.db),
  ),
  flushdb: spec(
    -1,
    ["write"],
    SERVER,
    "Remove all keys from the current database",
    "1.0.0",
    async ({ ctx, client, args }) => {
      flushOption(args);
      await touchFlushed(ctx, client.db);
      await flushDb(ctx.store, client.db);
      return OK;
    },
  ),
  flushall: spec(
    -1,
    ["write"],
    SERVER,
    "Remove all keys from all databases",
    "1.0.0",
    async ({ ctx, args }) => {
      flushOption(args);
      await touchFlushed(ctx, null);
      for (let db = 0; db < DATABASES; db++) await flushDb(ctx.store, db);
      return OK;
    },
  ),
  time: spec(
    1,
    ["loading", "stale", "fast"],
    SERVER,
    "Return the current server time",
    "2.6.0",
    () => {
      const us = BigInt(Date.now()) * 1000n;
      return [String(us / 1000000n), String(us % 1000000n)];
    },
  ),
  info: spec(
    -1,
    ["loading", "stale"],
    SERVER,
    "Get information and statistics about the server",
    "1.0.0",
    info,
  ),
  config: spec(-2, [], SERVER, "A container for server configuration commands", "2.0.0", config),
};
