// The small part of a synchronous SQLite driver that the SQLite backend uses. bun:sqlite and
// node:sqlite both fit it with a thin shim; which one loads is decided at run time, lazily.

import { statfsSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname } from "node:path";
import {
  CorruptStoreError,
  StorageError,
  type StorageErrorInit,
  StorageFullError,
} from "../core/errors.ts";
import { runtimeName } from "../core/runtime.ts";
import { describe } from "../core/validate.ts";

export type {
  SqliteArrayStatement,
  SqliteDatabase,
  SqliteStatement,
  SqlValue,
} from "./_sqlite_api.ts";
import type { SqliteDatabase } from "./_sqlite_api.ts";

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = "SQLite format 3\0";

/**
 * Throws `CorruptStoreError` unless `path` is a non-empty SQLite file: for a shard that must
 * already exist, where SQLite itself would start an empty database in a missing or empty file.
 */
export async function checkSqliteFile(path: string, where: StorageErrorInit): Promise<void> {
  let file;
  try {
    file = await open(path, "r");
  } catch (e) {
    const missing = (e as { code?: unknown }).code === "ENOENT";
    if (missing) throw new CorruptStoreError("is missing", where, { cause: e });
    throw new StorageError(`cannot be read: ${(e as Error).message}`, where, { cause: e });
  }
  try {
    const { size } = await file.stat();
    if (size === 0) throw new CorruptStoreError("is empty (0 bytes)", where);
    const head = new Uint8Array(SQLITE_HEADER.length);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    const text = String.fromCharCode(...head.subarray(0, bytesRead));
    if (text !== SQLITE_HEADER) {
      throw new CorruptStoreError(
        `is not an SQLite database (${size} bytes, header ${JSON.stringify(text)})`,
        where,
      );
    }
  } finally {
    await file.close();
  }
}

/** An open connection and what its driver can be trusted with. */
export interface OpenedDatabase {
  db: SqliteDatabase;
  /**
   * Whether TEXT columns come back whole. node:sqlite cuts them at the first NUL, so with it
   * keys are read back as BLOBs and decoded.
   */
  textKeepsNul: boolean;
}

/**
 * Opens `path` with bun:sqlite on Bun and node:sqlite elsewhere (Deno). `readOnly`: never
 * writes, not even the checkpoint that closing the last connection otherwise runs.
 */
export async function openSqliteDatabase(
  path: string,
  options: { readOnly?: boolean } = {},
): Promise<OpenedDatabase> {
  const onBun = runtimeName() === "bun";
  const mod = onBun ? await import("./_bun_sqlite.ts") : await loadNodeSqlite();
  return { db: mod.open(path, options), textKeepsNul: onBun };
}

interface WarningProcess {
  emitWarning(warning: unknown, ...rest: unknown[]): void;
}

/**
 * Loads the node:sqlite driver. Node 22 and 23 print "ExperimentalWarning: SQLite is an
 * experimental feature" when node:sqlite loads (synchronously, inside the import): that one
 * warning is dropped; every other warning passes through.
 */
async function loadNodeSqlite(): Promise<typeof import("./_node_sqlite.ts")> {
  const proc = (globalThis as { process?: WarningProcess }).process;
  const emitWarning = proc?.emitWarning;
  if (proc === undefined || emitWarning === undefined) return await import("./_node_sqlite.ts");
  proc.emitWarning = function (warning: unknown, ...rest: unknown[]): void {
    const text = warning instanceof Error ? warning.message : String(warning);
    if (/^SQLite is an experimental feature/.test(text)) return;
    emitWarning.call(proc, warning, ...rest);
  };
  try {
    return await import("./_node_sqlite.ts");
  } finally {
    proc.emitWarning = emitWarning;
  }
}

/** The SQLite result codes the backend and openStore react to. */
export type SqliteErrorName =
  | "SQLITE_BUSY"
  | "SQLITE_IOERR"
  | "SQLITE_CORRUPT"
  | "SQLITE_NOTADB"
  | "SQLITE_FULL"
  | "SQLITE_CANTOPEN"
  | "SQLITE_READONLY"
  | "SQLITE_PERM"
  | "SQLITE_NOLFS";

const PRIMARY_CODE: Record<SqliteErrorName, number> = {
  SQLITE_BUSY: 5,
  SQLITE_IOERR: 10,
  SQLITE_CORRUPT: 11,
  SQLITE_NOTADB: 26,
  SQLITE_FULL: 13,
  SQLITE_CANTOPEN: 14,
  SQLITE_READONLY: 8,
  SQLITE_PERM: 3,
  SQLITE_NOLFS: 22,
};

// node:sqlite on Deno reports only `code: "ERR_SQLITE_ERROR"` and SQLite's message
// (sqlite3_errmsg), which for every extended code is the text of its primary code.
const MESSAGE: Record<SqliteErrorName, RegExp> = {
  SQLITE_BUSY: /database is locked/,
  SQLITE_IOERR: /disk I\/O error/,
  SQLITE_CORRUPT: /malformed/,
  SQLITE_NOTADB: /not a database/,
  SQLITE_FULL: /database or disk is full/,
  SQLITE_CANTOPEN: /unable to open database file/,
  SQLITE_READONLY: /attempt to write a readonly database/,
  SQLITE_PERM: /access permission denied/,
  SQLITE_NOLFS: /large file support is disabled/,
};

/** Whether `e` was thrown by bun:sqlite or node:sqlite (and not, say, by our own code). */
function fromSqlite(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const err = e as { code?: unknown; errcode?: unknown };
  return e.name === "SQLiteError" || err.code === "ERR_SQLITE_ERROR" ||
    typeof err.errcode === "number" ||
    (typeof err.code === "string" && err.code.startsWith("SQLITE_"));
}

/**
 * Whether `e` is one of the SQLite errors `names` (extended codes included), however the
 * driver reports it: a `code` name, a numeric `errcode`, or only the message text.
 */
export function isSqliteError(e: unknown, names: readonly SqliteErrorName[]): boolean {
  return fromSqlite(e) && hasSqliteCode(e, names);
}

/**
 * Whether `e` carries one of the SQLite errors `names`, whatever threw it: Deno KV (SQLite
 * underneath) throws plain errors with SQLite's message.
 */
export function hasSqliteCode(e: unknown, names: readonly SqliteErrorName[]): boolean {
  const err = e as { code?: unknown; errcode?: unknown; message?: unknown };
  const code = String(err.code);
  const primary = typeof err.errcode === "number" ? err.errcode & 0xff : undefined;
  const message = String(err.message);
  return names.some((name) =>
    code === name || code.startsWith(`${name}_`) || primary === PRIMARY_CODE[name] ||
    MESSAGE[name].test(message)
  );
}

const CORRUPT: SqliteErrorName[] = ["SQLITE_CORRUPT", "SQLITE_NOTADB"];
const FULL: SqliteErrorName[] = ["SQLITE_FULL"];
const IO: SqliteErrorName[] = [
  "SQLITE_IOERR",
  "SQLITE_CANTOPEN",
  "SQLITE_READONLY",
  "SQLITE_PERM",
  "SQLITE_NOLFS",
];

/** Errors SQLite may report for a write that met a full file system (ENOSPC). */
const IO_WHEN_FULL: SqliteErrorName[] = ["SQLITE_IOERR", "SQLITE_CANTOPEN"];
/** Below this many free bytes a file system counts as full. */
const FULL_BELOW = 64 * 1024;

/**
 * Whether the file system holding `path` is (all but) full. SQLite reports some failed writes
 * on a full disk as I/O errors (a WAL or shared-memory write, a file it cannot create) rather
 * than SQLITE_FULL; the free space tells them apart.
 */
function fileSystemFull(path: string): boolean {
  try {
    const fs = statfsSync(dirname(path));
    return Number(fs.bavail) * Number(fs.bsize) < FULL_BELOW;
  } catch {
    return false;
  }
}

/**
 * The one place where a driver's error becomes shardkv's: corruption -> `CorruptStoreError`,
 * a full disk -> `StorageFullError` (also an I/O error met while the shard's file system is
 * full), other I/O failures -> `StorageError`, and a write lock another connection held beyond
 * the busy timeout (SQLITE_BUSY) -> `StorageError` saying so; each names the shard and its file
 * and keeps the driver's error as `cause`. Anything else (our own errors, ...) is returned
 * unchanged. `busyTimeout`: the connection's, named by the lock error.
 */
export function storageErrorOf(
  e: unknown,
  where: StorageErrorInit,
  options: { busyTimeout?: number } = {},
): unknown {
  if (e instanceof StorageError || !fromSqlite(e)) return e;
  const message = (e as Error).message;
  if (isSqliteError(e, CORRUPT)) return new CorruptStoreError(message, where, { cause: e });
  if (isSqliteError(e, FULL) || (isSqliteError(e, IO_WHEN_FULL) && fileSystemFull(where.path))) {
    return new StorageFullError(message, where, { cause: e });
  }
  if (isSqliteError(e, IO)) return new StorageError(message, where, { cause: e });
  if (isSqliteError(e, ["SQLITE_BUSY"])) {
    const timeout = options.busyTimeout === undefined ? "" : ` of ${options.busyTimeout} ms`;
    return new StorageError(
      `another connection held the file's lock beyond the busy timeout${timeout} (${message}); ` +
        "the operation did not happen: retry it, or raise busyTimeout",
      where,
      { cause: e },
    );
  }
  return e;
}

/** Throws RangeError unless `pageSize` is a power of two from 512 to 65536 (bytes). */
export function checkPageSize(pageSize: unknown): asserts pageSize is number {
  if (
    typeof pageSize !== "number" || !Number.isInteger(pageSize) || pageSize < 512 ||
    pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0
  ) {
    throw new RangeError(
      `pageSize must be a power of two from 512 to 65536 (bytes), received ${describe(pageSize)}`,
    );
  }
}
