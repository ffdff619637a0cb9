// deno-kv driver versions (the driver contract's Entry.version and WriteOp.version): every write
// stores max(proposed, previous + 1), including expired and chunked heads and counters; versions
// survive a reopen and a second handle; heads written before versions existed read as 0; a
// compare-and-set with a stale version fails and writes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Driver, type Entry, rangeOf } from "../core/driver.ts";
import { openDenoKvDriver } from "../backends/deno_kv.ts";
import { openStore, type Store } from "../mod.ts";
import { openKv } from "../backends/_deno_kv_api.ts";
import { CHUNK_SIZE, headKeyOf } from "../backends/_deno_kv_layout.ts";
import { Clock, dec, enc, prng, tempDir } from "./_helpers.ts";

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
    const range = await d.range(
      rangeOf("", { after: undefined, reverse: false, limit: Infinity }, false),
    );
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
      await b.range(rangeOf("", { after: undefined, reverse: false, limit: Infinity }, false));
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

withPath(
  "writes over remembered heads: another handle's writes and deletes are never missed",
  async (path) => {
    const a = await openDenoKvDriver(path);
    const b = await openDenoKvDriver(path);
    try {
      const many = Array.from({ length: 15 }, (_, i) => `m${i}`);
      for (let round = 1; round <= 4; round++) {
        // Alternating writers: each write of a key gives it exactly the next version.
        const [w, other] = round % 2 ? [a, b] : [b, a];
        await w.apply([{ key: "k", value: enc(`${round}`) }]);
        await w.apply(many.map((key) => ({ key, value: enc(`${round}`) })));
        assert.deepEqual(await entryOf(other, "k"), {
          value: enc(`${round}`),
          expiresAt: null,
          version: round,
        });
        const all = await other.getEntries(many);
        assert.deepEqual(many.map((k) => all.get(k)?.version), many.map(() => round));
      }
      // a remembers "x" as missing; b creates it: a's delete still finds it.
      assert.equal(await a.remove(["x"]), 0);
      await b.apply([{ key: "x", value: enc("b") }]);
      assert.equal(await a.remove(["x"]), 1);
      assert.equal(await entryOf(b, "x"), undefined);
      // a remembers "k" (version 4); b deletes it: a's write starts over at 1.
      await a.apply([{ key: "k", value: enc("5") }]);
      assert.equal(await b.remove(["k"]), 1);
      await a.apply([{ key: "k", value: enc("6") }]);
      assert.equal(await versionOf(b, "k"), 1);
      // The same for a batch past Deno KV's 10 checks, with a delete by the other handle.
      assert.equal(await b.remove([many[3]]), 1);
      assert.equal(await a.remove(many), 14);
      assert.equal((await b.getEntries(many)).size, 0);
    } finally {
      await a.close();
      await b.close();
    }
  },
);

withPath(
  "two handles, random writes: every write gives exactly the next version (model check)",
  async (path) => {
    const handles = [await openDenoKvDriver(path), await openDenoKvDriver(path)];
    const random = prng(14);
    const pick = (n: number) => Math.floor(random() * n);
    const model = new Map<string, { value: string; version: number }>();
    const keyOf = (i: number) => `r${i}`;
    try {
      for (let step = 0; step < 300; step++) {
        const d = handles[pick(2)];
        const kind = pick(4);
        const count = kind === 1 ? 11 + pick(10) : 1 + pick(3);
        const keys = [...new Set(Array.from({ length: count }, () => keyOf(pick(30))))];
        if (kind === 2) {
          const live = keys.filter((k) => model.has(k)).length;
          assert.equal(await d.remove(keys), live, `step ${step}: remove`);
          for (const k of keys) model.delete(k);
        } else if (kind === 3) {
          const key = keys[0];
          const before = model.get(key);
          if (before !== undefined && before.value.length !== 8) continue;
          const n = await d.add(key, 1);
          const value = String.fromCharCode(
            ...new Uint8Array(8).fill(0).map((_, i) => i === 7 ? n : 0),
          );
          model.set(key, { value, version: (before?.version ?? 0) + 1 });
        } else {
          const value = `s${step}`;
          await d.apply(keys.map((key) => ({ key, value: enc(value) })));
          for (const k of keys) model.set(k, { value, version: (model.get(k)?.version ?? 0) + 1 });
        }
        if (step % 25 === 24 || step === 299) {
          const all = Array.from({ length: 30 }, (_, i) => keyOf(i));
          for (const h of handles) {
            const found = await h.getEntries(all);
            assert.equal(found.size, model.size, `step ${step}: live keys`);
            for (const [k, m] of model) {
              const e = found.get(k)!;
              assert.equal(e.version, m.version, `step ${step}: version of ${k}`);
              assert.equal(String.fromCharCode(...e.value), m.value, `step ${step}: value of ${k}`);
            }
          }
        }
      }
    } finally {
      for (const h of handles) await h.close();
    }
  },
);

test("deno-kv store: atomic() read-check-write loops of two store instances lose no update", async () => {
  const { dir, dispose } = await tempDir("denokv-atomic");
  const stores = [
    await openStore(dir, { shards: 4, backend: "deno-kv" }),
    await openStore(dir, { shards: 4, backend: "deno-kv" }),
  ];
  try {
    const keys = Array.from({ length: 12 }, (_, i) => `acct:${i}`);
    // Each round moves 1 from one key to the next, reading both and checking their versions.
    const rounds = async (s: Store, offset: number) => {
      let conflicts = 0;
      for (let i = 0; i < 40; i++) {
        const from = keys[(i + offset) % keys.length];
        const to = keys[(i + offset + 5) % keys.length];
        for (;;) {
          const [a, b] = [await s.getEntry(from), await s.getEntry(to)];
          const n = (e: typeof a) => e.value === null ? 0 : Number(dec(e.value));
          const res = await s.atomic().check(a, b)
            .set(from, enc(String(n(a) - 1)))
            .set(to, enc(String(n(b) + 1)))
            .commit();
          if (res.ok) break;
          conflicts++;
        }
      }
      return conflicts;
    };
    await Promise.all([rounds(stores[0], 0), rounds(stores[1], 3), rounds(stores[0], 7)]);
    const found = await stores[1].batchGet(keys);
    const total = [...found.values()].reduce((sum, v) => sum + Number(dec(v)), 0);
    assert.equal(total, 0, "every transfer was applied whole, none lost");
    const expected = new Map(keys.map((k) => [k, 0]));
    for (const offset of [0, 3, 7]) {
      for (let i = 0; i < 40; i++) {
        const from = keys[(i + offset) % keys.length];
        const to = keys[(i + offset + 5) % keys.length];
        expected.set(from, expected.get(from)! - 1);
        expected.set(to, expected.get(to)! + 1);
      }
    }
    assert.deepEqual(
      keys.map((k) => Number(dec(found.get(k)) ?? 0)),
      keys.map((k) => expected.get(k)),
    );
    // Versionstamps grow with each write of a key.
    const before = await stores[0].getEntry(keys[0]);
    await stores[1].set(keys[0], enc("0"));
    const after = await stores[0].getEntry(keys[0]);
    assert.ok(
      after.versionstamp! > before.versionstamp!,
      `${after.versionstamp} > ${before.versionstamp}`,
    );
  } finally {
    for (const s of stores) await s.close();
    await dispose();
  }
});
