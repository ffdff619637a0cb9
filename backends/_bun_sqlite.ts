// bun:sqlite driver. Only ever loaded on Bun, through a dynamic import. Its Database already
// has the shape of SqliteDatabase, so statements are used as they are (no wrapper per call).
import type { SqliteDatabase } from "./_sqlite_driver.ts";

interface BunSqliteModule {
  Database: new (path: string, options: { create: boolean }) => SqliteDatabase;
}

/** Bun's synchronous `import.meta.require`: it keeps `bun:` out of other runtimes' module graphs. */
interface BunImportMeta {
  require(id: string): unknown;
}

export function open(path: string): SqliteDatabase {
  const { Database } = (import.meta as unknown as BunImportMeta).require(
    "bun:sqlite",
  ) as BunSqliteModule;
  return new Database(path, { create: true });
}
