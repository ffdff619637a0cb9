// bun:sqlite driver. Only ever loaded on Bun, through a dynamic import. Its Database already
// has the shape of SqliteDatabase but for `prepareArrays`, so statements are used as they are
// (no wrapper per call) except those.
import { bunRequire } from "./_bun_require.ts";
import type {
  SqliteArrayStatement,
  SqliteDatabase,
  SqliteStatement,
  SqlValue,
} from "./_sqlite_api.ts";

interface BunStatement extends SqliteStatement {
  /** Every row as an array of its column values. */
  values(...params: SqlValue[]): SqlValue[][];
  /** The names of the columns a row has, in order. */
  columnNames: string[];
}

interface BunDatabase {
  exec(sql: string): void;
  prepare(sql: string): BunStatement;
  close(): void;
}

interface BunSqliteModule {
  Database: new (path: string, options: { create?: boolean; readonly?: boolean }) => BunDatabase;
}

export function open(path: string, options: { readOnly?: boolean } = {}): SqliteDatabase {
  const { Database } = bunRequire<BunSqliteModule>("bun:sqlite");
  const db = new Database(path, options.readOnly ? { readonly: true } : { create: true });
  return Object.assign(db, {
    prepareArrays(sql: string): SqliteArrayStatement {
      const stmt = db.prepare(sql);
      const names = stmt.columnNames;
      return {
        // From the row object: measured cheaper than `values(...)[0]` on Bun, whose row objects
        // are cheap to read (bench/sqlite_rows.ts).
        get: (...params) => {
          const row = stmt.get(...params);
          if (row == null) return undefined;
          const out = new Array<SqlValue>(names.length);
          for (let i = 0; i < names.length; i++) out[i] = row[names[i]];
          return out;
        },
        all: (...params) => stmt.values(...params),
        finalize: () => stmt.finalize?.(),
      };
    },
  });
}
