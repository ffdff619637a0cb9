/**
 * A Redis-protocol (RESP2) server in front of a shardkv store, so `redis-cli`, `redis-benchmark`
 * and Redis client libraries can use it. It runs on `Bun.listen` under Bun, `Deno.listen` under
 * Deno and `node:net` under Node.js; the runtime's listener is loaded only when a server starts.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { serveResp } from "@shardkv/shardkv/server";
 * const store = await openStore("./data");
 * const server = await serveResp(store, { port: 6380 });
 * console.log(`redis-cli -p ${server.port}`);
 * // later:
 * await server.close();
 * await store.close();
 * ```
 *
 * @module
 */
import type { Store } from "../mod.ts";
import { ScanCursors, type ServerContext } from "./commands.ts";
import { defaultConfig, type ServerConfig } from "./_cmd_context.ts";
import { ConnectionSet, type Listen } from "./_listener.ts";
import { RespParser } from "./resp.ts";
import { RespSession } from "./session.ts";

export type { ServerConfig } from "./_cmd_context.ts";
// The store types its signature references, so its documentation is complete.
export type {
  AtomicCheck,
  AtomicOperation,
  BatchEntries,
  CacheStats,
  CommitResult,
  KvEntry,
  ScanOptions,
  SetOptions,
  StorageBackend,
  Store,
  StoreStats,
  WatchEvent,
  WatchOptions,
} from "../mod.ts";

/** Options of {@linkcode serveResp}. */
export interface ServeOptions {
  /** Address to bind (default `"127.0.0.1"`: local clients only). */
  hostname?: string;
  /** TCP port (default 6379); 0 picks a free one, see {@linkcode RespServer.port}. */
  port?: number;
  /** Clients must `AUTH` with this password first (like Redis's `requirepass`; default none). */
  requirepass?: string;
  /**
   * Like Redis's protected mode (default `true`): without `requirepass`, refuse to listen on an
   * address other than loopback. `false` serves anyone who can reach the port.
   */
  protectedMode?: boolean;
  /**
   * Disconnect a client idle for this many seconds, like Redis's `timeout` (default 0: never).
   * This and the limits below are what `CONFIG GET` reports; `CONFIG SET` changes them live
   * (new bulk-length and query-buffer limits apply to connections made after the change).
   */
  timeout?: number;
  /**
   * Longest argument in bytes, like Redis's `proto-max-bulk-len` (default: shardkv's largest
   * value plus 1 KiB, since a longer one could not be stored anyway).
   */
  maxBulkLength?: number;
  /**
   * Most request bytes one client may have buffered, like Redis's `client-query-buffer-limit`
   * (default 1 GiB); past it the client gets a protocol error and is disconnected.
   */
  maxQueryBuffer?: number;
  /**
   * Disconnect a client whose unread replies exceed `hard` bytes, or `soft` bytes for
   * `softSeconds` in a row, like Redis's `client-output-buffer-limit` (0 turns a limit off).
   * Default: `{ hard: 512 MiB, soft: 64 MiB, softSeconds: 60 }`. Independently of these, the
   * server stops reading from a client (and running its commands) while 512 KiB of its replies
   * wait, so a client that does not read cannot make the server buffer without bound.
   */
  outputBufferLimit?: { hard?: number; soft?: number; softSeconds?: number };
  /**
   * Most connections at once, like Redis's `maxclients` (default 10000); past it a new client
   * gets `ERR max number of clients reached` and is disconnected.
   */
  maxClients?: number;
  /** Where trouble is reported (accept failures, internal errors; default `console.error`). */
  log?: (message: string) => void;
}

/** A running server. */
export interface RespServer {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** Stops listening and disconnects every client; the store stays open. */
  close(): Promise<void>;
}

/** Loads the listener of the current runtime. */
async function runtimeListener(): Promise<Listen> {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return (await import("./_bun_listener.ts")).listen;
  if (g.Deno !== undefined) return (await import("./_deno_listener.ts")).listen;
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (node?.versions?.node !== undefined) return (await import("./_node_listener.ts")).listen;
  throw new Error("The shardkv server needs Bun, Deno or Node.js (no TCP listener found)");
}

/** A non-negative number option (0 turns it off). */
function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a number >= 0, received ${String(value)}`);
  }
  return value;
}

/**
 * Serves `store` over the Redis protocol. Connections share the store; each connection's
 * requests run in order. The caller still owns the store and closes it after the server.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { serveResp } from "@shardkv/shardkv/server";
 * const store = await openStore("", { backend: "memory" });
 * const server = await serveResp(store, { port: 0 });
 * server.port; // a free port
 * await server.close();
 * ```
 */
export async function serveResp(store: Store, options: ServeOptions = {}): Promise<RespServer> {
  const { hostname = "127.0.0.1", port = 6379 } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, received ${port}`);
  }
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(`hostname must be a non-empty string, received ${String(hostname)}`);
  }
  const { requirepass, protectedMode = true } = options;
  if (requirepass !== undefined && typeof requirepass !== "string") {
    throw new TypeError(`requirepass must be a string, received ${typeof requirepass}`);
  }
  const loopback = /^(127\.|::1$|\[::1\]$|localhost$)/.test(hostname);
  if (protectedMode && !loopback && !requirepass) {
    throw new RangeError(
      `Protected mode: refusing to listen on ${hostname} without requirepass; set requirepass, ` +
        `or protectedMode: false to serve anyone who can reach the port`,
    );
  }
  const out = options.outputBufferLimit ?? {};
  const defaults = defaultConfig();
  const config: ServerConfig = {
    ...defaults,
    timeout: nonNegative("timeout", options.timeout, 0),
    outputHard: nonNegative("outputBufferLimit.hard", out.hard, defaults.outputHard),
    outputSoft: nonNegative("outputBufferLimit.soft", out.soft, defaults.outputSoft),
    outputSoftSeconds: nonNegative(
      "outputBufferLimit.softSeconds",
      out.softSeconds,
      defaults.outputSoftSeconds,
    ),
    maxclients: options.maxClients ?? defaults.maxclients,
  };
  if (!Number.isInteger(config.maxclients) || config.maxclients < 1) {
    throw new RangeError(
      `maxClients must be an integer >= 1, received ${String(options.maxClients)}`,
    );
  }
  config.protoMaxBulkLen = options.maxBulkLength ?? defaults.protoMaxBulkLen;
  config.clientQueryBufferLimit = options.maxQueryBuffer ?? defaults.clientQueryBufferLimit;
  // The parser checks the limits before anything binds.
  new RespParser({
    maxBulkLength: config.protoMaxBulkLen,
    maxQueryBuffer: config.clientQueryBufferLimit,
  });
  const ctx: ServerContext = {
    requirepass,
    store,
    startedAt: Date.now(),
    port,
    clients: 0,
    commands: 0,
    cursors: new ScanCursors(),
    config,
  };
  const log = options.log ?? ((message: string) => console.error(message));
  if (typeof log !== "function") throw new TypeError(`log must be a function, received ${log}`);
  const conns = new ConnectionSet((p) => new RespSession(ctx, { parser: p }), { config, log });
  const listen = await runtimeListener();
  let handle;
  try {
    handle = await listen({ hostname, port }, conns.accept, log);
  } catch (e) {
    conns.closeAll();
    throw e;
  }
  ctx.port = handle.port;
  return {
    hostname,
    port: handle.port,
    async close() {
      const closing = handle.close(); // Stops accepting at once, then settles.
      conns.closeAll();
      await closing;
    },
  };
}
