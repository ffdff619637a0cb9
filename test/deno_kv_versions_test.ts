// deno-kv driver versions (the driver contract's Entry.version and WriteOp.version): every write
// stores max(proposed, previous + 1), including expired and chunked heads and counters; versions
// survive a reopen and a second handle; heads written before versions existed read as 0; a
// compare-and-set with a stale version fails and writes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Driver, Entry } from "../core/driver.ts";
import { openDenoKvDriver } from "../backends/deno_kv.ts";
import { openKv } from "../backends/_deno_kv_api.ts";
import { CHUNK_SIZE, headKeyOf } from "../backends/_deno_kv_layout.ts";
import { Clock, dec, enc, tempDir } from "./_helpers.ts";

/** Runs `body` with a fresh database path; removes it afterwards. */
function withPath(title: string, body: (path: string) => Promise<void>): void {
  test(`deno-kv versions: ${title}`, async () => {
    const { dir, dispose } = await tempDir("denokv-versions");
    try {
      await body(`${dir}/shard.kv`);
    } finally {
      await dispose();
    }
  });
}

async function entryOf(d: Driver, key: string): Promise<Entry | undefined> {
  const [viaMany, viaOne] = [(await d.getEntries([key])).get(key), await d.getEntry!(key)];
  assert.deepEqual(viaOne, viaMany, "getEntry and getEntries agree");
  return viaOne;
}

const versionOf = async (d: Driver, key: string): Promise<number | undefined> =>
  (await entryOf(d, key))?.version;

withPath("set, overwrite, batch and add grow the version by one", async (path) => {
  const d = await openDenoKvDriver(path);
  try {
    await d.apply([{ key: "a", value: enc("1") }]);
    assert.equal(await versionOf(d, "a"), 1);
    await d.apply([{ key: "a", value: enc("2") }]);
    assert.equal(await versionOf(d, "a"), 2);
    // One commit writing a key twice: one new version.
    await d.apply([{ key: "a", value: enc("3") }, { key: "a", value: enc("4") }, {
      key: "b",
      value: enc("x"),
    }]);
    assert.deepEqual(await entryOf(d, "a"), { value: enc("4"), expiresAt: null, version: 3 });
    assert.equal(await versionOf(d, "b"), 1);
    assert.equal(await d.add("a-counter", 5), 5);
    assert.equal(await versionOf(d, "a-counter"), 1);
    assert.equal(await d.add("a-counter", 1), 6);
    assert.equal(await versionOf(d, "a-counter"), 2);
    // A batch over getMany's 10 keys and Deno KV's 10 checks.
    const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
    await d.apply(keys.map((key) => ({ key, value: enc(key) })));
    await d.apply(keys.map((key) => ({ key, value: enc(`${key}!`) })));
    const all = await d.getEntries(keys);
    assert.deepEqual(keys.map((k) => all.get(k)?.version), keys.map(() => 2));
  } finally {
    await d.close();
  }
});

withPath("a proposed version is kept when higher, previous + 1 when not", async (path) => {
  const d = await openDenoKvDriver(path);
  try {
    await d.apply([{ key: "k", value: enc("a"), version: 1000 }]);
    assert.equal(await versionOf(d, "k"), 1000);
    await d.apply([{ key: "k", value: enc("b"), version: 7 }]);
    assert.equal(await versionOf(d, "k"), 1001, "a lower proposal gives previous + 1");
    await d.apply([{ key: "k", value: enc("c"), version: 1001 }]);
    assert.equal(await versionOf(d, "k"), 1002, "an equal proposal gives previous + 1");
    assert.equal(await d.add("k-n", 1, 50), 1);
    assert.equal(await versionOf(d, "k-n"), 50);
    assert.equal(await d.add("k-n", 1, 3), 2);
    assert.equal(await versionOf(d, "k-n"), 51);
    // Checked writes follow the same rule.
    const current = await entryOf(d, "k");
    assert.equal(
      await d.apply([{ key: "k", value: enc("d"), version: 5 }], new Map([["k", current!]])),
      true,
    );
    assert.equal(await versionOf(d, "k"), 1003);
  } finally {
    await d.close();
  }
});

withPath("an expired head and a chunked value still count as previous", async (path) => {
  const clock = new Clock();
  const d = await openDenoKvDriver(path, { now: clock.now });
  try {
    await d.apply([{ key: "t", value: enc("x"), expiresAt: clock.now() + 10, version: 40 }]);
    clock.advance(10);
    assert.equal(await entryOf(d, "t"), undefined, "expired");
    await d.apply([{ key: "t", value: enc("y") }]);
    assert.equal(await versionOf(d, "t"), 41);
    const big = new Uint8Array(3 * CHUNK_SIZE + 1).fill(7);
    await d.apply([{ key: "big", value: big, version: 9 }]);
    await d.apply([{ key: "big", value: big.subarray(1) }]);
    const e = await entryOf(d, "big");
    assert.equal(e?.version, 10);
    assert.deepEqual(e?.value, big.subarray(1));
  } finally {
    await d.close();
  }
});

withPath("a deleted key starts again from the proposed version or 1", async (path) => {
  const d = await openDenoKvDriver(path);
  try {
    await d.apply([{ key: "k", value: enc("a"), version: 30 }]);
    assert.equal(await d.remove(["k"]), 1);
    await d.apply([{ key: "k", value: enc("b") }]);
    assert.equal(await versionOf(d, "k"), 1);
  } finally {
    await d.close();
  }
});

withPath("versions survive a reopen and are seen by a second handle", async (path) => {
  const a = await openDenoKvDriver(path);
  await a.apply([{ key: "k", value: enc("a"), version: 12 }]);
  const b = await openDenoKvDriver(path);
  try {
    assert.equal(await versionOf(b, "k"), 12);
    await b.apply([{ key: "k", value: enc("b") }]);
    assert.equal(await versionOf(a, "k"), 13);
    await a.apply([{ key: "k", value: enc("c") }]);
    assert.equal(await a.add("n", 1), 1);
    assert.equal(await b.add("n", 1), 2);
  } finally {
    await a.close();
    await b.close();
  }
  const again = await openDenoKvDriver(path);
  try {
    assert.deepEqual(await entryOf(again, "k"), { value: enc("c"), expiresAt: null, version: 14 });
    assert.equal(await versionOf(again, "n"), 2);
  } finally {
    await again.close();
  }
});

withPath("heads written before versions existed read as version 0", async (path) => {
  // The old head layout: flags (0: inline, 2: with expiry), [expiresAt f64], then the value.
  const kv = await openKv(path);
  const expiring = new Uint8Array(1 + 8 + 3);
  expiring[0] = 2;
  new DataView(expiring.buffer).setFloat64(1, Date.now() + 3_600_000);
  expiring.set(enc("old"), 9);
  await kv.atomic()
    .set(headKeyOf("plain").kvKey, Uint8Array.of(0, ...enc("legacy")))
    .set(headKeyOf("ttl").kvKey, expiring)
    .commit();
  kv.close();
  const d = await openDenoKvDriver(path);
  try {
    const plain = await entryOf(d, "plain");
    assert.equal(dec(plain?.value), "legacy");
    assert.equal(plain?.version, 0);
    const ttl = await entryOf(d, "ttl");
    assert.equal(dec(ttl?.value), "old");
    assert.equal(ttl?.version, 0);
    // A check without a version (an old entry, or a driver that keeps none) still matches.
    assert.equal(
      await d.apply([{ key: "plain", value: enc("new") }], new Map([["plain", plain!]])),
      true,
    );
    assert.equal(await versionOf(d, "plain"), 1);
    const range = await d.range({
      prefix: "",
      after: undefined,
      lo: undefined,
      loExclusive: false,
      hi: undefined,
      reverse: false,
      limit: Infinity,
      keysOnly: false,
    });
    assert.deepEqual(range.keys, ["plain", "ttl"]);
    assert.deepEqual(range.values.map(dec), ["new", "old"]);
  } finally {
    await d.close();
  }
});

withPath("a check with a stale version fails and writes nothing", async (path) => {
  const a = await openDenoKvDriver(path);
  const b = await openDenoKvDriver(path);
  try {
    await a.apply([{ key: "k", value: enc("same") }]);
    const seen = await entryOf(a, "k");
    // Another handle rewrites the same value: only the version tells the write apart.
    await b.apply([{ key: "k", value: enc("same") }]);
    const checks = new Map([["k", seen!]]);
    assert.equal(
      await a.apply([{ key: "k", value: enc("mine") }, { key: "o", value: enc("o") }], checks),
      false,
    );
    assert.deepEqual(await entryOf(a, "k"), { value: enc("same"), expiresAt: null, version: 2 });
    assert.equal(await entryOf(a, "o"), undefined, "nothing of the failed commit was written");
    // The fresh entry passes.
    const fresh = await entryOf(a, "k");
    assert.equal(await a.apply([{ key: "k", value: enc("mine") }], new Map([["k", fresh!]])), true);
    assert.equal(await versionOf(b, "k"), 3);
    // A check that the key is missing fails once it exists, and a stale check of a deleted key.
    assert.equal(await a.apply([{ key: "k", value: enc("x") }], new Map([["k", null]])), false);
    await b.remove(["k"]);
    assert.equal(await a.apply([{ key: "k", value: enc("x") }], new Map([["k", fresh!]])), false);
    assert.equal(await entryOf(a, "k"), undefined);
  } finally {
    await a.close();
    await b.close();
  }
});

withPath(
  "changes() moves with each commit of any handle, not on reads or failed checks",
  async (path) => {
    const a = await openDenoKvDriver(path);
    const b = await openDenoKvDriver(path);
    try {
      const start = await a.changes!();
      assert.equal(await b.changes!(), start);
      await a.apply([{ key: "k", value: enc("1") }]);
      const afterSet = await a.changes!();
      assert.notEqual(afterSet, start);
      assert.equal(await b.changes!(), afterSet, "the other handle sees the same mark");
      await b.getEntries(["k"]);
      await b.range({
        prefix: "",
        after: undefined,
        lo: undefined,
        loExclusive: false,
        hi: undefined,
        reverse: false,
        limit: Infinity,
        keysOnly: false,
      });
      assert.equal(await a.changes!(), afterSet, "reads move nothing");
      assert.equal(await b.apply([{ key: "k", value: enc("2") }], new Map([["k", null]])), false);
      assert.equal(await a.changes!(), afterSet, "a failed check moves nothing");
      const marks = new Set([start, afterSet]);
      await b.apply([{ key: "k", value: enc("2") }]);
      marks.add(await a.changes!());
      await b.add("n", 1);
      marks.add(await a.changes!());
      await a.remove(["k"]);
      marks.add(await b.changes!());
      // A batch over one atomic() (the redo-log path).
      await a.apply(Array.from({ length: 1200 }, (_, i) => ({ key: `b${i}`, value: enc("x") })));
      marks.add(await b.changes!());
      assert.equal(marks.size, 6, "every commit gave a new mark");
    } finally {
      await a.close();
      await b.close();
    }
    const again = await openDenoKvDriver(path);
    try {
      assert.ok((await again.changes!()) > 0);
    } finally {
      await again.close();
    }
  },
);
