// The small part of a synchronous SQLite driver that the SQLite backend uses: the shape both
// bun:sqlite and node:sqlite are fitted to (_bun_sqlite.ts, _node_sqlite.ts).

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

/**
 * A prepared statement whose rows are arrays of their column values, in the order the query
 * names the columns. For the hot reads: node:sqlite builds each row object with a null
 * prototype, and reading its fields back cost more than the rest of a point read on Deno and
 * Node (see _node_sqlite.ts).
 */
export interface SqliteArrayStatement {
  /** First row; `undefined` when there is none. */
  get(...params: SqlValue[]): SqlValue[] | undefined;
  /** Every row. */
  all(...params: SqlValue[]): SqlValue[][];
  /** Frees the statement (see {@linkcode SqliteStatement.finalize}). */
  finalize?(): void;
}

/** An open database connection. */
export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  /** Prepares `sql` with rows returned as arrays. */
  prepareArrays(sql: string): SqliteArrayStatement;
  close(): void;
}
