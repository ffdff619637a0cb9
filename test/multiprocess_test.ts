// Several processes on one store: each writes its own keys and increments one shared counter
// while the parent reads. SQLite serialises the writers (BEGIN IMMEDIATE + busy timeout), so
// no "database is locked" may reach a caller, no write is lost, and every increment counts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeCounter, openStore } from "../mod.ts";
import { dec, readLines, spawnChild, withTempDir } from "./_helpers.ts";

const COUNT = 2000;

for (const { processes, shards } of [{ processes: 3, shards: 4 }, { processes: 2, shards: 1 }]) {
  test(`sqlite, ${shards} shard(s): ${processes} processes write one store concurrently`, async () => {
    await withTempDir(async (dir) => {
      const parent = await openStore(dir, { shards });
      const errors: string[] = [];
      const children = Array.from({ length: processes }, (_, id) => {
        const child = spawnChild("./_child_writer.ts", ["multi", dir, String(id), String(COUNT)]);
        return readLines(child, (line) => {
          if (line.startsWith("E ")) errors.push(line);
        });
      });
      // Read while the children write: the counter only goes up, reads never fail.
      let running = true;
      const all = Promise.all(children).finally(() => {
        running = false;
      });
      let last = 0;
      let reads = 0;
      while (running) {
        const raw = await parent.get("shared");
        const value = raw === undefined ? 0 : decodeCounter(raw);
        assert.ok(value >= last, `shared counter went back from ${last} to ${value}`);
        last = value;
        await parent.scanKeys("m:", { limit: 10 });
        reads++;
        await new Promise((r) => setTimeout(r, 5));
      }
      const codes = await all.catch((e) => {
        errors.push(String(e));
        return [];
      });
      assert.deepEqual(errors, [], "a child saw an error");
      assert.deepEqual(codes, Array(processes).fill(0));
      assert.ok(reads > 0);
      // Every write of every process, and every increment, is there.
      assert.equal(decodeCounter((await parent.get("shared"))!), processes * COUNT);
      for (let id = 0; id < processes; id++) {
        const keys = Array.from({ length: COUNT }, (_, n) => `m:${id}:${n}`);
        const found = await parent.batchGet(keys);
        assert.equal(found.size, COUNT, `process ${id} lost ${COUNT - found.size} writes`);
        assert.equal(dec(found.get(`m:${id}:7`)), `${id}-7`);
        assert.equal(
          dec(await parent.get(`{${id}}:last`)),
          String(Math.floor((COUNT - 1) / 10) * 10),
        );
        assert.equal((await parent.scanKeys(`mb:${id}:`)).length, (COUNT / 10) * 2);
      }
      // A write made by the parent now is seen by a fresh opener (another process's view).
      await parent.set("from-parent", new Uint8Array([1]));
      const other = await openStore(dir);
      assert.deepEqual(await other.get("from-parent"), new Uint8Array([1]));
      await other.close();
      await parent.close();
    });
  });
}

// Needs a lead fix in backends/sqlite.ts: today `PRAGMA journal_mode = WAL` on a file that
// another process is creating at the same moment throws SQLITE_BUSY ("database is locked")
// out of openStore, in about one round in five.
test("sqlite: 6 processes creating the same new store at once all succeed (5 rounds)", async () => {
  for (let round = 0; round < 5; round++) {
    await withTempDir(async (dir) => {
      const errors: string[] = [];
      const results = await Promise.allSettled(
        Array.from(
          { length: 6 },
          (_, id) =>
            readLines(
              spawnChild("./_child_writer.ts", ["multi", dir, String(id), "20"]),
              (line) => {
                if (line.startsWith("E ")) errors.push(line);
              },
            ),
        ),
      );
      for (const r of results) {
        if (r.status === "rejected") errors.push(String(r.reason).slice(0, 500));
      }
      assert.deepEqual(errors, [], `round ${round}: a process could not open or write the store`);
      const store = await openStore(dir);
      assert.equal(decodeCounter((await store.get("shared"))!), 6 * 20);
      await store.close();
    });
  }
});
