// Atomic commits hold across processes: checked read-modify-write commits of two keys on
// different shards, written the way a Deno KV user writes them, lose no update and give
// versionstamps that follow the commit order; check-free sum() commits add up; and readers in
// one process never see half of a cross-shard commit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeCounter, openStore, type Store } from "../mod.ts";
import { withTempDir } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";
import {
  childArgs,
  keysOnShards,
  open,
  runChildren,
  type Shared,
  withLocation,
} from "./_atomic_env.ts";

const PROCESSES = 4;
const COUNT = 40;
const SHARDS = 4;

const BACKENDS: Shared[] = ["sqlite", "deno-kv", "redis"];

/**
 * Backends whose cross-shard commits hold against other processes: every shared backend's
 * driver now locks each shard of a commit (begin()) before writing any.
 */
const LOCKING: Shared[] = ["sqlite", "deno-kv", "redis"];

for (const backend of LOCKING) {
  test(
    `${backend}: ${PROCESSES} processes x ${COUNT} checked commits of two keys on two shards lose none`,
    SLOW,
    async () => {
      await withLocation(backend, async (where) => {
        const parent = await open(backend, where, { shards: SHARDS });
        try {
          const [a, b] = keysOnShards("inc", 2, SHARDS);
          const runs = await runChildren(
            Array.from(
              { length: PROCESSES },
              () => childArgs("incr2", backend, where, [String(COUNT), a, b]),
            ),
          );
          const lines = runs.flat();
          assert.deepEqual(
            lines.filter((l) => l.startsWith("E ")).slice(0, 5),
            [],
            "a child saw a wrong entry",
          );
          const total = PROCESSES * COUNT;
          const [ea, eb] = [await parent.getEntry(a), await parent.getEntry(b)];
          assert.equal(decodeCounter(ea.value!), total, `lost updates of ${a}`);
          assert.equal(decodeCounter(eb.value!), total, `lost updates of ${b}`);
          // Each value 1..total was written by exactly one commit, which wrote both keys alike,
          // and the versionstamps grow with the values: the commit order.
          const commits = lines.filter((l) => l.startsWith("V ")).map((l) => l.split(" "));
          assert.equal(commits.length, total);
          const byValue = new Map<number, string>();
          for (const [, stamp, x, y] of commits) {
            assert.equal(x, y, "one commit wrote different counts to the two keys");
            assert.ok(!byValue.has(Number(x)), `two commits both wrote ${x}`);
            byValue.set(Number(x), stamp);
          }
          for (let n = 2; n <= total; n++) {
            assert.ok(
              byValue.get(n)! > byValue.get(n - 1)!,
              `commit ${n} has versionstamp ${byValue.get(n)}, not above ${byValue.get(n - 1)}`,
            );
          }
          assert.equal(ea.versionstamp, byValue.get(total));
          assert.equal(eb.versionstamp, byValue.get(total));
        } finally {
          await parent.close();
        }
      });
    },
  );
}

for (const backend of BACKENDS) {
  test(`${backend}: ${PROCESSES} processes x ${COUNT * 2} sum commits add up`, SLOW, async () => {
    await withLocation(backend, async (where) => {
      const parent = await open(backend, where, { shards: SHARDS });
      try {
        const lines = (await runChildren(
          Array.from(
            { length: PROCESSES },
            () => childArgs("sum", backend, where, [String(COUNT * 2), "hits"]),
          ),
        )).flat();
        assert.deepEqual(lines.filter((l) => l.startsWith("E ")), []);
        assert.equal(decodeCounter((await parent.get("hits"))!), PROCESSES * COUNT * 2);
      } finally {
        await parent.close();
      }
    });
  });
}

/** Transfers between two keys on different shards while batchGet readers check the sum. */
async function transfersAndReaders(store: Store): Promise<void> {
  const pairs = [keysOnShards("acct", 2, store.shards), keysOnShards("bank", 2, store.shards)];
  const WRITERS = 3;
  const TRANSFERS = 150;
  let writing = WRITERS;
  let reads = 0;
  const seen = new Set<number>();
  const writer = async (w: number) => {
    try {
      for (let n = 0; n < TRANSFERS; n++) {
        const [a, b] = pairs[(w + n) % pairs.length];
        const res = await store.atomic().sum(a, -1).sum(b, 1).commit();
        assert.ok(res.ok);
        // Readers and writers take turns on the timer queue, their steps interleaving.
        await new Promise((r) => setTimeout(r, 0));
      }
    } finally {
      writing--;
    }
  };
  const reader = async (r: number) => {
    for (let i = 0; writing > 0; i++) {
      for (const [a, b] of pairs) {
        const got = await store.batchGet([a, b]);
        const x = got.has(a) ? decodeCounter(got.get(a)!) : 0;
        const y = got.has(b) ? decodeCounter(got.get(b)!) : 0;
        assert.equal(x + y, 0, `a reader saw half a commit: ${a}=${x}, ${b}=${y}`);
        seen.add(y);
        reads++;
      }
      // Mostly on the microtask queue, so reads also land between two steps of one commit.
      if ((i + r) % 4 === 0) await new Promise((r) => setTimeout(r, 0));
    }
  };
  await Promise.all([
    ...Array.from({ length: WRITERS }, (_, w) => writer(w)),
    reader(0),
    reader(1),
    reader(2),
    reader(3),
  ]);
  const final = await store.batchGet(pairs.flat());
  const sum = [...final.values()].reduce((s, v) => s + decodeCounter(v), 0);
  assert.equal(sum, 0);
  assert.equal(
    decodeCounter(final.get(pairs[0][1])!) + decodeCounter(final.get(pairs[1][1])!),
    WRITERS * TRANSFERS,
  );
  // The readers ran while commits were in flight, not only before or after them.
  assert.ok(seen.size > 10, `the readers saw only ${seen.size} states in ${reads} reads`);
}

test("memory, 16 shards: readers never see half of a cross-shard commit", async () => {
  const store = await openStore("", { backend: "memory", shards: 16 });
  try {
    await transfersAndReaders(store);
  } finally {
    await store.close();
  }
});

test("sqlite, 16 shards: readers never see half of a cross-shard commit", SLOW, async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(`${dir}/store`, { backend: "sqlite", shards: 16 });
    try {
      await transfersAndReaders(store);
    } finally {
      await store.close();
    }
  });
});
