// bun:sqlite driver. Only ever loaded on Bun, through a dynamic import. Its Database already
// has the shape of SqliteDatabase, so statements are used as they are (no wrapper per call).
import { bunRequire } from "./_bun_require.ts";
import type { SqliteDatabase } from "./_sqlite_driver.ts";

interface BunSqliteModule {
  Database: new (path: string, options: { create: boolean }) => SqliteDatabase;
}

export function open(path: string): SqliteDatabase {
  const { Database } = bunRequire<BunSqliteModule>("bun:sqlite");
  return new Database(path, { create: true });
}
