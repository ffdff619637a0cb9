// What commands run with: the server context, the connection (Client), and key operations (Ops)
// that go either straight to the store or through one write transaction.
import { setImmediate } from "node:timers";
import { deleteKey, getKey, MAX_VALUE_BYTES, setKey, type Store, type WriteTxn } from "../mod.ts";
import type { Reply } from "./resp.ts";
import type { ScanCursors } from "./_cmd_keyspace.ts";

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
  /** The clock for absolute expiry times (EXPIREAT, EXPIRETIME...); default `Date.now`. */
  readonly now?: () => number;
  /** The password clients must AUTH with (none: no AUTH needed). */
  requirepass?: string;
  /**
   * The server's connection options, which CONFIG GET reports and CONFIG SET changes live
   * (the server's listener reads the same object); default: {@linkcode defaultConfig}.
   */
  config?: ServerConfig;
}

/** Connection options of a server, in Redis's units (CONFIG GET/SET names in comments). */
export interface ServerConfig {
  /** `timeout`: idle seconds before a client is disconnected; 0: never. */
  timeout: number;
  /** `proto-max-bulk-len`: the longest argument in bytes (for connections made after a change). */
  protoMaxBulkLen: number;
  /** `client-query-buffer-limit`: request bytes one client may have buffered (likewise). */
  clientQueryBufferLimit: number;
  /** `client-output-buffer-limit` of the normal class: its hard limit in bytes (0: none). */
  outputHard: number;
  /** Its soft limit in bytes (0: none). */
  outputSoft: number;
  /** How long (s) a client may stay past the soft limit. */
  outputSoftSeconds: number;
  /** The replica and pubsub classes of `client-output-buffer-limit`: reported, not used. */
  outputOther: string;
  /** `maxclients`: connections past this many are refused with Redis's error. */
  maxclients: number;
}

/** The defaults of {@linkcode ServerConfig}. */
export function defaultConfig(): ServerConfig {
  return {
    timeout: 0,
    protoMaxBulkLen: MAX_VALUE_BYTES + 1024,
    clientQueryBufferLimit: 1024 * 1024 * 1024,
    outputHard: 512 * 1024 * 1024,
    outputSoft: 64 * 1024 * 1024,
    outputSoftSeconds: 60,
    outputOther: "slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    maxclients: 10000,
  };
}

/** One connection's state (the server makes one per connection). */
export interface Client {
  /** CLIENT ID. */
  readonly id: number;
  /** The SELECTed database, 0..15. */
  db: number;
  /** CLIENT SETNAME's name ("" for none). */
  name: string;
  /** The protocol HELLO chose. */
  resp: 2 | 3;
  /** AUTH succeeded, or no password is required. */
  authed: boolean;
  /** `Date.now()` at connect. */
  readonly createdAt: number;
  /** The last command's name, for CLIENT LIST. */
  lastCommand: string;
  /** Queued commands between MULTI and EXEC, or `undefined` outside MULTI. */
  multi?: Uint8Array[][];
  /** A queued command failed to queue: EXEC aborts. */
  multiFailed: boolean;
  /** The shard the transaction's keys are on (-1: none yet). */
  multiShard: number;
  /** The database queued commands will run in (a queued SELECT changes it). */
  multiDb: number;
  /** WATCHed store keys. */
  watching: Set<string>;
  /** A WATCHed key changed: EXEC fails. */
  dirty: boolean;
  /** Set by CLIENT KILL: the connection closes after its current reply. */
  killed: boolean;
}

/** Reads and writes of single keys, straight to the store or inside one write transaction. */
export interface Ops {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Ms left, `Infinity` (no expiry), or `undefined` (no such key). */
  ttl(key: string): Promise<number | undefined>;
  /** Writes `value`; `ttl` in ms (`undefined` or `Infinity`: no expiry). */
  set(key: string, value: Uint8Array, ttl?: number): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** Values of `keys` (missing: `undefined`), in order. */
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]>;
  /** Writes every pair without expiry, in order (for one key the last one wins). */
  setMany(pairs: [string, Uint8Array][]): Promise<void>;
  /** Deletes `keys` in order; how many existed (a repeated key counts once). */
  deleteMany(keys: string[]): Promise<number>;
}

/**
 * Keys per chunk of a multi-key operation. Between chunks it yields to the event loop, so one
 * client's DEL or MGET of a million keys does not stall every other client while it runs.
 */
export const CHUNK = 1024;

/**
 * Most time (ms) the server keeps working through `setImmediate` turns before it waits for a
 * timer instead. Deno runs its event loop on a Tokio current-thread runtime, which polls the
 * sockets only when the loop goes idle or once every 61 scheduler ticks: a long run of
 * immediates (or of reads that find data at once) left other clients' requests unread for
 * 50-170 ms. A timer wait lets the loop go idle, so every runtime polls its sockets at least
 * this often; it costs about a millisecond per slice.
 */
const SLICE_MS = 4;
/** When the server last resumed from a timer wait (see {@linkcode SLICE_MS}). */
let polledAt = 0;

/** Whether the server has worked for a slice since it last let the runtime poll its sockets. */
export function sliceOver(): boolean {
  return performance.now() - polledAt >= SLICE_MS;
}

/** Waits for a timer, so the runtime polls every socket before the server goes on. */
export function pollTurn(): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => {
    polledAt = performance.now();
  });
}

/**
 * Lets other connections' I/O and commands run: a macrotask turn (not a microtask), and a timer
 * wait once per slice (see {@linkcode SLICE_MS}).
 */
export function yieldTurn(): Promise<void> {
  if (sliceOver()) return pollTurn();
  return new Promise((resolve) => setImmediate(resolve));
}

/** `items` in chunks of {@linkcode CHUNK}, yielding to the event loop between chunks. */
export async function* chunked<T>(items: T[]): AsyncGenerator<T[]> {
  for (let i = 0; i < items.length; i += CHUNK) {
    if (i > 0) await yieldTurn();
    yield items.length <= CHUNK ? items : items.slice(i, i + CHUNK);
  }
}

/**
 * The latest expiry time (ms since the epoch) a key gets, about 2^53 ms (year 287,396): stores
 * keep expiry times as JavaScript numbers, exact only up to 2^53, and node:sqlite refuses to read
 * a larger integer back (the key would become unreadable). A day's margin covers the store's
 * clock running ahead of the server's.
 */
const MAX_EXPIRY_MS = Number.MAX_SAFE_INTEGER - 86_400_000;

function ttlOption(ttl: number | undefined): { ttl?: number } {
  return ttl === undefined || ttl === Infinity ? {} : { ttl: capped(Math.max(0, ttl)) };
}

/** `ttl` (ms) cut so the expiry time stays within {@linkcode MAX_EXPIRY_MS}. */
function capped(ttl: number): number {
  return Math.min(ttl, MAX_EXPIRY_MS - Date.now());
}

const opsOfStore = new WeakMap<Store, Ops>();

/** Ops straight on the store: each call atomic on its own (one object per store). */
export function storeOps(store: Store): Ops {
  let ops = opsOfStore.get(store);
  if (ops === undefined) opsOfStore.set(store, ops = makeStoreOps(store));
  return ops;
}

function makeStoreOps(store: Store): Ops {
  return {
    get: (key) => store.get(key),
    ttl: (key) => store.ttl(key),
    set: async (key, value, ttl) => {
      // An expiry time already reached deletes the key, as Redis's checkAlreadyExpired does.
      if (ttl !== undefined && ttl <= 0) await store.delete(key);
      else await store.set(key, value, ttlOption(ttl));
    },
    delete: (key) => store.delete(key),
    // Straight on the store, several keys are batches of up to CHUNK keys (a commit per shard
    // and chunk, shards at once): each key's operation is atomic, the command is not.
    getMany: async (keys) => {
      const out: (Uint8Array | undefined)[] = [];
      for await (const chunk of chunked(keys)) {
        const found = await store.batchGet(chunk);
        for (const key of chunk) out.push(found.get(key));
      }
      return out;
    },
    setMany: async (pairs) => {
      for await (const chunk of chunked(pairs)) await store.batchSet(chunk);
    },
    deleteMany: async (keys) => {
      let n = 0;
      for await (const chunk of chunked(keys)) n += await store.batchDelete(new Set(chunk));
      return n;
    },
  };
}

/**
 * Ops inside a write transaction. The transaction reads its own values; TTLs it wrote are kept
 * here (as expiry times), since the store's `ttl` sees only committed state.
 */
export function txnOps(store: Store, txn: WriteTxn, now: () => number): Ops {
  const expiries = new Map<string, number | undefined>();
  return {
    get: (key) => getKey(txn, key),
    ttl: async (key) => {
      if (!expiries.has(key)) return await store.ttl(key);
      const at = expiries.get(key);
      if (at === undefined) return undefined;
      return at === Infinity ? Infinity : at - now();
    },
    set: async (key, value, ttl) => {
      if (ttl !== undefined && ttl <= 0) {
        await deleteKey(txn, key);
        expiries.set(key, undefined);
        return;
      }
      await setKey(txn, key, value, ttlOption(ttl));
      expiries.set(key, ttl === undefined || ttl === Infinity ? Infinity : now() + capped(ttl));
    },
    delete: async (key) => {
      const had = await deleteKey(txn, key);
      expiries.set(key, undefined);
      return had;
    },
    // Inside the transaction the command stays atomic; the chunks only let other clients run.
    getMany: async (keys) => {
      const out: (Uint8Array | undefined)[] = [];
      for await (const chunk of chunked(keys)) {
        for (const key of chunk) out.push(await getKey(txn, key));
      }
      return out;
    },
    setMany: async (pairs) => {
      for await (const chunk of chunked(pairs)) {
        for (const [key, value] of chunk) {
          await setKey(txn, key, value);
          expiries.set(key, Infinity);
        }
      }
    },
    deleteMany: async (keys) => {
      let n = 0;
      for await (const chunk of chunked(keys)) {
        for (const key of chunk) {
          if (await deleteKey(txn, key)) n++;
          expiries.set(key, undefined);
        }
      }
      return n;
    },
  };
}

/** What a command runs with. */
export interface Call {
  ctx: ServerContext;
  client: Client;
  /** Arguments, the command name excluded. */
  args: Uint8Array[];
  /** The store keys of the command's key arguments, in order (computed before it runs). */
  keys: string[];
  ops: Ops;
  now: number;
}

/** A command: its Redis metadata for COMMAND INFO/DOCS, and its implementation. */
export interface CommandSpec {
  /** Redis arity: argument count including the name; negative means "at least". */
  arity: number;
  flags: string[];
  /** Key positions (1 = first argument): first, last (-1: to the end), step. */
  keys: [number, number, number];
  group: string;
  summary: string;
  since: string;
  run(call: Call): Promise<Reply> | Reply;
  /** The store keys, when they do not follow `keys` (COPY ... DB n); may throw a CommandError. */
  keysOf?(args: Uint8Array[], db: number): string[];
}

/** `first, last, step` key specs. */
export const ONE_KEY: [number, number, number] = [1, 1, 1];

/**
 * The spec builder of one command group: arity, flags, summary, the version it appeared in, how
 * it runs, and its key positions (one key by default).
 */
export function specsOf(group: string): (
  arity: number,
  flags: string[],
  summary: string,
  since: string,
  run: (call: Call) => Promise<Reply> | Reply,
  keys?: [number, number, number],
) => CommandSpec {
  return (arity, flags, summary, since, run, keys = ONE_KEY) => ({
    arity,
    flags,
    keys,
    group,
    summary,
    since,
    run,
  });
}
export const TWO_KEYS: [number, number, number] = [1, 2, 1];
export const ALL_KEYS: [number, number, number] = [1, -1, 1];
export const NO_KEYS: [number, number, number] = [0, 0, 0];
