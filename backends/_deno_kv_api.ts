// The small part of the Deno KV API the deno-kv backend uses, described structurally so no global
// Deno types are needed. Deno provides it as Deno.openKv; Bun and Node get it from the npm
// package @deno/kv (an optional peer dependency), which is imported lazily and only there.
import { resolve } from "node:path";
import { runtimeApi } from "../core/runtime.ts";
import { importOptional } from "./_optional_import.ts";

/** One part of a Deno KV key; the backend only uses these three kinds. */
export type KvKeyPart = Uint8Array | string | number;
/** A Deno KV key: parts compared in order, a shorter key first when it is a prefix. */
export type KvKey = readonly KvKeyPart[];

/** The result of a point read; `versionstamp` is `null` when the key is missing. */
export interface KvMaybeEntry {
  key: KvKey;
  value: unknown;
  versionstamp: string | null;
}

/** An entry of a list() result. */
export interface KvEntry {
  key: KvKey;
  value: unknown;
  versionstamp: string;
}

/** Range of a list(): `start` inclusive, `end` exclusive. */
export interface KvRangeSelector {
  start: KvKey;
  end: KvKey;
}

/** Options of list(). */
export interface KvListOptions {
  limit?: number;
  reverse?: boolean;
  batchSize?: number;
}

/** An atomic operation: checks and mutations committed together (or not at all). */
export interface KvAtomic {
  check(...checks: { key: KvKey; versionstamp: string | null }[]): KvAtomic;
  set(key: KvKey, value: Uint8Array): KvAtomic;
  delete(key: KvKey): KvAtomic;
  /** `ok: false` when a check failed and nothing was written; else the commit's versionstamp. */
  commit(): Promise<{ ok: boolean; versionstamp?: string }>;
}

/** An open Deno KV database. */
export interface DenoKv {
  get(key: KvKey): Promise<KvMaybeEntry>;
  /** At most 10 keys per call. */
  getMany(keys: KvKey[]): Promise<KvMaybeEntry[]>;
  list(selector: KvRangeSelector, options?: KvListOptions): AsyncIterable<KvEntry>;
  atomic(): KvAtomic;
  close(): void;
}

/** The part of the `Deno` global this adapter uses. */
interface DenoGlobal {
  openKv(path: string): Promise<DenoKv>;
}

interface DenoKvNpm {
  openKv(
    path: string,
    options: { encodeV8: (v: unknown) => Uint8Array; decodeV8: (b: Uint8Array) => unknown },
  ): Promise<DenoKv>;
}

interface NodeV8 {
  serialize(value: unknown): Uint8Array;
  deserialize(bytes: Uint8Array): unknown;
}

/** Opens the Deno KV file at `path`: Deno.openKv on Deno, @deno/kv on Bun and Node. */
export async function openKv(path: string): Promise<DenoKv> {
  const deno = runtimeApi<DenoGlobal>("Deno");
  if (deno !== undefined) {
    if (typeof deno.openKv !== "function") {
      throw new Error(
        'The "deno-kv" backend needs Deno.openKv (run with Deno and the "kv" unstable flag) ' +
          "or Bun or Node with the npm package @deno/kv",
      );
    }
    return await deno.openKv(path);
  }
  const npm = await importOptional<DenoKvNpm>("@deno/kv", "^0.14.0", 'The "deno-kv" backend');
  const v8 = (await import("node:v8")) as NodeV8;
  // Without encodeV8/decodeV8 @deno/kv refuses to start outside Node.
  const kv = await npm.openKv(path, { encodeV8: v8.serialize, decodeV8: v8.deserialize });
  const file = resolve(path);
  openedThroughNpm.set(file, (openedThroughNpm.get(file) ?? 0) + 1);
  const close = kv.close.bind(kv);
  let closed = false;
  kv.close = () => {
    if (!closed) {
      closed = true;
      const left = openedThroughNpm.get(file)! - 1;
      if (left === 0) openedThroughNpm.delete(file);
      else openedThroughNpm.set(file, left);
    }
    close();
  };
  return kv;
}

/** Files this process has open through @deno/kv, with how many handles each. */
const openedThroughNpm = new Map<string, number>();

/**
 * Whether this process holds `path` open through @deno/kv (Bun, Node). @deno/kv brings its own
 * copy of SQLite: a second copy opening the same file in the same process (the project's SQLite
 * driver) would drop the first one's POSIX file locks when it closes, and could reset the
 * shared-memory WAL index under it (see "Multiple copies of SQLite linked into the same
 * application" in SQLite's "How To Corrupt An SQLite Database File"). Deno.openKv and Deno's
 * node:sqlite share one SQLite, so on Deno this is always `false`.
 */
export function isOpenThroughNpm(path: string): boolean {
  return openedThroughNpm.has(resolve(path));
}
