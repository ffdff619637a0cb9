// The manifest's one durable atomic write: a crash between the temp write and the rename leaves
// the old manifest; a writer killed at any moment leaves a whole manifest, old or new.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { openStore, recoverReshard } from "../mod.ts";
import {
  FORMAT_VERSION,
  HASH_NAME,
  readManifest,
  stageManifest,
  writeManifest,
} from "../shard/manifest.ts";
import { dec, enc, readLines, spawnChild, withTempDir } from "./_helpers.ts";

/** The backend name's length in test/_manifest_writer.ts. */
const SIZE = 4 << 20;

test("a crash after the temp manifest is written but before the rename keeps the old one", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 2 });
    await store.set("k", enc("v"));
    await store.close();
    const before = await readFile(join(dir, "shardkv.json"), "utf8");
    // What the crash leaves: the new manifest staged (written and fsynced), never renamed.
    const temp = await stageManifest(dir, {
      format: FORMAT_VERSION,
      backend: "sqlite",
      shards: 5,
      hash: HASH_NAME,
    });
    assert.equal(JSON.parse(await readFile(temp, "utf8")).shards, 5);
    assert.equal(await readFile(join(dir, "shardkv.json"), "utf8"), before);
    assert.equal((await readManifest(dir))?.shards, 2);
    const reopened = await openStore(dir);
    assert.equal(reopened.shards, 2);
    assert.equal(dec((await reopened.get("k"))!), "v");
    await reopened.close();
  });
});

test("writeManifest replaces the manifest and leaves no temp file", async () => {
  await withTempDir(async (dir) => {
    const manifest = { format: FORMAT_VERSION, backend: "sqlite", shards: 3, hash: HASH_NAME };
    await writeManifest(join(dir, "store"), manifest);
    await writeManifest(join(dir, "store"), { ...manifest, shards: 4 });
    assert.deepEqual(await readManifest(join(dir, "store")), { ...manifest, shards: 4 });
    assert.deepEqual(await readdir(join(dir, "store")), ["shardkv.json"]);
  });
});

test("writeManifest refuses an invalid manifest and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const bad = { format: FORMAT_VERSION, backend: "sqlite", shards: 0, hash: HASH_NAME };
    await assert.rejects(writeManifest(dir, bad as never), TypeError);
    assert.deepEqual(await readdir(dir), []);
  });
});

test("a manifest writer killed at random moments leaves a whole manifest, old or new", async () => {
  await withTempDir(async (dir) => {
    for (let cycle = 0; cycle < 8; cycle++) {
      const child = spawnChild("./_manifest_writer.ts", [dir]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await readLines(child, (line) => {
        // Killed a varying time after its first write, whatever it is doing then.
        if (line === "READY") timer = setTimeout(() => child.kill("SIGKILL"), 5 + cycle * 7);
      });
      clearTimeout(timer);
      const m = await readManifest(dir);
      assert.ok(m !== undefined, `cycle ${cycle}: no manifest`);
      const letter = m.backend[0];
      assert.ok(letter === "a" || letter === "b", `cycle ${cycle}: backend ${letter}`);
      assert.equal(m.backend, letter.repeat(SIZE), `cycle ${cycle}: torn manifest`);
      assert.equal(m.shards, letter === "a" ? 1 : 2);
    }
    // Recovery deletes the temp files the killed writers left.
    await recoverReshard(dir);
    assert.deepEqual(await readdir(dir), ["shardkv.json"]);
  });
});
