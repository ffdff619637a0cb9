// exportStore / importStore: checksummed NDJSON round trips across backends and shard counts;
// a corrupted, truncated or reordered stream is refused with its record position and the
// target is left unchanged.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { type Driver, openStore, type Store } from "../mod.ts";
import { openMemoryDriver } from "../backends/memory.ts";
import { CorruptBackupError, exportStore, importStore } from "../shard/backup.ts";
import { Clock, dec, enc, withTempDir } from "./_helpers.ts";

const KEYS = ["a", "é", "日本", "😀", "\u{10ffff}", "{u1}:a", "a\u0000b", "\uffff", "\ud7ff"];

/** Collects everything written to the returned stream. */
function sink(): { stream: WritableStream<Uint8Array>; bytes(): Uint8Array } {
  const chunks: Uint8Array[] = [];
  return {
    stream: new WritableStream({ write: (c) => void chunks.push(c) }),
    bytes: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
  };
}

/** A stream of `bytes` in small chunks, so lines straddle chunk boundaries. */
function source(bytes: Uint8Array, chunk = 1000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at += chunk));
    },
  });
}

async function fill(store: Store): Promise<void> {
  const entries: [string, Uint8Array][] = KEYS.map((k) => [k, enc(`v-${k}`)]);
  for (let i = 0; i < 600; i++) entries.push([`key:${i}`, enc(`value ${i}`)]);
  entries.push(["empty", new Uint8Array(0)]);
  entries.push(["binary", Uint8Array.from({ length: 256 }, (_, i) => i)]);
  await store.batchSet(entries);
  await store.set("big", new Uint8Array(1 << 20).fill(7));
  await store.set("ttl:soon", enc("s"), { ttl: 1_000 });
  await store.set("ttl:late", enc("l"), { ttl: 60_000 });
}

/** Every live key with its value (hex) and remaining TTL. */
async function snapshot(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of store.entries("")) {
    out.set(
      k,
      `${Array.from(v.subarray(0, 64), (b) => b.toString(16)).join("")}/${v.length}/${await store
        .ttl(k)}`,
    );
  }
  return out;
}

for (
  const [from, to] of [
    ["sqlite/16", "sqlite/1"],
    ["memory/1", "sqlite/16"],
    ["sqlite/1", "memory/16"],
    ["deno-kv/4", "sqlite/2"],
    ["memory/4", "deno-kv/1"],
  ]
) {
  test(`export ${from} -> import ${to}: every key, value and TTL round-trips`, async () => {
    await withTempDir(async (dir) => {
      const clock = new Clock();
      const open = (spec: string, sub: string): Promise<Store> => {
        const [backend, shards] = spec.split("/");
        return openStore(join(dir, sub), {
          backend: backend as "sqlite",
          shards: Number(shards),
          now: clock.now,
        });
      };
      const a = await open(from, "a");
      await fill(a);
      const before = await snapshot(a);
      const out = sink();
      let progress = 0;
      const { records } = await exportStore(a, out.stream, {
        now: clock.now,
        onProgress: (n) => progress = n,
      });
      assert.equal(records, before.size);
      assert.equal(progress, records);
      const bytes = out.bytes();
      const lines = dec(bytes)!.trimEnd().split("\n");
      assert.equal(lines.length, records + 2);
      assert.match(lines[0], /^\{"format":"shardkv-backup","version":1,/);
      clock.advance(500); // time passes between export and import: TTLs keep counting down
      let b: Store;
      if (to.startsWith("memory")) {
        b = await open(to, "b");
        assert.deepEqual(await importStore(b, source(bytes), { now: clock.now }), { records });
      } else {
        const [backend, shards] = to.split("/");
        await importStore(join(dir, "b"), source(bytes), {
          backend: backend as "sqlite",
          shards: Number(shards),
          now: clock.now,
        });
        b = await open(to, "b");
      }
      const after = await snapshot(b);
      assert.equal(after.size, before.size);
      for (const [k, v] of before) {
        const [data, ttl] = [v.slice(0, v.lastIndexOf("/")), v.slice(v.lastIndexOf("/") + 1)];
        const expectedTtl = ttl === "Infinity" ? ttl : String(Number(ttl) - 500);
        assert.equal(after.get(k), `${data}/${expectedTtl}`, `key ${JSON.stringify(k)}`);
      }
      await a.close();
      await b.close();
    });
  });
}

test("import skips records that expired since the export", async () => {
  await withTempDir(async (dir) => {
    const clock = new Clock();
    const a = await openStore("", { backend: "memory", now: clock.now });
    await a.set("keep", enc("k"));
    await a.set("gone", enc("g"), { ttl: 100 });
    const out = sink();
    await exportStore(a, out.stream, { now: clock.now });
    clock.advance(100);
    const { records } = await importStore(dir, source(out.bytes()), { now: clock.now });
    assert.equal(records, 2);
    const b = await openStore(dir, { now: clock.now });
    assert.deepEqual(await b.scanKeys(""), ["keep"]);
    await b.close();
    await a.close();
  });
});

/** A valid export of a small store, as lines. */
async function exportLines(): Promise<string[]> {
  const a = await openStore("", { backend: "memory", shards: 4 });
  await a.batchSet(Array.from({ length: 10 }, (_, i) => [`k${i}`, enc(`v${i}`)] as const));
  const out = sink();
  await exportStore(a, out.stream);
  await a.close();
  return dec(out.bytes())!.split("\n");
}

const join_ = (lines: string[]): Uint8Array => enc(lines.join("\n"));

const CORRUPTIONS: [string, (lines: string[]) => Uint8Array, number][] = [
  [
    "a flipped value byte in record 4",
    (l) => join_(l.with(4, l[4].replace(/"v":"(.)/, (_m, c) => `"v":"${c === "A" ? "B" : "A"}`))),
    4,
  ],
  ["a changed key in record 7", (l) => join_(l.with(7, l[7].replace('"k":"k6"', '"k":"k9"'))), 7],
  ["record 3 missing", (l) => join_(l.toSpliced(3, 1)), 3],
  ["records 2 and 5 swapped", (l) => join_(l.with(2, l[5]).with(5, l[2])), 2],
  ["no trailer (truncated)", (l) => join_(l.slice(0, 11).concat([""])), 11],
  ["cut in the middle of record 6", (l) => enc(l.slice(0, 7).join("\n").slice(0, -10)), 6],
  [
    "a wrong stream checksum",
    (l) =>
      join_(
        l.with(11, l[11].replace(/"stream":"(.)/, (_m, c) => `"stream":"${c === "0" ? "1" : "0"}`)),
      ),
    11,
  ],
  ["a foreign header", (l) => join_(l.with(0, '{"hello":1}')), 0],
  ["invalid UTF-8 in record 1", (l) => {
    const b = join_(l);
    b[l[0].length + 10] = 0xff;
    return b;
  }, 1],
  ["data after the trailer", (l) => join_(l.toSpliced(12, 0, l[1])), 12],
];

for (const [what, corrupt, record] of CORRUPTIONS) {
  test(`import refuses ${what} with its position and leaves the targets unchanged`, async () => {
    const lines = await exportLines();
    const bytes = corrupt(lines);
    await withTempDir(async (dir) => {
      // A new store at a path: nothing is created.
      const fresh = join(dir, "fresh");
      await assert.rejects(importStore(fresh, source(bytes, 37)), (e: unknown) => {
        assert.ok(e instanceof CorruptBackupError, String(e));
        assert.equal(e.record, record, e.message);
        assert.match(e.message, new RegExp(`record ${record}\\b`));
        return true;
      });
      assert.deepEqual(await readdir(fresh).catch(() => []), []);
      // An existing store at a path, and an open Store: their contents stay as they were.
      const existing = join(dir, "existing");
      const s = await openStore(existing, { shards: 2 });
      await s.set("k1", enc("mine"));
      await s.set("other", enc("o"));
      const before = await snapshot(s);
      await s.close();
      await assert.rejects(importStore(existing, source(bytes)), CorruptBackupError);
      const again = await openStore(existing);
      assert.deepEqual(await snapshot(again), before);
      await assert.rejects(importStore(again, source(bytes)), CorruptBackupError);
      assert.deepEqual(await snapshot(again), before);
      await again.close();
      assert.deepEqual((await readdir(existing)).filter((n) => n.startsWith(".")), []);
    });
  });
}

test("import into an existing store adds and overwrites keys, keeping the others", async () => {
  await withTempDir(async (dir) => {
    const s = await openStore(dir, { shards: 2 });
    await s.set("k1", enc("mine"));
    await s.set("other", enc("o"));
    await s.close();
    const lines = await exportLines();
    assert.deepEqual(await importStore(dir, source(enc(lines.join("\n")))), { records: 10 });
    const t = await openStore(dir);
    assert.equal(t.shards, 2);
    assert.equal(dec(await t.get("k1")), "v1");
    assert.equal(dec(await t.get("other")), "o");
    assert.equal((await t.scanKeys("k")).length, 10);
    await t.close();
  });
});

test("export and import reject bad arguments", async () => {
  const out = sink();
  await assert.rejects(exportStore("", out.stream), TypeError);
  await assert.rejects(exportStore(42 as unknown as string, out.stream), /received number 42/);
  await assert.rejects(
    exportStore("x", {} as WritableStream<Uint8Array>),
    /WritableStream, received Object/,
  );
  await assert.rejects(
    importStore("x", "data" as unknown as ReadableStream<Uint8Array>),
    /ReadableStream, received string/,
  );
  await assert.rejects(
    importStore("x", source(new Uint8Array(0)), { backend: "memory" }),
    TypeError,
  );
  await assert.rejects(
    importStore("x", source(new Uint8Array(0)), { onProgress: 1 as unknown as () => void }),
    TypeError,
  );
  await withTempDir(async (dir) => {
    await assert.rejects(exportStore(dir, sink().stream), /No shardkv store/);
    // An empty stream is not a backup.
    await assert.rejects(
      importStore(dir, source(new Uint8Array(0))),
      (e: unknown) => e instanceof CorruptBackupError && e.record === 0,
    );
  });
});

/** `driver` with its range and getEntries calls counted; `legacy` drops range's `expiresAt`. */
function counted(driver: Driver, legacy: boolean, calls: { range: number; getEntries: number }) {
  const d: Driver = {
    getEntries: (keys) => (calls.getEntries++, driver.getEntries(keys)),
    range: async (q) => {
      calls.range++;
      const r = await driver.range(q);
      if (legacy) delete r.expiresAt;
      return r;
    },
    apply: (ops, checks) => driver.apply(ops, checks),
    remove: (keys) => driver.remove(keys),
    add: (key, by) => driver.add(key, by),
    sweep: (max) => driver.sweep(max),
    close: () => driver.close(),
  };
  return d;
}

for (const legacy of [false, true]) {
  test(
    `export reads values and expiry times a page per call, none per key${
      legacy ? " (driver without range expiry: one getEntries per page)" : ""
    }`,
    async () => {
      await withTempDir(async (dir) => {
        const clock = new Clock();
        const calls = { range: 0, getEntries: 0 };
        const store = await openStore(join(dir, "s"), {
          backend: async () => counted(await openMemoryDriver({ now: clock.now }), legacy, calls),
          now: clock.now,
          shards: 1,
          cache: false,
        });
        const setAt = clock.now();
        await store.batchSet(
          Array.from(
            { length: 600 },
            (_, i): [string, Uint8Array] => [`k${1000 + i}`, enc(`${i}`)],
          ),
          { ttl: 60_000 },
        );
        await store.set("plain", enc("p"));
        calls.range = 0;
        calls.getEntries = 0;
        const out = sink();
        const { records } = await exportStore(store, out.stream, { now: clock.now });
        assert.equal(records, 601);
        const lines = dec(out.bytes())!.trimEnd().split("\n").slice(1, -1);
        const expiry = lines.map((l) => JSON.parse(l).e);
        assert.deepEqual(expiry, [...Array(600).fill(setAt + 60_000), null]);
        // 601 keys in pages of 256: three range calls, not one ttl read per key.
        assert.equal(calls.range, 3);
        assert.equal(calls.getEntries, legacy ? 3 : 0);
        await store.close();
      });
    },
  );
}
