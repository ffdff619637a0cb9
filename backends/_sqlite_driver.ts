// The small part of a synchronous SQLite driver that the SQLite backend uses. bun:sqlite and
// node:sqlite both fit it with a thin shim; which one loads is decided at run time, lazily.

/** A value SQLite can bind or return. */
export type SqlValue = string | number | bigint | null | Uint8Array;

/** A prepared statement. */
export interface SqliteStatement {
  /** First row; `undefined` (node:sqlite) or `null` (bun:sqlite) when there is none. */
  get(...params: SqlValue[]): Record<string, SqlValue> | null | undefined;
  /** Every row. */
  all(...params: SqlValue[]): Record<string, SqlValue>[];
  /** Runs the statement for its effects. */
  run(...params: SqlValue[]): { changes: number | bigint };
  /**
   * Frees the statement (bun:sqlite). Its `close()` leaves the connection open, with its WAL,
   * until every statement is finalized, which otherwise waits for a garbage collection.
   */
  finalize?(): void;
}

/** An open database connection. */
export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

interface RuntimeGlobals {
  Bun?: unknown;
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

/** Opens `path` with bun:sqlite on Bun and node:sqlite elsewhere (Deno). */
export async function openSqliteDatabase(path: string): Promise<OpenedDatabase> {
  const onBun = (globalThis as RuntimeGlobals).Bun !== undefined;
  const mod = onBun ? await import("./_bun_sqlite.ts") : await import("./_node_sqlite.ts");
  return { db: mod.open(path), textKeepsNul: onBun };
}

/** The SQLite result codes the backend and openStore react to. */
export type SqliteErrorName = "SQLITE_BUSY" | "SQLITE_IOERR" | "SQLITE_CORRUPT" | "SQLITE_NOTADB";

const PRIMARY_CODE: Record<SqliteErrorName, number> = {
  SQLITE_BUSY: 5,
  SQLITE_IOERR: 10,
  SQLITE_CORRUPT: 11,
  SQLITE_NOTADB: 26,
};

const MESSAGE: Record<SqliteErrorName, RegExp> = {
  SQLITE_BUSY: /database is locked/,
  SQLITE_IOERR: /disk I\/O error/,
  SQLITE_CORRUPT: /malformed/,
  SQLITE_NOTADB: /not a database/,
};

/**
 * Whether `e` is one of the SQLite errors `names` (extended codes included), however the
 * driver reports it: a `code` name, a numeric `errcode`, or only the message text.
 */
export function isSqliteError(e: unknown, names: readonly SqliteErrorName[]): boolean {
  const err = e as { code?: unknown; errcode?: unknown; message?: unknown };
  const code = String(err?.code);
  const primary = typeof err?.errcode === "number" ? err.errcode & 0xff : undefined;
  const message = String(err?.message);
  return names.some((name) =>
    code.startsWith(name) || primary === PRIMARY_CODE[name] || MESSAGE[name].test(message)
  );
}
