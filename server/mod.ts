/**
 * A Redis-protocol (RESP2) server in front of a shardkv store, so `redis-cli`, `redis-benchmark`
 * and Redis client libraries can use it. It runs on `Bun.listen` under Bun, `Deno.listen`
 * under Deno and `node:net` under Node; the runtime's listener is loaded only when a server
 * starts.
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
import type { Listen } from "./_listener.ts";
import { RespSession } from "./session.ts";

export { CommandError, execute, executeAll, ScanCursors, type ServerContext } from "./commands.ts";
export {
  encodeReply,
  ErrorReply,
  OK,
  type Reply,
  ReplyWriter,
  RespParser,
  RespProtocolError,
  SimpleReply,
} from "./resp.ts";
export { type FeedResult, RespSession } from "./session.ts";
export type {
  BatchEntries,
  CacheStats,
  ScanOptions,
  SetOptions,
  StorageBackend,
  Store,
  StoreStats,
} from "../mod.ts";

/** Options of {@linkcode serveResp}. */
export interface ServeOptions {
  /** Address to bind (default `"127.0.0.1"`: local clients only). */
  hostname?: string;
  /** TCP port (default 6379); 0 picks a free one, see {@linkcode RespServer.port}. */
  port?: number;
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
  return (await import("./_node_listener.ts")).listen;
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
  const ctx: ServerContext = {
    store,
    startedAt: Date.now(),
    port,
    clients: 0,
    commands: 0,
    cursors: new ScanCursors(),
  };
  const listen = await runtimeListener();
  const handle = await listen({ hostname, port }, () => new RespSession(ctx));
  ctx.port = handle.port;
  return { hostname, port: handle.port, close: () => handle.close() };
}
