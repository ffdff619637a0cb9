// Typed storage errors of the deno-kv shard. Deno KV keeps a SQLite database underneath and
// reports its failures as plain errors carrying SQLite's message: a `TypeError` on Deno, an
// `Error` with `code: "GenericFailure"` and a multi-line message (a Rust error chain and
// backtrace) from @deno/kv on Bun and Node. Both become the same shardkv class on every
// runtime, with the shard, its file and the original error as `cause`.
import {
  CorruptStoreError,
  StorageError,
  type StorageErrorInit,
  StorageFullError,
} from "../core/errors.ts";
import { DamagedRecordError } from "./_deno_kv_layout.ts";
import { hasSqliteCode } from "./_sqlite_driver.ts";

/** Deno KV's own words for a value it cannot decode (a damaged value encoding byte). */
const UNKNOWN_ENCODING = /value encoding -?\d+ is unknown/;
/** @deno/kv after its database thread stopped (e.g. it panicked on a damaged file). */
const CLOSED_UNDER_US = /^Database is closed/;

/**
 * The shardkv error for `e`: corruption -> `CorruptStoreError`, a full disk ->
 * `StorageFullError`, other I/O failures -> `StorageError`; anything else (our own errors,
 * "database is locked", bad arguments) is returned unchanged.
 */
export function kvErrorOf(e: unknown, where: StorageErrorInit): unknown {
  if (e instanceof StorageError || !(e instanceof Error)) return e;
  if (e instanceof DamagedRecordError) {
    return new CorruptStoreError(
      e.message,
      e.key === undefined ? where : { ...where, key: e.key },
      { cause: e },
    );
  }
  // @deno/kv appends "Caused by:" and a backtrace: the first line is SQLite's message.
  const message = e.message.split("\n")[0];
  if (hasSqliteCode(e, ["SQLITE_CORRUPT", "SQLITE_NOTADB"]) || UNKNOWN_ENCODING.test(message)) {
    return new CorruptStoreError(message, where, { cause: e });
  }
  if (hasSqliteCode(e, ["SQLITE_FULL"])) return new StorageFullError(message, where, { cause: e });
  if (
    hasSqliteCode(e, [
      "SQLITE_IOERR",
      "SQLITE_CANTOPEN",
      "SQLITE_READONLY",
      "SQLITE_PERM",
      "SQLITE_NOLFS",
    ]) || CLOSED_UNDER_US.test(message)
  ) {
    return new StorageError(message, where, { cause: e });
  }
  return e;
}
