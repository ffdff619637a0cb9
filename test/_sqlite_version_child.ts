// A child process for test/sqlite_versions_test.ts: another process writing one SQLite shard
// file. Usage: _sqlite_version_child.ts <file> <key> <value>. Prints "READY" once the file is
// open, waits until the file `<file>.go` exists, prints "WRITING" just before it writes `key`
// (waiting for the write lock as every writer does), then "DONE" once the write is committed.
import { existsSync } from "node:fs";
import process from "node:process";
import { openSqliteDriver } from "../backends/sqlite.ts";

const [file, key, value] = process.argv.slice(2);
const out = (line: string): void => {
  process.stdout.write(line + "\n");
};
const driver = await openSqliteDriver(file, { busyTimeout: 20_000 });
out("READY");
while (!existsSync(`${file}.go`)) await new Promise((r) => setTimeout(r, 5));
out("WRITING");
await driver.apply([{ key, value: new TextEncoder().encode(value) }]);
out("DONE");
await driver.close();
