/**
 * Redis command dispatch over a shardkv `Store`, runtime-agnostic: arguments in, a reply out.
 * The commands live in `_cmd_strings.ts`, `_cmd_keys.ts` and `_cmd_server.ts`; this file checks
 * arity and AUTH, maps keys to the client's database, picks how a command touches the store
 * (straight, or in one write transaction when its keys share a shard), and runs MULTI/EXEC.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { MAX_VALUE_BYTES, type Store, writeTxn } from "../mod.ts";
import {
  CommandError,
  commandName,
  echoArg,
  encoder,
  int64Of,
  latin1,
  SYNTAX,
  unknownCommand,
  upper,
} from "./_cmd_args.ts";
import {
  type Call,
  CHUNK,
  type Client,
  type CommandSpec,
  type Ops,
  type ServerContext,
  storeOps,
  txnOps,
  yieldTurn,
} from "./_cmd_context.ts";
import { Glob, ScanCursors, shardOfKey, storeKey } from "./_cmd_keyspace.ts";
import { KEY_COMMANDS } from "./_cmd_keys.ts";
import { mapReply, nullArray, setReply, toResp3 } from "./_cmd_resp3.ts";
import { newClient, SERVER_COMMANDS, stateOf, touchKeys, unwatch } from "./_cmd_server.ts";
import { STRING_COMMANDS } from "./_cmd_strings.ts";
import { ErrorReply, OK, type PackedArgs, type Reply, SimpleReply } from "./resp.ts";

export { CommandError, ScanCursors, type ServerContext };
export type { Client } from "./_cmd_context.ts";
export { dropClient, newClient } from "./_cmd_server.ts";

const QUEUED = new SimpleReply("QUEUED");
const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";
const NOAUTH = "NOAUTH Authentication required.";

/** Commands that scan or change the whole keyspace: in EXEC they run outside the transaction. */
const STORE_WIDE = new Set(["keys", "scan", "randomkey", "dbsize", "flushdb", "flushall", "info"]);
/** Commands that MULTI does not queue. */
const NOT_QUEUED = new Set(["exec", "discard", "multi", "watch", "quit", "reset"]);

function transactionSpec(
  arity: number,
  summary: string,
  run: CommandSpec["run"],
  {
    keys = [0, 0, 0],
    since = "1.2.0",
    flags = ["noscript", "loading", "stale", "fast", "allow_busy"],
  }: {
    keys?: [number, number, number];
    since?: string;
    flags?: string[];
  } = {},
): CommandSpec {
  return {
    arity,
    flags,
    keys,
    group: "transactions",
    summary,
    since,
    run,
  };
}

const TRANSACTION_COMMANDS: Record<string, CommandSpec> = {
  multi: transactionSpec(1, "Mark the start of a transaction block", ({ client }) => {
    if (client.multi !== undefined) throw new CommandError("ERR MULTI calls can not be nested");
    client.multi = [];
    client.multiFailed = false;
    client.multiShard = -1;
    client.multiDb = client.db;
    return OK;
  }),
  discard: transactionSpec(1, "Discard all commands issued after MULTI", ({ ctx, client }) => {
    if (client.multi === undefined) throw new CommandError("ERR DISCARD without MULTI");
    client.multi = undefined;
    unwatch(ctx, client);
    return OK;
  }, { since: "2.0.0" }),
  exec: transactionSpec(1, "Execute all commands issued after MULTI", (call) => exec(call), {
    flags: ["noscript", "loading", "stale", "skip_slowlog"],
  }),
  watch: transactionSpec(
    -2,
    "Watch the given keys to determine execution of the MULTI/EXEC block",
    ({ ctx, client, keys }) => {
      if (client.multi !== undefined) {
        throw new CommandError(
          "ERR WATCH inside MULTI is not allowed",
        );
      }
      const { watchers } = stateOf(ctx);
      for (const key of keys) {
        client.watching.add(key);
        let set = watchers.get(key);
        if (set === undefined) watchers.set(key, set = new Set());
        set.add(client);
      }
      return OK;
    },
    { keys: [1, -1, 1], since: "2.2.0" },
  ),
  unwatch: transactionSpec(1, "Forget about all watched keys", ({ ctx, client }) => {
    unwatch(ctx, client);
    return OK;
  }, { since: "2.2.0" }),
};

/** Redis's ACL categories, in the order COMMAND INFO lists them. */
const ACL_ORDER = [
  "keyspace",
  "read",
  "write",
  "string",
  "bitmap",
  "admin",
  "fast",
  "slow",
  "dangerous",
  "connection",
  "transaction",
];
/** The category of a command group (the server group has none of its own). */
const GROUP_ACL: Record<string, string> = {
  string: "string",
  bitmap: "bitmap",
  generic: "keyspace",
  connection: "connection",
  transactions: "transaction",
};
/** Categories Redis gives beyond its rules. */
const EXTRA_ACL: Record<string, string[]> = {
  keys: ["dangerous"],
  dbsize: ["keyspace"],
  flushdb: ["keyspace", "dangerous"],
  flushall: ["keyspace", "dangerous"],
  info: ["dangerous"],
  command: ["connection"],
};

/**
 * A command's ACL categories as Redis 7.0 derives them: its group's, @read/@write from its
 * flags, @fast or else @slow, plus a few given by hand; the containers CLIENT and CONFIG are
 * just @slow.
 */
function aclOf(name: string, spec: CommandSpec): string[] {
  if (name === "client" || name === "config") return ["@slow"];
  const cats = new Set(EXTRA_ACL[name] ?? []);
  if (Object.hasOwn(GROUP_ACL, spec.group)) cats.add(GROUP_ACL[spec.group]);
  if (spec.flags.includes("readonly")) cats.add("read");
  if (spec.flags.includes("write")) cats.add("write");
  cats.add(spec.flags.includes("fast") ? "fast" : "slow");
  return ACL_ORDER.filter((c) => cats.has(c)).map((c) => `@${c}`);
}

/** COMMAND, COMMAND COUNT/INFO/DOCS/LIST. */
function command(call: Call): Reply {
  const { args, client } = call;
  const names = Object.keys(COMMANDS);
  const infoOf = (name: string): Reply => {
    const spec = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (spec === undefined) return null;
    // Flags, ACL categories, tips, key specs and subcommands are sets in RESP3.
    const flags = setReply(client, spec.flags.map((f) => new SimpleReply(f)));
    const acl = setReply(client, aclOf(name, spec).map((c) => new SimpleReply(c)));
    const none = setReply(client, []);
    return [name, spec.arity, flags, ...spec.keys, acl, none, none, none];
  };
  const docsOf = (name: string): [string, Reply] => {
    const spec = COMMANDS[name];
    return [
      name,
      mapReply(client, [
        ["summary", spec.summary],
        ["since", spec.since],
        ["group", spec.group],
      ]),
    ];
  };
  if (args.length === 0) return names.map(infoOf);
  const sub = latin1(args[0].subarray(0, 32)).toUpperCase();
  const asked = args.slice(1).map((a) => latin1(a).toLowerCase());
  if (sub === "COUNT" && args.length === 1) return names.length;
  if (sub === "LIST") return commandList(args, names);
  if (sub === "GETKEYS" && args.length >= 3) return getKeys(args.slice(1));
  if (sub === "HELP" && args.length === 1) return COMMAND_HELP.map((l) => new SimpleReply(l));
  if (sub === "INFO") return (asked.length === 0 ? names : asked).map(infoOf);
  if (sub === "DOCS") {
    const wanted = (asked.length === 0 ? names : asked).filter((n) => Object.hasOwn(COMMANDS, n));
    return mapReply(client, wanted.map(docsOf));
  }
  if (sub === "COUNT" || sub === "GETKEYS" || sub === "HELP") {
    throw new CommandError(
      `ERR wrong number of arguments for 'command|${sub.toLowerCase()}' command`,
    );
  }
  throw new CommandError(`ERR unknown subcommand '${echoArg(args[0])}'. Try COMMAND HELP.`);
}

/** Redis 7.0's COMMAND HELP, without GETKEYSANDFLAGS, which shardkv lacks. */
const COMMAND_HELP = [
  "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "(no subcommand)",
  "    Return details about all Redis commands.",
  "COUNT",
  "    Return the total number of commands in this Redis server.",
  "LIST",
  "    Return a list of all commands in this Redis server.",
  "INFO [<command-name> ...]",
  "    Return details about multiple Redis commands.",
  "    If no command names are given, documentation details for all",
  "    commands are returned.",
  "DOCS [<command-name> ...]",
  "    Return documentation details about multiple Redis commands.",
  "    If no command names are given, documentation details for all",
  "    commands are returned.",
  "GETKEYS <full-command>",
  "    Return the keys from a full Redis command.",
  "HELP",
  "    Prints this help.",
];

/** COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]. */
function commandList(args: Uint8Array[], names: string[]): Reply {
  if (args.length === 1) return names;
  if (args.length !== 4 || upper(args[1]) !== "FILTERBY") throw new CommandError(SYNTAX);
  const by = upper(args[2]);
  const arg = latin1(args[3]).toLowerCase();
  if (by === "MODULE") return [];
  if (by === "ACLCAT") return names.filter((n) => aclOf(n, COMMANDS[n]).includes(`@${arg}`));
  if (by !== "PATTERN") throw new CommandError(SYNTAX);
  const glob = new Glob(encoder.encode(arg));
  return names.filter((n) => glob.matches(encoder.encode(n)));
}

/** COMMAND GETKEYS: the key arguments of a full command, by its first/last/step positions. */
function getKeys(full: Uint8Array[]): Reply {
  const spec = BY_NAME.get(commandName(full[0]));
  if (spec === undefined) throw new CommandError("ERR Invalid command specified");
  const [first, last, step] = spec.keys;
  if (first === 0) throw new CommandError("ERR The command has no key arguments");
  if (spec.arity > 0 ? full.length !== spec.arity : full.length < -spec.arity) {
    throw new CommandError("ERR Invalid number of arguments specified for command");
  }
  const end = last < 0 ? full.length + last : last;
  const keys: Uint8Array[] = [];
  for (let i = first; i <= end && i < full.length; i += step) keys.push(full[i]);
  return keys;
}

/** Every command, by lowercase name. */
const COMMANDS: Record<string, CommandSpec> = {
  ...STRING_COMMANDS,
  ...KEY_COMMANDS,
  ...SERVER_COMMANDS,
  ...TRANSACTION_COMMANDS,
  command: {
    arity: -1,
    flags: ["loading", "stale"],
    keys: [0, 0, 0],
    group: "server",
    summary: "Get array of Redis command details",
    since: "2.8.13",
    run: command,
  },
};

const BY_NAME = new Map(Object.entries(COMMANDS));
const GET = COMMANDS.get;
const SELECT = COMMANDS.select;

/** The store keys of a command's key arguments, in the client's database. */
function keysOf(spec: CommandSpec, args: Uint8Array[], db: number): string[] {
  if (spec.keysOf !== undefined) return spec.keysOf(args, db);
  const [first, last, step] = spec.keys;
  if (first === 0) return [];
  const end = last < 0 ? args.length + last : last - 1;
  const keys: string[] = [];
  for (let i = first - 1; i <= end && i < args.length; i += step) keys.push(storeKey(db, args[i]));
  return keys;
}

/** {@linkcode keysOf} for many arguments: in chunks, yielding to the event loop between them. */
async function keysInChunks(spec: CommandSpec, args: Uint8Array[], db: number): Promise<string[]> {
  if (spec.keysOf !== undefined || args.length <= CHUNK) return keysOf(spec, args, db);
  const [first, last, step] = spec.keys;
  if (first === 0) return [];
  const end = last < 0 ? args.length + last : last - 1;
  const keys: string[] = [];
  for (let i = first - 1; i <= end && i < args.length; i += step) {
    if (keys.length % CHUNK === CHUNK - 1) await yieldTurn();
    keys.push(storeKey(db, args[i]));
  }
  return keys;
}

/** The one shard of `keys`, -1 for none, -2 for several. */
function shardOfKeys(store: Store, keys: string[]): number {
  let shard = -1;
  for (const key of keys) {
    const s = shardOfKey(store, key);
    if (shard === -1) shard = s;
    else if (s !== shard) return -2;
  }
  return shard;
}

/** {@linkcode shardOfKeys} for many keys: in chunks, yielding to the event loop between them. */
async function shardOfMany(store: Store, keys: string[]): Promise<number> {
  let shard = -1;
  for (let i = 0; i < keys.length; i += CHUNK) {
    if (i > 0) await yieldTurn();
    const s = shardOfKeys(store, keys.length <= CHUNK ? keys : keys.slice(i, i + CHUNK));
    if (s === -2 || (shard >= 0 && s !== shard)) return -2;
    shard = s;
  }
  return shard;
}

/** The `{ reply, quit }` of an error. */
function errorOf(e: unknown): ErrorReply {
  if (e instanceof CommandError) return new ErrorReply(e.message);
  return new ErrorReply(`ERR ${e instanceof Error ? e.message : String(e)}`);
}

/** Looks a command up and checks its arity; an error reply when it cannot run. */
function lookup(args: Uint8Array[]): { name: string; spec: CommandSpec } | ErrorReply {
  const name = commandName(args[0]);
  const spec = BY_NAME.get(name);
  if (spec === undefined) {
    return new ErrorReply(unknownCommand(args));
  }
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    return new ErrorReply(`ERR wrong number of arguments for '${name}' command`);
  }
  return { name, spec };
}

function nowOf(ctx: ServerContext): number {
  return ctx.now === undefined ? Date.now() : ctx.now();
}

/** Runs one looked-up command outside MULTI. */
async function run(
  ctx: ServerContext,
  client: Client,
  name: string,
  spec: CommandSpec,
  args: Uint8Array[],
): Promise<Reply> {
  const store = ctx.store;
  if (spec === GET) return (await store.get(storeKey(client.db, args[1]))) ?? null;
  const rest = args.slice(1);
  // A command with many keys (DEL of a million) works in chunks, letting other clients run.
  const keys = await keysInChunks(spec, rest, client.db);
  const call: Call = {
    ctx,
    client,
    args: rest,
    keys,
    ops: undefined as unknown as Ops,
    now: nowOf(ctx),
  };
  if (keys.length === 0 || !spec.flags.includes("write")) {
    call.ops = storeOps(store);
    return await spec.run(call);
  }
  if (name === "set" && rest.length === 2) {
    touchKeys(ctx, keys);
    await setsOf(ctx).add([[keys[0], rest[1]]]);
    return OK;
  }
  if ((await shardOfMany(store, keys)) === -2) {
    // Keys on several shards: each key's operation is atomic, the command as a whole is not.
    call.ops = touching(ctx, storeOps(store));
    return await spec.run(call);
  }
  return await writeTxn(store, (txn) => {
    call.ops = touching(ctx, txnOps(store, txn, () => nowOf(ctx)));
    return spec.run(call);
  });
}

/**
 * `ops` that mark the clients WATCHing a key when a command really changes it, as Redis's
 * signalModifiedKey: every write, and a delete of a key that exists (a failed SET NX, a DEL of
 * a missing key or an EXPIRE that does not apply leave watchers alone). A key is marked before
 * its write, so no EXEC can see the change without seeing the mark.
 */
function touching(ctx: ServerContext, ops: Ops): Ops {
  const { watchers } = stateOf(ctx);
  /** The watched ones of `keys` that exist, marked. */
  const touchExisting = async (keys: string[]): Promise<void> => {
    const watched = keys.filter((key) => watchers.has(key));
    if (watched.length === 0) return;
    const values = await ops.getMany(watched);
    touchKeys(ctx, watched.filter((_, i) => values[i] !== undefined));
  };
  return {
    get: (key) => ops.get(key),
    ttl: (key) => ops.ttl(key),
    getMany: (keys) => ops.getMany(keys),
    set: (key, value, ttl) => {
      if (watchers.size > 0) touchKeys(ctx, [key]);
      return ops.set(key, value, ttl);
    },
    setMany: (pairs) => {
      if (watchers.size > 0) touchKeys(ctx, pairs.map(([key]) => key));
      return ops.setMany(pairs);
    },
    delete: async (key) => {
      if (watchers.size > 0) await touchExisting([key]);
      return await ops.delete(key);
    },
    deleteMany: async (keys) => {
      if (watchers.size > 0) await touchExisting(keys);
      return await ops.deleteMany(keys);
    },
  };
}

/** EXEC: the queued commands, in one write transaction on their shard. */
async function exec(call: Call): Promise<Reply> {
  const { ctx, client } = call;
  const queued = client.multi;
  if (queued === undefined) throw new CommandError("ERR EXEC without MULTI");
  client.multi = undefined;
  if (client.multiFailed) {
    unwatch(ctx, client);
    throw new CommandError("EXECABORT Transaction discarded because of previous errors.");
  }
  if (client.dirty) {
    unwatch(ctx, client);
    return nullArray(client);
  }
  unwatch(ctx, client);
  const store = ctx.store;
  const replies: Reply[] = [];
  const runAll = async (ops: Ops | undefined): Promise<void> => {
    for (const args of queued) {
      const found = lookup(args);
      if (found instanceof ErrorReply) {
        replies.push(found);
        continue;
      }
      const { name, spec } = found;
      try {
        if (ops === undefined) {
          replies.push(await run(ctx, client, name, spec, args));
          continue;
        }
        const rest = args.slice(1);
        const keys = keysOf(spec, rest, client.db);
        const callOps = spec.flags.includes("write") ? touching(ctx, ops) : ops;
        replies.push(
          await spec.run({ ctx, client, args: rest, keys, ops: callOps, now: nowOf(ctx) }),
        );
      } catch (e) {
        replies.push(errorOf(e));
      }
    }
  };
  const wide = queued.some((args) => STORE_WIDE.has(latin1(args[0].subarray(0, 16)).toLowerCase()));
  if (client.multiShard < 0 || wide) await runAll(undefined);
  else await writeTxn(store, (txn) => runAll(txnOps(store, txn, () => nowOf(ctx))));
  return replies;
}

/** Queues a command inside MULTI: `+QUEUED`, or an error that makes EXEC abort. */
function queue(ctx: ServerContext, client: Client, spec: CommandSpec, args: Uint8Array[]): Reply {
  try {
    const keys = keysOf(spec, args.slice(1), client.multiDb);
    if (spec === SELECT) {
      const db = int64Of(args[1]);
      if (db !== undefined && db >= 0n && db < 16n) client.multiDb = Number(db);
    }
    const shard = shardOfKeys(ctx.store, keys);
    if (shard === -2 || (shard >= 0 && client.multiShard >= 0 && shard !== client.multiShard)) {
      throw new CommandError(CROSSSLOT);
    }
    if (shard >= 0) client.multiShard = shard;
  } catch (e) {
    client.multiFailed = true;
    return errorOf(e);
  }
  client.multi!.push(args);
  return QUEUED;
}

/**
 * Redis's rejectCommand: an EXEC refused before it runs discards the transaction (and the
 * watched keys), in MULTI or not. The
 * arity error is formatted there without its "ERR " code (rejectCommandFormat).
 */
function execAbort(
  ctx: ServerContext,
  client: Client,
  args: Uint8Array[],
  error: ErrorReply,
): ErrorReply {
  if (args[0].length !== 4 || latin1(args[0]).toLowerCase() !== "exec") return error;
  client.multi = undefined;
  unwatch(ctx, client);
  const message = error.message.replace(/^ERR (?=wrong number of arguments)/, "");
  return new ErrorReply(`EXECABORT Transaction discarded because of: ${message}`);
}

/**
 * Plain SETs of every connection in one I/O turn, written by one `batchSet` (one commit per
 * shard) once the turn's reads are handled. Each connection waits for its SETs before its next
 * command, so its commands still apply in order; SETs of different connections in one turn are
 * concurrent, and the batch applies them in arrival order (for one key the last one wins).
 */
class TurnSets {
  #store: Store;
  #pending: [string, Uint8Array][] = [];
  #flush: Promise<void> | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  add(pairs: [string, Uint8Array][]): Promise<void> {
    for (const pair of pairs) {
      // A value the store would refuse fails alone, not the shared batch.
      if (pair[1].byteLength > MAX_VALUE_BYTES) return this.#store.batchSet(pairs);
    }
    for (const pair of pairs) this.#pending.push(pair);
    this.#flush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const batch = this.#pending;
      this.#pending = [];
      this.#flush = undefined;
      return this.#store.batchSet(batch);
    });
    return this.#flush;
  }
}

const turnSets = new WeakMap<ServerContext, TurnSets>();

function setsOf(ctx: ServerContext): TurnSets {
  let sets = turnSets.get(ctx);
  if (sets === undefined) turnSets.set(ctx, sets = new TurnSets(ctx.store));
  return sets;
}

/**
 * Plain GETs of every connection in one I/O turn, read by one `batchGet` (one pass per shard)
 * once the turn's reads are handled, as {@linkcode TurnSets} does for SETs. Each connection
 * waits for its GETs before its next command; GETs of different connections in one turn are
 * concurrent, so reading them together changes no reply a client could tell apart.
 */
class TurnGets {
  #store: Store;
  #pending: string[] = [];
  #flush: Promise<Map<string, Uint8Array>> | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  /** The values of `keys` (and maybe of other keys): missing keys are not in the map. */
  get(keys: string[]): Promise<Map<string, Uint8Array>> {
    for (const key of keys) this.#pending.push(key);
    this.#flush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const batch = this.#pending;
      this.#pending = [];
      this.#flush = undefined;
      return this.#store.batchGet(batch);
    });
    return this.#flush;
  }
}

const turnGets = new WeakMap<ServerContext, TurnGets>();

function getsOf(ctx: ServerContext): TurnGets {
  let gets = turnGets.get(ctx);
  if (gets === undefined) turnGets.set(ctx, gets = new TurnGets(ctx.store));
  return gets;
}

/** A client for callers that run commands without a session (the first use of a context). */
const defaultClients = new WeakMap<ServerContext, Client>();

function defaultClient(ctx: ServerContext): Client {
  let c = defaultClients.get(ctx);
  if (c === undefined) defaultClients.set(ctx, c = newClient(ctx));
  return c;
}

/**
 * Runs one command (`args[0]` is its name) and returns its reply; never throws: failures become
 * error replies. `quit` is true for QUIT (or a CLIENT KILL of this client), after which the
 * connection should close. `client` is the connection's state (one per context when omitted).
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
  client: Client = defaultClient(ctx),
): Promise<{ reply: Reply; quit: boolean }> {
  ctx.commands++;
  const found = lookup(args);
  const inMulti = client.multi !== undefined;
  if (found instanceof ErrorReply) {
    if (inMulti) client.multiFailed = true;
    return { reply: execAbort(ctx, client, args, found), quit: false };
  }
  const { name, spec } = found;
  client.lastCommand = name;
  let reply: Reply;
  if (!client.authed && !spec.flags.includes("no_auth")) {
    if (inMulti) client.multiFailed = true;
    reply = execAbort(ctx, client, args, new ErrorReply(NOAUTH));
  } else if (inMulti && !NOT_QUEUED.has(name)) {
    reply = queue(ctx, client, spec, args);
  } else {
    try {
      reply = await run(ctx, client, name, spec, args);
    } catch (e) {
      reply = errorOf(e);
    }
  }
  if (client.resp === 3) reply = toResp3(reply);
  return { reply, quit: name === "quit" || client.killed };
}

/** A pipelined command that can join a batch: plain `SET key value` or `GET key`. */
function batchKind(args: Uint8Array[]): "set" | "get" | undefined {
  const n = args[0];
  if (n.length !== 3 || (n[1] | 0x20) !== 0x65 || (n[2] | 0x20) !== 0x74) return undefined;
  const first = n[0] | 0x20;
  if (args.length === 3 && first === 0x73) return "set";
  if (args.length === 2 && first === 0x67) return "get";
  return undefined;
}

/** Replies of a run of same-kind batchable commands, or `undefined` to run them one by one. */
async function runBatch(
  ctx: ServerContext,
  client: Client,
  kind: "set" | "get",
  run: Uint8Array[][],
): Promise<Reply[] | undefined> {
  try {
    const keys = run.map((args) => storeKey(client.db, args[1]));
    if (kind === "set") {
      touchKeys(ctx, keys);
      // Duplicate keys: the last one wins, as if the SETs ran in order.
      await setsOf(ctx).add(keys.map((key, i) => [key, run[i][2]]));
      return run.map(() => OK);
    }
    const found = await getsOf(ctx).get(keys);
    return keys.map((key) => found.get(key) ?? nullOf(client));
  } catch {
    // A rejected batch changes nothing; one by one, each command gets its own error reply.
    return undefined;
  }
}

/** A missing value's reply in the client's protocol. */
function nullOf(client: Client): Reply {
  return client.resp === 3 ? toResp3(null) : null;
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
  client: Client = defaultClient(ctx),
): Promise<boolean> {
  return await runCommands(ctx, commands, reply, client);
}

/**
 * {@linkcode executeAll} without a promise for what needs none: `true`/`false` at once when
 * no command had to wait, else a promise of it (internal: the session's hot path).
 */
export function runCommands(
  ctx: ServerContext,
  commands: Uint8Array[][],
  reply: (reply: Reply) => void,
  client: Client,
): boolean | Promise<boolean> {
  let i = 0;
  while (i < commands.length) {
    const next = step(ctx, commands, i, reply, client);
    if (typeof next !== "number") {
      // Usually the last command (one per read): then no loop is left to run.
      return next.then((n) =>
        n < 0 ? true : n >= commands.length ? false : runRest(ctx, commands, n, reply, client)
      );
    }
    if (next < 0) return true;
    i = next;
  }
  return false;
}

/** The rest of {@linkcode runCommands} once a command had to wait. */
async function runRest(
  ctx: ServerContext,
  commands: Uint8Array[][],
  from: number,
  reply: (reply: Reply) => void,
  client: Client,
): Promise<boolean> {
  let i = from;
  while (i >= 0 && i < commands.length) {
    const next = step(ctx, commands, i, reply, client);
    i = typeof next === "number" ? next : await next;
  }
  return i < 0;
}

/**
 * Runs the command at `i` (or the run of batchable commands starting there) and passes its
 * replies on; the index after it, -1 after a QUIT, or a promise of that.
 */
function step(
  ctx: ServerContext,
  commands: Uint8Array[][],
  i: number,
  reply: (reply: Reply) => void,
  client: Client,
): number | Promise<number> {
  const args = commands[i];
  const kind = batchKind(args);
  if (kind === undefined || !client.authed || client.multi !== undefined) {
    return execute(ctx, args, client).then((result) => {
      reply(result.reply);
      return result.quit ? -1 : i + 1;
    });
  }
  let end = i + 1;
  while (end < commands.length && batchKind(commands[end]) === kind) end++;
  if (end - i === 1) return single(ctx, client, kind, args, reply, i + 1);
  return runBatch(ctx, client, kind, commands.slice(i, end)).then(async (replies) => {
    if (replies === undefined) {
      for (let k = i; k < end; k++) reply((await execute(ctx, commands[k], client)).reply);
    } else {
      ctx.commands += replies.length;
      client.lastCommand = kind;
      for (const r of replies) reply(r);
    }
    return end;
  });
}

/** One plain GET or SET, as {@linkcode execute} runs it, with fewer steps. */
function single(
  ctx: ServerContext,
  client: Client,
  kind: "set" | "get",
  args: Uint8Array[],
  reply: (reply: Reply) => void,
  next: number,
): number | Promise<number> {
  ctx.commands++;
  client.lastCommand = kind;
  let key: string;
  try {
    key = storeKey(client.db, args[1]);
  } catch (e) {
    reply(errorOf(e));
    return next;
  }
  const failed = (e: unknown): number => {
    reply(errorOf(e));
    return next;
  };
  if (kind === "get") {
    return ctx.store.get(key).then((value) => {
      reply(value ?? nullOf(client));
      return next;
    }, failed);
  }
  touchKeys(ctx, [key]);
  return setsOf(ctx).add([[key, args[2]]]).then(() => {
    reply(OK);
    return next;
  }, failed);
}

/** Commands whose keys are independent, so a packed request runs chunk by chunk (and MSET). */
const STREAMED = new Set(["del", "unlink", "exists", "touch", "mget", "mset"]);

/**
 * Runs a packed (huge) request. DEL, UNLINK, EXISTS, TOUCH, MGET and MSET run chunk by chunk:
 * each chunk's argument views and key strings are made, run and dropped, so the request costs
 * little more than its bytes. The replies and effects are those of {@linkcode execute}: every key
 * is checked before anything runs, keys all on one shard still run in one write transaction,
 * and keys on several shards run chunk by chunk as `execute` does. Anything else (and MULTI,
 * AUTH) materializes the arguments and runs through `execute`.
 */
export async function executePacked(
  ctx: ServerContext,
  packed: PackedArgs,
  client: Client = defaultClient(ctx),
): Promise<{ reply: Reply; quit: boolean }> {
  const found = lookup(packed.slice(0, Math.min(packed.length, 3)));
  const name = found instanceof ErrorReply ? "" : found.name;
  const arityOk = name === "mset" ? packed.length % 2 === 1 : packed.length >= 2;
  if (
    found instanceof ErrorReply || !STREAMED.has(name) || !arityOk || !client.authed ||
    client.multi !== undefined
  ) {
    return await execute(ctx, packed.slice(0), client);
  }
  ctx.commands++;
  client.lastCommand = name;
  const { spec } = found;
  const step = name === "mset" ? 2 : 1;
  const write = spec.flags.includes("write");
  const store = ctx.store;
  /** Chunk `i` of the arguments (the command name excluded) and its keys. */
  const chunkOf = (i: number): { args: Uint8Array[]; keys: string[] } => {
    const args = packed.slice(1 + i * CHUNK * step, 1 + (i + 1) * CHUNK * step);
    const keys: string[] = [];
    for (let k = 0; k < args.length; k += step) keys.push(storeKey(client.db, args[k]));
    return { args, keys };
  };
  const chunks = Math.ceil((packed.length - 1) / (CHUNK * step));
  const runAll = async (ops: Ops): Promise<Reply> => {
    let total: Reply = name === "mget" ? [] : name === "mset" ? OK : 0;
    for (let i = 0; i < chunks; i++) {
      if (i > 0) await yieldTurn();
      const { args, keys } = chunkOf(i);
      const reply = await spec.run({
        ctx,
        client,
        args,
        keys,
        ops: write ? touching(ctx, ops) : ops,
        now: nowOf(ctx),
      });
      if (Array.isArray(total) && Array.isArray(reply)) { for (const r of reply) total.push(r); }
      else if (typeof total === "number" && typeof reply === "number") total += reply;
    }
    return total;
  };
  let reply: Reply;
  try {
    // A write checks every key (and finds their shard) before anything runs, as execute does.
    let shard = -1;
    for (let i = 0; write && i < chunks; i++) {
      if (i > 0) await yieldTurn();
      const s = shardOfKeys(store, chunkOf(i).keys);
      if (s === -2 || (shard >= 0 && s >= 0 && s !== shard)) shard = -2;
      else if (shard === -1) shard = s;
    }
    reply = !write || shard === -2
      ? await runAll(storeOps(store))
      : await writeTxn(store, (txn) => runAll(txnOps(store, txn, () => nowOf(ctx))));
  } catch (e) {
    reply = errorOf(e);
  }
  if (client.resp === 3) reply = toResp3(reply);
  return { reply, quit: client.killed };
}
