// The on-disk layout moves shared by reshard and import: the build directory, the layout
// lock, recovery of an interrupted move (whose blocked manifest manifest.ts reads and writes).
// openStore runs the recovery; it imports nothing that opens a store.
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import {
  BUILD_PREFIX,
  fsyncDir,
  fsyncPath,
  MANIFEST_FILE,
  MANIFEST_TEMP,
  type PendingMove,
  readPendingMove,
  SHARD_ENTRY,
} from "./manifest.ts";
import { isAlive } from "../backends/builtin.ts";

export { BUILD_PREFIX, type PendingMove };
const LOCK_FILE = ".shardkv-reshard.lock";

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
  const pending = await readPendingMove(path);
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
    // A manifest write's temp file whose writer died before the rename.
    const writer = MANIFEST_TEMP.exec(name)?.[1];
    if (writer !== undefined && Number(writer) !== process.pid && !isAlive(Number(writer))) {
      await rm(join(path, name), { force: true });
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return false;
    throw e;
  }
}

export async function fsyncAll(dir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    if ((await stat(join(dir, name))).isFile()) await fsyncPath(join(dir, name));
  }
  await fsyncDir(dir);
}
