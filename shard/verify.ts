/**
 * `verifyStore`: checks every shard of a store directory and reports what is damaged.
 *
 * @module
 */
import { readdir } from "node:fs/promises";
import { MissingManifestError, StorageError } from "../core/errors.ts";
import { describe } from "../core/validate.ts";
import { readManifest, SHARD_FILE, shardPathOf } from "./manifest.ts";
import {
  checkDenoKvValues,
  checkSqliteValues,
  isOpenThroughNpm,
  SHARD_FILE_EXTENSION,
  type ShardVerifyReport,
  verifySqliteFile,
} from "../backends/builtin.ts";

export type { ShardVerifyReport };

/** Progress of {@linkcode verifyStore}, reported after each page of rows and each shard. */
export interface VerifyProgress {
  /** The shard being checked. */
  shard: number;
  /** How many shards the store has. */
  shards: number;
  /** Rows of this shard checked so far. */
  rows: number;
  /** `true` once this shard is finished. */
  done: boolean;
}

/** Options of {@linkcode verifyStore}. */
export interface VerifyOptions {
  /** Called as the check advances (after every 1000 rows and at the end of each shard). */
  onProgress?: (progress: VerifyProgress) => void;
}

/** The result of {@linkcode verifyStore}. */
export interface VerifyReport {
  /** The store directory. */
  path: string;
  /** The store's backend (`"sqlite"` or `"deno-kv"`). */
  backend: string;
  /** `true` when no shard has a problem or a damaged key. */
  ok: boolean;
  /** One report per shard, in shard order. */
  shards: ShardVerifyReport[];
}

/**
 * Checks every shard of the store at `path` without changing it: each shard file exists and is
 * an SQLite database; its WAL holds no damaged frame that would make SQLite drop later commits;
 * SQLite's `PRAGMA integrity_check` passes; and every stored value matches its checksum (sqlite
 * and deno-kv; a deno-kv file is read through a read-only SQLite connection, never through Deno
 * KV). Run it on a closed store for the WAL check to be exact (opening a store recovers, and
 * closing the last connection removes, the WAL). A missing manifest throws
 * `MissingManifestError` (shard files present) or `TypeError` (no store there). A deno-kv store
 * that this process holds open through `@deno/kv` (Bun, Node) throws `StorageError`: close it
 * first or verify from another process.
 *
 * @example
 * ```ts
 * import { verifyStore } from "@shardkv/shardkv";
 * const report = await verifyStore("./data", {
 *   onProgress: ({ shard, shards, rows }) => console.log(`shard ${shard + 1}/${shards}: ${rows}`),
 * });
 * for (const s of report.shards) if (!s.ok) console.log(s.path, s.problems, s.keys);
 * ```
 */
export async function verifyStore(
  path: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`path must be a non-empty directory path, received ${describe(path)}`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Options must be an object, received ${describe(options)}`);
  }
  const { onProgress } = options;
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError(`onProgress must be a function, received ${describe(onProgress)}`);
  }
  const manifest = await readManifest(path);
  if (manifest === undefined) {
    const files = (await readdir(path).catch(() => [] as string[]))
      .filter((n) => SHARD_FILE.test(n)).sort();
    if (files.length > 0) throw new MissingManifestError(path, files);
    throw new TypeError(`No shardkv store at "${path}": it has no shardkv.json`);
  }
  const extension = SHARD_FILE_EXTENSION[manifest.backend as keyof typeof SHARD_FILE_EXTENSION];
  if (extension === undefined) {
    throw new TypeError(
      `verifyStore checks file stores ("sqlite", "deno-kv"); the store at "${path}" uses backend "${manifest.backend}"`,
    );
  }
  const fileOf = (shard: number) => shardPathOf(path, shard) + extension;
  for (let shard = 0; shard < manifest.shards; shard++) {
    if (isOpenThroughNpm(fileOf(shard))) {
      throw new StorageError(
        "is open in this process through @deno/kv: close the store first, or verify it from " +
          "another process (a second copy of SQLite opening the file here would drop the " +
          "locks of @deno/kv's copy)",
        { shard, path: fileOf(shard) },
      );
    }
  }
  const shards: ShardVerifyReport[] = [];
  for (let shard = 0; shard < manifest.shards; shard++) {
    const file = fileOf(shard);
    const progress = (rows: number, done: boolean) =>
      onProgress?.({ shard, shards: manifest.shards, rows, done });
    const report = await verifySqliteFile({ shard, path: file }, {
      values: manifest.backend === "sqlite" ? checkSqliteValues : checkDenoKvValues,
      onRows: (rows) => progress(rows, false),
    });
    progress(report.rows + report.unchecked, true);
    shards.push(report);
  }
  return { path, backend: manifest.backend, ok: shards.every((s) => s.ok), shards };
}
