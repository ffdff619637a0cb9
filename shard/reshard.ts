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
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { describe } from "../core/validate.ts";
import { MANIFEST_FILE, readManifest } from "./manifest.ts";
import { openStore, type StoreOptions } from "./open_store.ts";
import type { Store } from "../core/engine.ts";

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

const BUILD_PREFIX = ".reshard-";
const LOCK_FILE = ".shardkv-reshard.lock";
/** A shard's files as a backend names them: `shard-007.sqlite`, `shard-007.sqlite-wal`, `shard-007/`. */
const SHARD_ENTRY = /^shard-\d+(?:[.-].*)?$/;
const PAGE = 256;

/** What the blocked manifest records about the layout being moved in. */
interface PendingMove {
  from: string;
  files: string[];
}

/** Build directories of reshards running in this process; recovery leaves them alone. */
const activeBuilds = new Set<string>();

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
 * Finishes or discards an interrupted reshard (or import) of the store at `path`: rolls a
 * committed one forward, deletes the build directory of one that did not commit. Does
 * nothing when there is nothing to recover. `reshard` and `importStore` call it first.
 *
 * @example
 * ```ts
 * import { openStore, recoverReshard } from "@shardkv/shardkv";
 * await recoverReshard("./data");
 * const store = await openStore("./data");
 * await store.close();
 * ```
 */
export async function recoverReshard(path: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return;
    throw e;
  }
  const pending = await pendingMove(path);
  if (pending !== undefined) {
    // Its own process is moving it in right now: racing it could delete moved files.
    if (isRunning(join(path, pending.from))) {
      throw new Error(
        `Store at "${path}" is being resharded by process ${
          pidOf(pending.from)
        }; open it when that finishes`,
      );
    }
    return await rollForward(path, pending);
  }
  for (const name of names) {
    if (name.startsWith(BUILD_PREFIX) && !isRunning(join(path, name))) {
      await rm(join(path, name), { recursive: true, force: true });
    }
  }
}

/** The id of the process that made the build directory `name`. */
function pidOf(name: string): number {
  return Number(name.slice(BUILD_PREFIX.length).split("-")[0]);
}

/** Whether the build at `build` belongs to a reshard that is still running. */
function isRunning(build: string): boolean {
  if (activeBuilds.has(build)) return true;
  const pid = pidOf(build.slice(build.lastIndexOf(BUILD_PREFIX)));
  // One of ours that is not in activeBuilds was abandoned.
  return pid !== process.pid && isAlive(pid);
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
    const built = JSON.parse(await readFile(join(build, MANIFEST_FILE), "utf8"));
    // The commit point: from here on, recovery moves the new layout in.
    const move: PendingMove = { from: name, files };
    await writeFileAtomic(
      join(path, MANIFEST_FILE),
      JSON.stringify({ ...built, shards: 0, reshard: move }, null, 2) + "\n",
    );
    await rollForward(path, move);
  } finally {
    activeBuilds.delete(build);
    await release();
  }
}

/**
 * Takes the store's reshard lock (a file holding the owner's pid, created exclusively), so
 * two reshards or imports of one store cannot interleave; a dead owner's lock is taken over.
 */
async function lockLayout(path: string): Promise<() => Promise<void>> {
  const file = join(path, LOCK_FILE);
  for (let attempt = 0;; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: "wx" });
      return () => rm(file, { force: true });
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST" || attempt > 0) throw e;
    }
    const owner = Number(await readFile(file, "utf8").catch(() => ""));
    if (isAlive(owner)) {
      throw new Error(`Store at "${path}" is being resharded or imported by process ${owner}`);
    }
    await rm(file, { force: true });
  }
}

/** The move recorded in a blocked manifest at `path`, if there is one. */
async function pendingMove(path: string): Promise<PendingMove | undefined> {
  let m: { reshard?: PendingMove };
  try {
    m = JSON.parse(await readFile(join(path, MANIFEST_FILE), "utf8"));
  } catch {
    return undefined; // missing or unreadable: openStore reports it
  }
  const move = m?.reshard;
  if (
    typeof move !== "object" || move === null || typeof move.from !== "string" ||
    !move.from.startsWith(BUILD_PREFIX) || move.from.includes("/") ||
    !Array.isArray(move.files) || !move.files.every((f) => SHARD_ENTRY.test(f))
  ) return undefined;
  return move;
}

/**
 * Moves a committed layout in. Idempotent: a shard entry at the top level is deleted unless
 * it belongs to the new layout and was already moved (no longer in the build directory).
 */
async function rollForward(path: string, move: PendingMove): Promise<void> {
  const build = join(path, move.from);
  const newFiles = new Set(move.files);
  for (const name of await readdir(path)) {
    if (!SHARD_ENTRY.test(name)) continue;
    if (newFiles.has(name) && !(await exists(join(build, name)))) continue;
    await rm(join(path, name), { recursive: true, force: true });
  }
  for (const name of move.files) {
    if (await exists(join(build, name))) await rename(join(build, name), join(path, name));
  }
  await fsyncDir(path);
  const manifest = join(build, MANIFEST_FILE);
  if (!(await exists(manifest))) {
    throw new Error(
      `Cannot finish the interrupted reshard of "${path}": ${manifest} is missing`,
    );
  }
  await rename(manifest, join(path, MANIFEST_FILE));
  await fsyncDir(path);
  await rm(build, { recursive: true, force: true });
}

/**
 * Every live key of `store` in key order with its absolute expiry on `now`'s clock.
 * Internal: shared by reshard and export.
 */
export async function* liveRecords(
  store: Store,
  now: () => number,
): AsyncGenerator<LiveRecord> {
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

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as { code?: string }).code === "EPERM";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return false;
    throw e;
  }
}

/** Writes `file` through a temp file, fsyncs it and renames it into place. */
async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}-${randomUUID().slice(0, 8)}.tmp`;
  await writeFile(tmp, text);
  await fsyncPath(tmp);
  await rename(tmp, file);
}

async function fsyncAll(dir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    if ((await stat(join(dir, name))).isFile()) await fsyncPath(join(dir, name));
  }
  await fsyncDir(dir);
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes renames in `dir` durable; a platform that cannot fsync a directory is skipped. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // Windows cannot open a directory for fsync; its renames are durable on their own.
  }
}
