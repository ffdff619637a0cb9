// The store manifest: a small JSON file naming the format version, backend, shard count and
// hash. Written once, atomically (temp file + rename), after every shard file exists.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InvalidManifestError } from "../core/errors.ts";

export const MANIFEST_FILE = "shardkv.json";
/**
 * Present while a store is being created: written before the first shard file and removed
 * after the manifest, so shard files without either mean a lost manifest.
 */
export const CREATING_FILE = "shardkv.creating";
/** The name of a file-backed shard (sqlite or deno-kv) in a store directory. */
export const SHARD_FILE = /^shard-\d{3}\.(sqlite|kv)$/;
export const FORMAT_VERSION = 1;
export const HASH_NAME = "fnv1a32";

export interface Manifest {
  format: number;
  backend: string;
  shards: number;
  hash: string;
}

/** The manifest of the store at `dir`, or `undefined` when there is none. */
export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw e;
  }
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new InvalidManifestError(
      file,
      `is not valid JSON, received ${JSON.stringify(text.slice(0, 200))}`,
      { cause: e },
    );
  }
  if (
    typeof m !== "object" || m === null || m.format !== FORMAT_VERSION ||
    typeof m.backend !== "string" || !Number.isSafeInteger(m.shards) ||
    m.shards! < 1 || m.shards! > 256 || m.hash !== HASH_NAME
  ) {
    throw new InvalidManifestError(
      file,
      `is not a shardkv format ${FORMAT_VERSION} manifest, received ${text.slice(0, 200)}`,
    );
  }
  return m as Manifest;
}

/** Creates `dir` if needed and writes its manifest atomically. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, MANIFEST_FILE);
  const tmp = `${file}.${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + "\n");
  await rename(tmp, file);
}
