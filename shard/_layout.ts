// The on-disk layout moves shared by reshard and import: the build directory, the layout
// lock, the blocked manifest that commits a move, recovery of an interrupted move, and the
// fsync helpers. openStore runs the recovery; it imports nothing that opens a store.
import { randomUUID } from "node:crypto";
import { open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { MANIFEST_FILE } from "./manifest.ts";

export const BUILD_PREFIX = ".reshard-";
const LOCK_FILE = ".shardkv-reshard.lock";
/** A shard's files as a backend names them: `shard-007.sqlite`, `shard-007.sqlite-wal`, `shard-007/`. */
const SHARD_ENTRY = /^shard-\d+(?:[.-].*)?$/;

/** What the blocked manifest records about the layout being moved in. */
export interface PendingMove {
  from: string;
  files: string[];
}

/** Build directories of reshards running in this process; recovery leaves them alone. */
export const activeBuilds = new Set<string>();

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
 * Takes the store's reshard lock (a file holding the owner's pid, created exclusively), so
 * two reshards or imports of one store cannot interleave; a dead owner's lock is taken over.
 */
export async function lockLayout(path: string): Promise<() => Promise<void>> {
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
export async function rollForward(path: string, move: PendingMove): Promise<void> {
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
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}-${randomUUID().slice(0, 8)}.tmp`;
  await writeFile(tmp, text);
  await fsyncPath(tmp);
  await rename(tmp, file);
}

export async function fsyncAll(dir: string, names: readonly string[]): Promise<void> {
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
