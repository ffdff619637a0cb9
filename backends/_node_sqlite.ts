// node:sqlite driver, used on Deno. Only ever loaded through a dynamic import. Its
// DatabaseSync already has the shape of SqliteDatabase.
import type { SqliteDatabase } from "./_sqlite_api.ts";
import { DatabaseSync } from "node:sqlite";

export function open(path: string, options: { readOnly?: boolean } = {}): SqliteDatabase {
  return new DatabaseSync(path, {
    readOnly: options.readOnly ?? false,
  }) as unknown as SqliteDatabase;
}
