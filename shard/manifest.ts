// The store manifest: a small JSON file naming the format version, backend, shard count and
// hash. This module is its one reader (with its one validation) and its one writer (a durable
// atomic write); openStore, reshard, import, verify and backup all go through it.
import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { InvalidManifestError } from "../core/errors.ts";
import { FORMAT_VERSION, HASH_NAME } from "../core/format.ts";
export { FORMAT_VERSION, HASH_NAME };

export const MANIFEST_FILE = "shardkv.json";
/**
 * Present while a store is being created: written before the first shard file and removed
 * after the manifest, so shard files without either mean a lost manifest.
 */
export const CREATING_FILE = "shardkv.creating";
/** The name of a file-backed shard (sqlite or deno-kv) in a store directory. */
export const SHARD_FILE = /^shard-\d{3}\.(sqlite|kv)$/;

/** Where shard `index` of the store in `dir` lives, without its backend's extension. */
export function shardPathOf(dir: string, index: number): string {
  return join(dir, `shard-${String(index).padStart(3, "0")}`);
}
/** A reshard's build directory in the store directory: `.reshard-<pid>-<id>`. */
export const BUILD_PREFIX = ".reshard-";
/** A shard's files as a backend names them: `shard-007.sqlite`, `shard-007.sqlite-wal`, `shard-007/`. */
export const SHARD_ENTRY = /^shard-\d+(?:[.-].*)?$/;

/** A temp file of {@linkcode writeManifest}, named by its writer's pid. */
export const MANIFEST_TEMP = /^shardkv\.json\.(\d+)-[0-9a-f]{8}\.tmp$/;

export interface Manifest {
  format: number;
  backend: string;
  shards: number;
  hash: string;
}

/** What a blocked manifest records about the layout being moved in. */
export interface PendingMove {
  from: string;
  files: string[];
}

/**
 * The manifest of a store whose reshard (or import) committed but has not been moved in yet:
 * `shards: 0`, which no `openStore` accepts, plus the move that recovery finishes.
 */
export interface BlockedManifest extends Omit<Manifest, "shards"> {
  shards: 0;
  reshard: PendingMove;
}

/** The manifest at `dir` as written, blocked or not; `undefined` when there is none. */
async function loadManifest(dir: string): Promise<Manifest | BlockedManifest | undefined> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw e;
  }
  let m: Partial<BlockedManifest> | Partial<Manifest>;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new InvalidManifestError(
      file,
      `is not valid JSON, received ${JSON.stringify(text.slice(0, 200))}`,
      { cause: e },
    );
  }
  if (!isManifest(m)) {
    throw new InvalidManifestError(
      file,
      `is not a shardkv format ${FORMAT_VERSION} manifest, received ${text.slice(0, 200)}`,
    );
  }
  return m;
}

/** The one validation of a manifest's content. */
function isManifest(m: unknown): m is Manifest | BlockedManifest {
  if (typeof m !== "object" || m === null) return false;
  const { format, backend, shards, hash, reshard } = m as Partial<BlockedManifest>;
  if (format !== FORMAT_VERSION || typeof backend !== "string" || hash !== HASH_NAME) return false;
  if (reshard !== undefined) return shards === 0 && isPendingMove(reshard);
  return Number.isSafeInteger(shards) && shards! >= 1 && shards! <= 256;
}

function isPendingMove(move: unknown): move is PendingMove {
  if (typeof move !== "object" || move === null) return false;
  const { from, files } = move as Partial<PendingMove>;
  return typeof from === "string" && from.startsWith(BUILD_PREFIX) && !from.includes("/") &&
    Array.isArray(files) && files.every((f) => typeof f === "string" && SHARD_ENTRY.test(f));
}

/**
 * The manifest of the store at `dir`, or `undefined` when there is none. A blocked manifest
 * (an unfinished reshard, which `recoverReshard` finishes) is refused like a damaged one.
 */
export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const m = await loadManifest(dir);
  if (m !== undefined && "reshard" in m) {
    throw new InvalidManifestError(
      join(dir, MANIFEST_FILE),
      `is blocked by an unfinished reshard from ${m.reshard.from} (shards: 0); ` +
        `recoverReshard finishes it`,
    );
  }
  return m;
}

/** The move a blocked manifest at `dir` records; `undefined` for none (or a damaged one). */
export async function readPendingMove(dir: string): Promise<PendingMove | undefined> {
  // Missing, unreadable or damaged: openStore reports it.
  const m = await loadManifest(dir).catch(() => undefined);
  return m !== undefined && "reshard" in m ? m.reshard : undefined;
}

/**
 * Creates `dir` if needed and writes its manifest durably and atomically: the one way a
 * manifest is written. Readers see the old manifest or the new one, never a mix, and after a
 * crash the old one stays unless the rename (the commit) happened.
 */
export async function writeManifest(
  dir: string,
  manifest: Manifest | BlockedManifest,
): Promise<void> {
  if (!isManifest(manifest)) {
    throw new TypeError(`Not a valid manifest, received ${JSON.stringify(manifest)}`);
  }
  await mkdir(dir, { recursive: true });
  const temp = await stageManifest(dir, manifest);
  try {
    await rename(temp, join(dir, MANIFEST_FILE));
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

/**
 * The first half of {@linkcode writeManifest}: the new manifest written to a temp file next
 * to the manifest and fsynced. Returns the temp file's path. Separate so a test can stop here,
 * as a crash would, and check that the old manifest is intact.
 */
export async function stageManifest(
  dir: string,
  manifest: Manifest | BlockedManifest,
): Promise<string> {
  const temp = join(dir, `${MANIFEST_FILE}.${process.pid}-${randomUUID().slice(0, 8)}.tmp`);
  await writeFile(temp, JSON.stringify(manifest, null, 2) + "\n");
  try {
    await fsyncPath(temp);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  return temp;
}

/** Flushes the file (or directory) at `path` to disk. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes renames in `dir` durable; a platform that cannot fsync a directory is skipped. */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // Windows cannot open a directory for fsync; its renames are durable on their own.
  }
}
