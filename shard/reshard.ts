/**
 * `reshard`: moves a store to a new shard count (and optionally another backend), crash-safely.
 *
 * How a crash stays harmless: the new layout is built complete in a sibling directory
 * `<store>/.reshard-<pid>-<id>/` (a store of its own) while the old layout stays untouched.
 * The commit point is one atomic rename of `shardkv.json` into a *blocked* manifest
 * (`shards: 0` plus a `reshard` record naming the build directory and its files), which no
 * `openStore` accepts. From there {@linkcode recoverReshard} rolls forward idempotently: it
 * deletes the old shard files, moves the new ones in, and renames the new manifest over the
 * blocked one. A crash before the commit point leaves the old layout (the build directory is
 * a leftover that the next recovery deletes); a crash after it leaves a store that the next
 * recovery finishes. `openStore` never sees a mix of layouts.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { describe } from "../core/validate.ts";
import { MANIFEST_FILE, readManifest, writeManifest } from "./manifest.ts";
import {
  activeBuilds,
  BUILD_PREFIX,
  fsyncAll,
  lockLayout,
  type PendingMove,
  recoverReshard,
  rollForward,
} from "./_layout.ts";

export { recoverReshard };
import { openStore, type StoreOptions } from "./open_store.ts";
import { Engine, type Store } from "../core/engine.ts";

/** Options of {@linkcode reshard}. */
export interface ReshardOptions {
  /** The new shard count, 1..256. */
  shards: number;
  /** The backend of the new layout (default: the store's current backend). */
  backend?: "sqlite" | "deno-kv";
  /** Called after every page of copied keys with the number copied so far. */
  onProgress?: (moved: number) => void;
}

/** One live key as copied by reshard, export and import. */
export interface LiveRecord {
  key: string;
  value: Uint8Array;
  /** Absolute expiry time in ms on the clock used to read it; `null`: no expiry. */
  expiresAt: number | null;
}

const PAGE = 256;

/**
 * Rebuilds the store at `path` with `options.shards` shards (and optionally another backend),
 * keeping every live key, value and remaining TTL. Needs exclusive access: close every store
 * open on `path` (in any process) first. Interrupted by a crash, the store opens as either
 * the old or the new layout, complete.
 *
 * @example
 * ```ts
 * import { openStore, reshard } from "@shardkv/shardkv";
 * await (await openStore("./data", { shards: 4 })).close();
 * await reshard("./data", { shards: 16 });
 * const store = await openStore("./data"); // 16 shards
 * await store.close();
 * ```
 */
export async function reshard(path: string, options: ReshardOptions): Promise<void> {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`path must be a non-empty directory path, received ${describe(path)}`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Options must be an object, received ${describe(options)}`);
  }
  const { shards, backend, onProgress } = options;
  if (!Number.isInteger(shards) || shards < 1 || shards > 256) {
    throw new RangeError(`shards must be an integer from 1 to 256, received ${describe(shards)}`);
  }
  if (backend !== undefined && backend !== "sqlite" && backend !== "deno-kv") {
    throw new TypeError(`backend must be "sqlite" or "deno-kv", received ${describe(backend)}`);
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError(`onProgress must be a function, received ${describe(onProgress)}`);
  }
  await recoverReshard(path);
  const manifest = await readManifest(path);
  if (manifest === undefined) {
    throw new Error(`No shardkv store at "${path}" (no ${MANIFEST_FILE}); nothing to reshard`);
  }
  const source = await openStore(path);
  try {
    await replaceLayout(path, { shards, backend: backend ?? source.backend as "sqlite" }, {
      fill: async (target) => {
        await copyRecords(liveRecords(source, Date.now), target, { onProgress });
        return true;
      },
      beforeCommit: () => source.close(),
    });
  } finally {
    await source.close();
  }
}

/**
 * Builds a new layout of the store at `path` in a build directory, filled by `fill`, then
 * commits it in place of the current layout (if any), unless `fill` returns `false` (the
 * build is then only a staging area and is deleted). Internal: used by `reshard` and
 * `importStore`.
 */
export async function replaceLayout(
  path: string,
  layout: StoreOptions,
  steps: { fill: (target: Store) => Promise<boolean>; beforeCommit?: () => Promise<void> },
): Promise<void> {
  const name = `${BUILD_PREFIX}${process.pid}-${randomUUID().slice(0, 8)}`;
  const build = join(path, name);
  await mkdir(path, { recursive: true });
  const release = await lockLayout(path);
  activeBuilds.add(build);
  try {
    try {
      // The copy is fsynced as it is written (sqlite; deno-kv has one level of its own).
      const sqlite = layout.backend === undefined || layout.backend === "sqlite";
      const target = await openStore(build, sqlite ? { ...layout, durability: "full" } : layout);
      let commit: boolean;
      try {
        commit = await steps.fill(target);
      } finally {
        await target.close();
      }
      if (!commit) return await rm(build, { recursive: true, force: true });
      await steps.beforeCommit?.();
    } catch (e) {
      await rm(build, { recursive: true, force: true });
      throw e;
    }
    const files = (await readdir(build)).filter((f) => f !== MANIFEST_FILE).sort();
    await fsyncAll(build, files);
    const built = await readManifest(build);
    if (built === undefined) throw new Error(`The new layout in "${build}" has no manifest`);
    // The commit point: from here on, recovery moves the new layout in.
    const move: PendingMove = { from: name, files };
    await writeManifest(path, { ...built, shards: 0, reshard: move });
    await rollForward(path, move);
  } finally {
    activeBuilds.delete(build);
    await release();
  }
}

/**
 * Every live key of `store` in key order with its absolute expiry on `now`'s clock, value and
 * expiry read together, a page per driver call. Internal: shared by reshard and export.
 */
export async function* liveRecords(
  store: Store,
  now: () => number,
): AsyncGenerator<LiveRecord> {
  if (store instanceof Engine) {
    for await (const [key, { value, expiresAt }] of store.records("", now)) {
      yield { key, value, expiresAt };
    }
    return;
  }
  // Some other object with the Store API: value and TTL can only be read apart (N+1 calls).
  let page: [string, Uint8Array][] = [];
  const flush = async function* (): AsyncGenerator<LiveRecord> {
    const ttls = await Promise.all(page.map(([k]) => store.ttl(k)));
    const t = now();
    for (let i = 0; i < page.length; i++) {
      const ttl = ttls[i];
      // Expired between the scan and the ttl read: not live any more.
      if (ttl === undefined) continue;
      yield { key: page[i][0], value: page[i][1], expiresAt: ttl === Infinity ? null : t + ttl };
    }
    page = [];
  };
  for await (const entry of store.entries("")) {
    page.push(entry);
    if (page.length === PAGE) yield* flush();
  }
  yield* flush();
}

/**
 * Writes `records` into `target` a page at a time (keys without expiry in one batch); skips
 * records already expired on `target`'s clock. Returns how many records were read.
 * Internal: shared by reshard and import.
 */
export async function copyRecords(
  records: AsyncIterable<LiveRecord>,
  target: Store,
  options: { now?: () => number; onProgress?: (count: number) => void } = {},
): Promise<number> {
  const now = options.now ?? Date.now;
  let count = 0;
  let page: LiveRecord[] = [];
  const flush = async (): Promise<void> => {
    const t = now();
    const plain: [string, Uint8Array][] = [];
    const timed: Promise<void>[] = [];
    for (const r of page) {
      if (r.expiresAt === null) plain.push([r.key, r.value]);
      else if (r.expiresAt > t) timed.push(target.set(r.key, r.value, { ttl: r.expiresAt - t }));
    }
    await Promise.all([...timed, plain.length > 0 ? target.batchSet(plain) : undefined]);
    count += page.length;
    page = [];
    options.onProgress?.(count);
  };
  for await (const r of records) {
    page.push(r);
    if (page.length === PAGE) await flush();
  }
  if (page.length > 0) await flush();
  return count;
}
