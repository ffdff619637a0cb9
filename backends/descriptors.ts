/**
 * Backend descriptors: a built-in backend chosen together with its own options, e.g.
 * `openStore("./data", { backend: sqlite({ durability: "full" }) })`. Each accepts only the
 * options its driver honours; anything else is refused with a `TypeError` or `RangeError`.
 *
 * @module
 */
import type { Durability } from "../core/types.ts";
import { describe } from "../core/validate.ts";
import type { BackendName } from "./builtin.ts";
import type { RedisBackendOptions } from "./_redis_client.ts";
import { checkPageSize } from "./_sqlite_driver.ts";

/** Options of the {@linkcode sqlite} backend. */
export interface SqliteOptions {
  /** `"relaxed"` (synchronous OFF), `"normal"` (default, NORMAL) or `"full"` (FULL). */
  durability?: Durability;
  /** How long a write waits for another process's lock, in ms (default 5000). */
  busyTimeout?: number;
  /**
   * Page size in bytes of the shard files this store creates: a power of two from 512 to 65536
   * (default 4096, SQLite's). Existing files keep the size they were made with. A write rewrites
   * whole pages, so small values change fewer bytes with small pages (1024: about 30% less
   * CPU per update of 3-byte values here), while values of several KiB read and write faster
   * with 4096 or more.
   */
  pageSize?: number;
}

/**
 * A built-in backend with its options, as made by {@linkcode sqlite}, {@linkcode denoKv},
 * {@linkcode memory} or {@linkcode redis}.
 *
 * @example
 * ```ts
 * import { type BackendDescriptor, sqlite } from "@shardkv/shardkv";
 * const backend: BackendDescriptor = sqlite({ durability: "full" });
 * backend.name; // "sqlite"
 * ```
 */
export interface BackendDescriptor {
  /** The backend's name, as the manifest records it. */
  readonly name: BackendName;
  /** The sqlite options (sqlite only). */
  readonly sqlite?: Readonly<SqliteOptions>;
  /** Where Redis is (redis only). */
  readonly redis?: Readonly<RedisBackendOptions>;
}

const DESCRIPTOR: unique symbol = Symbol("shardkv.backendDescriptor");

function only(what: string, options: object, allowed: readonly string[]): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${what} options must be an object, received ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `${what} does not take the option ${JSON.stringify(key)}; it takes ${
          allowed.length === 0 ? "none" : allowed.join(", ")
        }`,
      );
    }
  }
}

function make(d: BackendDescriptor): BackendDescriptor {
  return Object.freeze({ ...d, [DESCRIPTOR]: true });
}

/** Whether `x` was made by one of the descriptor functions. */
export function isDescriptor(x: unknown): x is BackendDescriptor {
  return typeof x === "object" && x !== null && DESCRIPTOR in x;
}

/** Throws RangeError unless `durability` is a level. */
export function checkDurability(durability: unknown): asserts durability is Durability {
  if (!["relaxed", "normal", "full"].includes(durability as string)) {
    throw new RangeError(
      `durability must be "relaxed", "normal" or "full", received ${describe(durability)}`,
    );
  }
}

/**
 * The SQLite backend (the default): one WAL-mode file per shard.
 *
 * @example
 * ```ts
 * import { openStore, sqlite } from "@shardkv/shardkv";
 * const store = await openStore("./data", { backend: sqlite({ durability: "full" }) });
 * await store.close();
 * ```
 */
export function sqlite(options: SqliteOptions = {}): BackendDescriptor {
  only("sqlite()", options, ["durability", "busyTimeout", "pageSize"]);
  const { durability, busyTimeout, pageSize } = options;
  if (durability !== undefined) checkDurability(durability);
  if (pageSize !== undefined) checkPageSize(pageSize);
  if (
    busyTimeout !== undefined &&
    (!Number.isSafeInteger(busyTimeout) || busyTimeout < 0)
  ) {
    throw new RangeError(
      `busyTimeout must be a non-negative integer of ms, received ${describe(busyTimeout)}`,
    );
  }
  return make({ name: "sqlite", sqlite: { durability, busyTimeout, pageSize } });
}

/**
 * The Deno KV backend: one Deno KV file per shard (`Deno.openKv`, or npm `@deno/kv`).
 *
 * @example
 * ```ts
 * import { denoKv, openStore } from "@shardkv/shardkv";
 * const store = await openStore("./kv-data", { backend: denoKv() });
 * await store.close();
 * ```
 */
export function denoKv(options: Record<string, never> = {}): BackendDescriptor {
  only("denoKv()", options, []);
  return make({ name: "deno-kv" });
}

/**
 * The memory backend: nothing on disk, gone on `close()`.
 *
 * @example
 * ```ts
 * import { memory, openStore } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: memory(), shards: 4 });
 * await store.close();
 * ```
 */
export function memory(options: Record<string, never> = {}): BackendDescriptor {
  only("memory()", options, []);
  return make({ name: "memory" });
}

/**
 * The Redis backend: each shard one Redis hash slot on a standalone server or a cluster; the
 * store's `path` is its name in Redis.
 *
 * @example
 * ```ts
 * import { openStore, redis } from "@shardkv/shardkv";
 * const store = await openStore("sessions", { backend: redis({ url: "redis://127.0.0.1:6379" }) });
 * await store.close();
 * ```
 */
export function redis(options: RedisBackendOptions = {}): BackendDescriptor {
  only("redis()", options, ["url", "nodes"]);
  const { url, nodes } = options;
  if (url !== undefined && typeof url !== "string") {
    throw new TypeError(`redis url must be a string, received ${describe(url)}`);
  }
  if (
    nodes !== undefined &&
    (!Array.isArray(nodes) || nodes.some((n) => typeof n !== "string"))
  ) {
    throw new TypeError(`redis nodes must be an array of "host:port", received ${describe(nodes)}`);
  }
  if (url !== undefined && nodes !== undefined) {
    throw new TypeError("redis() takes a url or cluster nodes, not both");
  }
  return make({ name: "redis", redis: { url, nodes: nodes && [...nodes] } });
}
