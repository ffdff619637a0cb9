import { openSqliteBackend } from "../backends/sqlite.ts";
import { conformance } from "./conformance.ts";
import { tempDir } from "./_helpers.ts";
import { conformanceForBackend } from "./_targets.ts";

conformanceForBackend("sqlite", "sqlite");
conformance("sqlite bare backend", async ({ now }) => {
  const { dir, dispose } = await tempDir("sqlite-bare");
  return { store: await openSqliteBackend(`${dir}/one.sqlite`, { now }), dispose };
}, { shards: 1 });
