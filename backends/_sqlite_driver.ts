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
