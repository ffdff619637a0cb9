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

/** An open database connection. */
export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}
