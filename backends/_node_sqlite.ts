// node:sqlite driver, used on Deno and Node. Only ever loaded through a dynamic import.
import type { SqliteArrayStatement, SqliteDatabase, SqliteStatement } from "./_sqlite_api.ts";
import { DatabaseSync, type StatementSync } from "node:sqlite";

export function open(path: string, options: { readOnly?: boolean } = {}): SqliteDatabase {
  return new NodeDatabase(new DatabaseSync(path, { readOnly: options.readOnly ?? false }));
}

/** node:sqlite before `setReturnArrays` (Node 22.5 to 22.15). */
interface OlderStatement {
  setReturnArrays?: StatementSync["setReturnArrays"];
}

class NodeDatabase implements SqliteDatabase {
  #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  prepare(sql: string): SqliteStatement {
    return this.#db.prepare(sql) as unknown as SqliteStatement;
  }

  // Rows as arrays (`setReturnArrays`): node:sqlite otherwise builds each row as a
  // null-prototype object from freshly made column-name strings, and reading its fields back
  // cost 0.6-0.7 us a point read on Deno and Node (bench/sqlite_rows.ts), a tenth of a W2 read.
  prepareArrays(sql: string): SqliteArrayStatement {
    const stmt = this.#db.prepare(sql);
    if ((stmt as OlderStatement).setReturnArrays !== undefined) {
      stmt.setReturnArrays(true);
      return stmt as unknown as SqliteArrayStatement;
    }
    const values = (row: unknown) => Object.values(row as Record<string, never>);
    return {
      get: (...params) => {
        const row = stmt.get(...params);
        return row === undefined ? undefined : values(row);
      },
      all: (...params) => stmt.all(...params).map(values),
    };
  }

  close(): void {
    this.#db.close();
  }
}
