// bun:sqlite driver. Only ever loaded on Bun, through a dynamic import. Its Database already
// has the shape of SqliteDatabase, so statements are used as they are (no wrapper per call).
import type { SqliteDatabase } from "./_sqlite_driver.ts";

interface BunSqliteModule {
  Database: new (path: string, options: { create: boolean }) => SqliteDatabase;
}

const { Database } = (await import("bun:sqlite" as string)) as BunSqliteModule;

export function open(path: string): SqliteDatabase {
  return new Database(path, { create: true });
}
