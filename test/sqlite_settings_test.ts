import { test } from "node:test";
import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { openSqliteBackend } from "../backends/sqlite.ts";
import { openStore } from "../mod.ts";
import { enc, tempDir } from "./_helpers.ts";

test("sqlite: durability sets synchronous, every shard is WAL with a busy timeout", async () => {
  const { dir, dispose } = await tempDir("settings");
  try {
    for (const durability of ["relaxed", "normal", "full"] as const) {
      const shard = await openSqliteBackend(`${dir}/${durability}.sqlite`, { durability });
      assert.deepEqual(shard.settings(), { journalMode: "wal", durability, busyTimeout: 5000 });
      await shard.close();
    }
    const custom = await openSqliteBackend(`${dir}/busy.sqlite`, { busyTimeout: 250 });
    assert.equal(custom.settings().busyTimeout, 250);
    assert.equal(custom.settings().durability, "normal");
    await custom.close();
    await assert.rejects(
      openSqliteBackend(`${dir}/bad.sqlite`, { durability: "fast" as "full" }),
      RangeError,
    );
  } finally {
    await dispose();
  }
});

test("sqlite: every shard file of a store is in WAL mode on disk", async () => {
  const { dir, dispose } = await tempDir("wal");
  try {
    const store = await openStore(dir, { shards: 2, durability: "full" });
    await store.set("a", enc("1"));
    await store.close();
    // Bytes 18 and 19 of a SQLite header are 2 when the file is in WAL mode.
    for (const file of ["shard-000.sqlite", "shard-001.sqlite"]) {
      const fh = await open(`${dir}/${file}`);
      const header = new Uint8Array(100);
      await fh.read(header, 0, 100, 0);
      await fh.close();
      assert.deepEqual([header[18], header[19]], [2, 2], file);
    }
  } finally {
    await dispose();
  }
});
