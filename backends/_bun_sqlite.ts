// bun:sqlite driver. Only ever loaded on Bun, through a dynamic import. Its Database already
// has the shape of SqliteDatabase, so statements are used as they are (no wrapper per call).
import { bunRequire } from "./_bun_require.ts";
import type { SqliteDatabase } from "./_sqlite_api.ts";

interface BunSqliteModule {
  Database: new (path: string, options: { create?: boolean; readonly?: boolean }) => SqliteDatabase;
}

export function open(path: string, options: { readOnly?: boolean } = {}): SqliteDatabase {
  const { Database } = bunRequire<BunSqliteModule>("bun:sqlite");
  return new Database(path, options.readOnly ? { readonly: true } : { create: true });
}
