/**
 * Typed values: a `Codec<T>` turns values into the `Uint8Array`s the store keeps and back,
 * and `typed(store, codec)` gives a view of any `StorageBackend` that reads and writes `T`.
 * Built in: `json`, `text` and `structured` (keeps `Date`, `Map`, `Set`, `BigInt`, typed
 * arrays, `ArrayBuffer`, `RegExp`, `undefined`, `NaN`, `-0`, and reads the same on Deno, Bun
 * and Node). Counters (`incr`/`decr`) keep their 8-byte format and stay on the store itself.
 *
 * @module
 */
import type { ScanOptions, SetOptions, StorageBackend } from "./types.ts";
import { describe } from "./validate.ts";
import { decodeStructured, encodeStructured, isWellFormed } from "./_structured.ts";

/**
 * Turns values of type `T` into bytes and back. `encode` throws `TypeError` for a value it
 * cannot represent; `decode` throws for bytes it did not write.
 *
 * @example
 * ```ts
 * import { type Codec, openStore, typed } from "@shardkv/shardkv";
 * const point: Codec<{ x: number; y: number }> = {
 *   name: "point",
 *   encode: (p) => new Uint8Array(new Float64Array([p.x, p.y]).buffer),
 *   decode: (b) => {
 *     const [x, y] = new Float64Array(b.slice().buffer);
 *     return { x, y };
 *   },
 * };
 * const points = typed(await openStore("", { backend: "memory" }), point);
 * await points.set("origin", { x: 0, y: 0 });
 * ```
 */
export interface Codec<T> {
  /** Shown in error messages. */
  readonly name?: string;
  /** The bytes of `value`; `TypeError` when it cannot be encoded. */
  encode(value: T): Uint8Array;
  /** The value of `bytes`; throws when they are not this codec's. */
  decode(bytes: Uint8Array): T;
}

/**
 * A stored value its codec could not decode (written by another codec, a counter, or
 * damaged). `key` is the key it was read from; `cause` is the codec's error.
 *
 * @example
 * ```ts
 * import { DecodeError, json, openStore, typed } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await store.incr("hits");
 * await typed(store, json).get("hits").catch((e) => e instanceof DecodeError); // true
 * ```
 */
export class DecodeError extends Error {
  /** Always `"DecodeError"`. */
  override readonly name = "DecodeError";
  /** The key whose value did not decode. */
  readonly key: string;

  /** `key`: where the value was read; `options.cause`: the codec's error. */
  constructor(message: string, key: string, options?: { cause?: unknown }) {
    super(message, options);
    this.key = key;
  }
}

const utf8 = new TextEncoder();
const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * UTF-8 text. Encoding a non-string, or a string with a lone surrogate (UTF-8 cannot hold
 * it), throws `TypeError`; decoding bytes that are not UTF-8 throws `TypeError`.
 *
 * @example
 * ```ts
 * import { openStore, text, typed } from "@shardkv/shardkv";
 * const names = typed(await openStore("", { backend: "memory" }), text);
 * await names.set("user:1", "Ada");
 * await names.get("user:1"); // "Ada"
 * ```
 */
export const text: Codec<string> = {
  name: "text",
  encode(value: string): Uint8Array {
    if (typeof value !== "string") {
      throw new TypeError(`The text codec encodes strings, received ${describe(value)}`);
    }
    if (!isWellFormed(value)) {
      throw new TypeError(
        `The text codec cannot encode a string with a lone surrogate, received ${describe(value)}`,
      );
    }
    return utf8.encode(value);
  },
  decode(bytes: Uint8Array): string {
    return utf8Fatal.decode(bytes);
  },
};

/**
 * JSON as UTF-8, with `JSON.stringify`'s rules: `Date` becomes a string, `Map`/`Set` become
 * `{}`, properties holding functions or `undefined` are left out. A value with no JSON form
 * (`undefined`, a function, a symbol at the top), a `BigInt` or a cycle throws `TypeError`.
 * Use `structured` to keep such values exactly.
 *
 * @example
 * ```ts
 * import { json, openStore, typed } from "@shardkv/shardkv";
 * const users = typed<{ name: string }>(await openStore("", { backend: "memory" }), json);
 * await users.set("user:1", { name: "Ada" });
 * (await users.get("user:1"))?.name; // "Ada"
 * ```
 */
export const json: Codec<unknown> = {
  name: "json",
  encode(value: unknown): Uint8Array {
    const s = JSON.stringify(value);
    if (s === undefined) {
      throw new TypeError(`The json codec cannot encode ${describe(value)}`);
    }
    return utf8.encode(s);
  },
  decode(bytes: Uint8Array): unknown {
    return JSON.parse(utf8Fatal.decode(bytes));
  },
};

/**
 * Values as a structured clone keeps them: `undefined`, `null`, booleans, numbers (`NaN`,
 * `±Infinity`, `-0`), `BigInt` of any size, strings (lone surrogates too), arrays (holes too),
 * plain objects, `Date`, `Map`, `Set`, `RegExp`, `ArrayBuffer`, `DataView` and every typed
 * array (`Uint8Array` decodes as a plain `Uint8Array`, also from a Node `Buffer`), nested to any
 * depth. Its bytes are identical on Deno, Bun and Node, so a store written by one reads the
 * same on the others. Functions, symbols, class instances, symbol-keyed properties and cycles
 * throw `TypeError` instead of being dropped; an object referenced twice is stored twice.
 *
 * @example
 * ```ts
 * import { openStore, structured, typed } from "@shardkv/shardkv";
 * const kv = typed(await openStore("", { backend: "memory" }), structured);
 * await kv.set("session", { at: new Date(), roles: new Set(["admin"]), quota: 2n ** 70n });
 * const s = (await kv.get("session")) as { roles: Set<string> };
 * s.roles.has("admin"); // true
 * ```
 */
export const structured: Codec<unknown> = {
  name: "structured",
  encode: encodeStructured,
  decode: decodeStructured,
};

/** Entries accepted by `TypedStore.batchSet`: pairs or a plain record. */
export type TypedBatchEntries<T> = Iterable<readonly [string, T]> | Record<string, T>;

/**
 * A view of a store that reads and writes `T` through a codec (see `typed`). Every call maps
 * to the store's call of the same name and keeps its semantics: keys, TTLs, order, batches
 * (one transaction per shard). Values are encoded before anything is written, so a value the
 * codec refuses throws `TypeError` and stores nothing, in a batch too. A stored value the
 * codec cannot read throws `DecodeError`.
 *
 * @example
 * ```ts
 * import { json, openStore, typed, type TypedStore } from "@shardkv/shardkv";
 * interface Todo { title: string; done: boolean }
 * const todos: TypedStore<Todo> = typed<Todo>(await openStore("", { backend: "memory" }), json);
 * await todos.batchSet({ "todo:1": { title: "write", done: false } });
 * for await (const [key, todo] of todos.entries("todo:")) console.log(key, todo.title);
 * ```
 */
export interface TypedStore<T> {
  /** The underlying store: counters, transactions, `close()`. */
  readonly store: StorageBackend;
  /** The codec of this view. */
  readonly codec: Codec<T> | Codec<unknown>;
  /** The value of `key`, or `undefined` when it is missing or expired. */
  get(key: string): Promise<T | undefined>;
  /** Encodes and stores `value` under `key`. */
  set(key: string, value: T, options?: SetOptions): Promise<void>;
  /** Removes `key`; `true` when a live key was removed. */
  delete(key: string): Promise<boolean>;
  /** Whether `key` holds a live value. */
  exists(key: string): Promise<boolean>;
  /** Ms left before `key` expires; `Infinity`: no expiry; `undefined`: no such key. */
  ttl(key: string): Promise<number | undefined>;
  /** Encodes every value, then stores them all: one transaction per shard. */
  batchSet(entries: TypedBatchEntries<T>, options?: SetOptions): Promise<void>;
  /** The values of the keys that were found. */
  batchGet(keys: Iterable<string>): Promise<Map<string, T>>;
  /** Removes every key; returns how many live keys were removed. */
  batchDelete(keys: Iterable<string>): Promise<number>;
  /** Values of the keys that start with `prefix`, in key order. */
  scan(prefix: string, options?: ScanOptions): Promise<T[]>;
  /** Keys that start with `prefix`, in key order. */
  scanKeys(prefix: string, options?: ScanOptions): Promise<string[]>;
  /** Keys and values that start with `prefix`, in key order. */
  scanKeysWithValues(prefix: string, options?: ScanOptions): Promise<Map<string, T>>;
  /** Streams the entries that start with `prefix`, in key order. */
  entries(prefix: string, options?: ScanOptions): AsyncIterableIterator<[string, T]>;
}

class TypedView<T> implements TypedStore<T> {
  readonly store: StorageBackend;
  readonly codec: Codec<T> | Codec<unknown>;
  #codec: Codec<T>;

  constructor(store: StorageBackend, codec: Codec<T>) {
    this.store = store;
    this.codec = codec;
    this.#codec = codec;
  }

  #encode(value: T, key: unknown): Uint8Array {
    const bytes = this.#codec.encode(value);
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(
        `Codec ${this.#codec.name ?? "(unnamed)"} returned ${describe(bytes)} for key ${
          String(key)
        }, not a Uint8Array`,
      );
    }
    return bytes;
  }

  #decode(key: string, bytes: Uint8Array): T {
    try {
      return this.#codec.decode(bytes);
    } catch (e) {
      throw new DecodeError(
        `The value of key ${JSON.stringify(key)} (${bytes.byteLength} bytes) is not readable by ` +
          `the ${this.#codec.name ?? "(unnamed)"} codec: ${e instanceof Error ? e.message : e}`,
        key,
        { cause: e },
      );
    }
  }

  async get(key: string): Promise<T | undefined> {
    const bytes = await this.store.get(key);
    return bytes === undefined ? undefined : this.#decode(key, bytes);
  }

  set(key: string, value: T, options?: SetOptions): Promise<void> {
    try {
      return this.store.set(key, this.#encode(value, key), options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  delete(key: string): Promise<boolean> {
    return this.store.delete(key);
  }

  exists(key: string): Promise<boolean> {
    return this.store.exists(key);
  }

  ttl(key: string): Promise<number | undefined> {
    return this.store.ttl(key);
  }

  batchSet(entries: TypedBatchEntries<T>, options?: SetOptions): Promise<void> {
    try {
      const encoded: [string, Uint8Array][] = [];
      if (entries === null || typeof entries !== "object") {
        throw new TypeError(`batchSet takes pairs or a record, received ${describe(entries)}`);
      }
      if (Symbol.iterator in entries) {
        for (const pair of entries as Iterable<readonly [string, T]>) {
          if (!Array.isArray(pair) || pair.length !== 2) {
            throw new TypeError(
              `batchSet entries are [key, value] pairs, received ${describe(pair)}`,
            );
          }
          encoded.push([pair[0], this.#encode(pair[1], pair[0])]);
        }
      } else {
        for (const [key, value] of Object.entries(entries)) {
          encoded.push([key, this.#encode(value, key)]);
        }
      }
      return this.store.batchSet(encoded, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async batchGet(keys: Iterable<string>): Promise<Map<string, T>> {
    return this.#decodeMap(await this.store.batchGet(keys));
  }

  batchDelete(keys: Iterable<string>): Promise<number> {
    return this.store.batchDelete(keys);
  }

  async scan(prefix: string, options?: ScanOptions): Promise<T[]> {
    const found = await this.store.scanKeysWithValues(prefix, options);
    return Array.from(found, ([key, bytes]) => this.#decode(key, bytes));
  }

  scanKeys(prefix: string, options?: ScanOptions): Promise<string[]> {
    return this.store.scanKeys(prefix, options);
  }

  async scanKeysWithValues(prefix: string, options?: ScanOptions): Promise<Map<string, T>> {
    return this.#decodeMap(await this.store.scanKeysWithValues(prefix, options));
  }

  async *entries(prefix: string, options?: ScanOptions): AsyncIterableIterator<[string, T]> {
    for await (const [key, bytes] of this.store.entries(prefix, options)) {
      yield [key, this.#decode(key, bytes)];
    }
  }

  #decodeMap(found: Map<string, Uint8Array>): Map<string, T> {
    const out = new Map<string, T>();
    for (const [key, bytes] of found) out.set(key, this.#decode(key, bytes));
    return out;
  }
}

/**
 * A view of `store` whose values are `T`, encoded and decoded by `codec` (`json`, `text`,
 * `structured` or your own). The type parameter is not checked at run time, as with
 * Deno KV's `get<T>()`. Counters, transactions and `close()` stay on `store`.
 *
 * @example
 * ```ts
 * import { openStore, structured, typed } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * const kv = typed<{ at: Date; tags: Set<string> }>(store, structured);
 * await kv.set("post:1", { at: new Date(0), tags: new Set(["db"]) });
 * (await kv.get("post:1"))?.tags.has("db"); // true
 * await store.incr("views"); // counters stay on the store
 * ```
 */
export function typed<T>(store: StorageBackend, codec: Codec<T> | Codec<unknown>): TypedStore<T> {
  if (store === null || typeof store !== "object" || typeof store.get !== "function") {
    throw new TypeError(`typed() takes a store, received ${describe(store)}`);
  }
  if (
    codec === null || typeof codec !== "object" || typeof codec.encode !== "function" ||
    typeof codec.decode !== "function"
  ) {
    throw new TypeError(
      `typed() takes a codec with encode and decode functions, received ${describe(codec)}`,
    );
  }
  return new TypedView(store, codec as Codec<T>);
}
