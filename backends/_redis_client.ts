// The part of ioredis the redis backend uses, loaded only when a redis store is opened, and a
// connection shared by the shards of one store (closed when its last shard closes).
import { Buffer } from "node:buffer";
import { importOptional } from "./_optional_import.ts";
import {
  JOURNAL_SCRIPTS,
  type JournalScript,
  MANIFEST_SCRIPT,
  SHARD_SCRIPTS,
  type ShardScript,
} from "./_redis_scripts.ts";

/** Where the Redis server or cluster is. */
export interface RedisBackendOptions {
  /** A standalone server, e.g. `"redis://127.0.0.1:6379"` (default when `nodes` is absent). */
  url?: string;
  /** Startup nodes of a Redis Cluster (or Valkey cluster): `"host:port"` strings. */
  nodes?: readonly string[];
}

export type Arg = string | Buffer;

interface Client {
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void;
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  del(key: string): Promise<number>;
  get(key: string): Promise<string | null>;
  hdel(key: string, field: string): Promise<number>;
  hgetallBuffer(key: string): Promise<Record<string, Buffer>>;
  on(event: "error", listener: (error: unknown) => void): unknown;
}

interface IoRedis {
  Redis: new (url: string, options: Record<string, unknown>) => Client;
  Cluster: new (
    nodes: Array<{ host: string; port: number }>,
    options: Record<string, unknown>,
  ) => Client;
}

const CONNECT_TIMEOUT = 5000;

/** One client and the number of shards using it. */
export class RedisLink {
  readonly #client: Client;
  #users = 0;

  private constructor(client: Client) {
    this.#client = client;
  }

  /** Connects to what `options` names; rejects when no server answers. */
  static async open(options: RedisBackendOptions): Promise<RedisLink> {
    const { url, nodes } = checkOptions(options);
    const io = await importOptional<IoRedis>("ioredis", "^6.0.0", "The redis backend");
    const common = { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT };
    const client = nodes === undefined
      ? new io.Redis(url ?? "redis://127.0.0.1:6379", common)
      : new io.Cluster(nodes.map(parseNode), { ...common, redisOptions: common });
    // Failed commands reject on their own; the event would only repeat them.
    client.on("error", () => {});
    try {
      await client.connect();
    } catch (e) {
      client.disconnect();
      throw new Error(
        `Cannot connect to Redis at ${nodes?.join(",") ?? url ?? "redis://127.0.0.1:6379"}`,
        { cause: e },
      );
    }
    for (const [name, lua] of Object.entries(SHARD_SCRIPTS)) {
      client.defineCommand(name, { numberOfKeys: 5, lua });
    }
    for (const [name, lua] of Object.entries(JOURNAL_SCRIPTS)) {
      client.defineCommand(name, { numberOfKeys: 2, lua });
    }
    client.defineCommand("skvManifest", { numberOfKeys: 1, lua: MANIFEST_SCRIPT });
    return new RedisLink(client);
  }

  /** Counts one more user; each calls `release` once. */
  acquire(): this {
    this.#users++;
    return this;
  }

  /** Disconnects after the last user is gone. */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  /** Deletes one key. */
  async del(key: string): Promise<void> {
    await this.#client.del(key);
  }

  /** The string at `key`, `null` when missing. */
  get(key: string): Promise<string | null> {
    return this.#client.get(key);
  }

  /** Deletes one field of the hash at `key`. */
  async hdel(key: string, field: string): Promise<void> {
    await this.#client.hdel(key, field);
  }

  /** Every field of the hash at `key`, with binary values. */
  hgetall(key: string): Promise<Record<string, Buffer>> {
    return this.#client.hgetallBuffer(key);
  }

  /** Runs a script with binary replies. */
  run(
    script: ShardScript | JournalScript | "skvManifest",
    keys: readonly string[],
    args: readonly Arg[],
  ): Promise<unknown> {
    const call = (this.#client as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[
      `${script}Buffer`
    ];
    return call.call(this.#client, ...keys, ...args);
  }
}

function checkOptions(options: RedisBackendOptions): RedisBackendOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`redis options must be an object, received ${String(options)}`);
  }
  const { url, nodes } = options;
  if (url !== undefined && nodes !== undefined) {
    throw new TypeError("redis options take either url or nodes, received both");
  }
  if (url !== undefined && typeof url !== "string") {
    throw new TypeError(`redis url must be a string, received ${typeof url}`);
  }
  if (
    nodes !== undefined &&
    (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every((n) => typeof n === "string"))
  ) {
    throw new TypeError(`redis nodes must be a non-empty array of "host:port" strings`);
  }
  return { url, nodes };
}

function parseNode(node: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(node);
  if (m === null) {
    throw new TypeError(`redis nodes must be "host:port" strings, received "${node}"`);
  }
  return { host: m[1], port: Number(m[2]) };
}

/**
 * A copy of `bytes` that ioredis sends as binary (it stringifies a plain Uint8Array). A copy,
 * because a command may wait in ioredis' queue (reconnecting) after the caller reuses its buffer.
 */
export function asArg(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}
