// Real faults on a real file system: a store on a 2 MiB tmpfs that fills up. Mounting needs
// root (CI runs as root); when the mount fails the test fails, it is never skipped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { execFileSync } from "node:child_process";
import { rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openStore, StorageError, StorageFullError, type Store, verifyStore } from "../mod.ts";
import { assertKept, diskValue, fillDisk, inTmpfs } from "./_tmpfs.ts";

const SIZE = "2m";

/** Runs `fn` in a fresh tmpfs of SIZE; unmounts and removes it afterwards, even on failure. */
const withTmpfs = (fn: (dir: string) => Promise<void>): Promise<void> => inTmpfs(SIZE, fn);

for (const workers of [0, 2]) {
  test(`full disk${workers ? " (workers)" : ""}: StorageFullError, nothing acknowledged lost, works again once space is freed`, async () => {
    await withTmpfs(async (mount) => {
      // Taken back later to free space.
      await writeFile(join(mount, "filler"), new Uint8Array(512 * 1024));
      const dir = join(mount, "store");
      let store: Store | undefined = await openStore(dir, { shards: 4, workers });
      try {
        // Batches of 8 keys, three at a time, until the disk refuses 20 batches.
        const { acknowledged, errors } = await fillDisk(store);
        assert.ok(errors.length >= 20, "the 2 MiB disk never filled up");
        assert.ok(acknowledged.length > 0);
        for (const e of errors) {
          assert.ok(e instanceof StorageFullError, `received ${String(e)}`);
          assert.ok(e instanceof StorageError);
          assert.equal(e.name, "StorageFullError");
          assert.ok(Number.isInteger(e.shard) && e.shard >= 0 && e.shard < 4);
          assert.equal(e.path, join(dir, `shard-00${e.shard}.sqlite`));
          assert.ok(e.cause instanceof Error, "the driver's error is the cause");
          assert.match(e.message, /full/);
        }
        // Nothing acknowledged is lost, even while the disk is full.
        await assertKept(store, acknowledged);

        // Freeing space: writes succeed again, on every shard.
        await rm(join(mount, "filler"));
        const more = Array.from({ length: 40 }, (_, i) => 100_000 + i);
        await store.batchSet(more.map((i) => [`k${i}`, diskValue(i)] as const));
        await store.close();
        store = undefined;
        // Everything survives a reopen, and the files are sound.
        store = await openStore(dir, { workers });
        await assertKept(store, [...acknowledged, ...more]);
        await store.close();
        store = undefined;
        const report = await verifyStore(dir);
        assert.equal(report.ok, true, JSON.stringify(report.shards.filter((s) => !s.ok)));
      } finally {
        await store?.close();
      }
    });
  });
}

test("a store created on a full disk fails with StorageError and leaves no manifest", async () => {
  await withTmpfs(async (mount) => {
    // Fill the disk completely.
    await writeFile(join(mount, "filler"), new Uint8Array(2 * 1024 * 1024)).catch(() => {});
    const dir = join(mount, "store");
    const error = await openStore(dir, { shards: 4 }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e) => e,
    );
    assert.ok(error instanceof Error, "creating a store on a full disk must fail");
    assert.ok(
      error instanceof StorageError || (error as { code?: string }).code === "ENOSPC",
      String(error),
    );
    await assert.rejects(stat(join(dir, "shardkv.json")), { code: "ENOENT" });
    await rm(join(mount, "filler"));
    // With space again, the interrupted creation completes.
    const store = await openStore(dir, { shards: 4 });
    await store.set("a", diskValue(1));
    await store.close();
    const again = await openStore(dir);
    assert.deepEqual(await again.get("a"), diskValue(1));
    await again.close();
  });
});

for (const workers of [0, 2]) {
  test(`a store on a file system remounted read-only${workers ? " (workers)" : ""}: StorageError naming shard and file`, async () => {
    await withTmpfs(async (mount) => {
      const dir = join(mount, "store");
      const store = await openStore(dir, { shards: 2 });
      await store.set("a", diskValue(1));
      await store.close();
      execFileSync("mount", ["-o", "remount,ro", mount], { stdio: "pipe" });
      try {
        const error = await openStore(dir, { workers }).then(
          async (s) => {
            await s.close();
            return undefined;
          },
          (e) => e,
        );
        assert.ok(error instanceof StorageError, `received ${String(error)}`);
        assert.equal(error.name, "StorageError");
        assert.ok(error.shard === 0 || error.shard === 1);
        assert.equal(error.path, join(dir, `shard-00${error.shard}.sqlite`));
        assert.ok(error.cause instanceof Error);
      } finally {
        execFileSync("mount", ["-o", "remount,rw", mount], { stdio: "pipe" });
      }
      const again = await openStore(dir);
      assert.deepEqual(await again.get("a"), diskValue(1));
      await again.close();
    });
  });
}
