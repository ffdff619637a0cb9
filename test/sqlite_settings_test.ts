import { test } from "node:test";
import assert from "node:assert/strict";
import { open, readdir } from "node:fs/promises";
import { openSqliteBackend } from "../backends/sqlite.ts";
import { openStore, sqlite } from "../mod.ts";
import { enc, tempDir } from "./_helpers.ts";

/** The 100-byte header of a SQLite file. */
async function sqliteHeader(file: string): Promise<Uint8Array> {
  const fh = await open(file);
  try {
    const header = new Uint8Array(100);
    await fh.read(header, 0, 100, 0);
    return header;
  } finally {
    await fh.close();
  }
}

test("sqlite: durability sets synchronous, every shard is WAL with a busy timeout", async () => {
  const { dir, dispose } = await tempDir("settings");
  try {
    for (const durability of ["relaxed", "normal", "full"] as const) {
      const shard = await openSqliteBackend(`${dir}/${durability}.sqlite`, { durability });
      assert.deepEqual(shard.settings(), {
        journalMode: "wal",
        durability,
        busyTimeout: 5000,
        pageSize: 4096,
      });
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
      const header = await sqliteHeader(`${dir}/${file}`);
      assert.deepEqual([header[18], header[19]], [2, 2], file);
    }
  } finally {
    await dispose();
  }
});

/** The page size a SQLite file's header records (bytes 16-17, big-endian; 1 means 65536). */
async function headerPageSize(file: string): Promise<number> {
  const header = await sqliteHeader(file);
  const size = (header[16] << 8) | header[17];
  return size === 1 ? 65536 : size;
}

test("sqlite: pageSize sets new shard files' page size (in-thread and in workers)", async () => {
  const { dir, dispose } = await tempDir("page");
  try {
    for (const [name, workers, pageSize] of [["a", 0, 1024], ["b", 1, 65536]] as const) {
      const path = `${dir}/${name}`;
      const store = await openStore(path, { shards: 2, workers, backend: sqlite({ pageSize }) });
      const value = new Uint8Array(5000).fill(7);
      for (let i = 0; i < 50; i++) await store.set(`k${i}`, value);
      await store.close();
      for (const file of ["shard-000.sqlite", "shard-001.sqlite"]) {
        assert.equal(await headerPageSize(`${path}/${file}`), pageSize, `${name} ${file}`);
      }
      // An existing store keeps its files' page size whatever the option says.
      const again = await openStore(path, { backend: sqlite({ pageSize: 4096 }) });
      assert.deepEqual(await again.get("k49"), value);
      await again.set("k50", value);
      await again.close();
      assert.equal(await headerPageSize(`${path}/shard-000.sqlite`), pageSize);
    }
    const shard = await openSqliteBackend(`${dir}/one.sqlite`, { pageSize: 2048 });
    assert.equal(shard.settings().pageSize, 2048);
    await shard.close();
  } finally {
    await dispose();
  }
});

test("sqlite: a pageSize that is not a power of two from 512 to 65536 is refused", async () => {
  const { dir, dispose } = await tempDir("badpage");
  try {
    for (const bad of [0, 256, 1000, 4096.5, 131072, "4096", Number.NaN]) {
      assert.throws(() => sqlite({ pageSize: bad as number }), RangeError, String(bad));
      await assert.rejects(
        openSqliteBackend(`${dir}/bad.sqlite`, { pageSize: bad as number }),
        RangeError,
      );
    }
    // Nothing was created by the refused opens.
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await dispose();
  }
});
