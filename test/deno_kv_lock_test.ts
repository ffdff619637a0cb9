// deno-kv begin(): the shard's lock record holds every other handle's writes back until the
// holder commits or releases; the holder reads its keys with versions under the lock; a lock
// whose holder vanished (a crash) stops holding once its lease runs out, and that holder can
// then no longer commit; nor does a lock whose process died, whatever its lease. A live holder
// renews its lease.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Driver } from "../core/driver.ts";
import { TransactionConflictError } from "../core/errors.ts";
import { openDenoKvDriver } from "../backends/deno_kv.ts";
import { openKv } from "../backends/_deno_kv_api.ts";
import { createDenoKvBackend } from "../backends/_deno_kv_backend.ts";
import { dec, enc, tempDir } from "./_helpers.ts";
import { CURRENT, SLOW, startOn } from "./_runtimes.ts";

/** Runs `body` with two handles (separate Deno KV connections) on one fresh database. */
function withTwo(
  title: string,
  body: (a: Driver, b: Driver, path: string) => Promise<void>,
  leaseMs?: number,
): void {
  test(`deno-kv lock: ${title}`, async () => {
    const { dir, dispose } = await tempDir("denokv-lock");
    const path = `${dir}/shard.kv`;
    const a = await createDenoKvBackend(await openKv(path), {
      now: Date.now,
      lockLeaseMs: leaseMs,
    });
    const b = await openDenoKvDriver(path);
    try {
      await body(a, b, path);
    } finally {
      await b.close();
      await a.close();
      await dispose();
    }
  });
}

/** A promise and whether it has settled yet. */
function tracked<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let settled = false;
  const q = p.finally(() => settled = true);
  return { p: q, settled: () => settled };
}

/** Lets other tasks (and the other handle's retries) run for a while. */
const idle = (ms: number) => new Promise((r) => setTimeout(r, ms));

withTwo("another handle's set waits for commit, then lands on top of it", async (a, b) => {
  await b.apply([{ key: "k", value: enc("v1") }]);
  const txn = await a.begin!(["k", "absent"]);
  assert.deepEqual([...txn.entries], [["k", { value: enc("v1"), expiresAt: null, version: 1 }]]);
  const set = tracked(b.apply([{ key: "k", value: enc("other") }]));
  const incr = tracked(b.add("n", 1));
  await idle(300);
  assert.equal(set.settled(), false, "a set went past the lock");
  assert.equal(incr.settled(), false, "an add went past the lock");
  // Reads are not held back.
  assert.equal(dec((await b.getEntries(["k"])).get("k")!.value), "v1");
  await txn.commit([{ key: "k", value: enc("mine"), version: 7 }, { key: "absent" }]);
  await set.p;
  assert.equal(await incr.p, 1);
  // The waiting set came after the commit: it replaced the committed value and version.
  const e = (await a.getEntries(["k"])).get("k")!;
  assert.equal(dec(e.value), "other");
  assert.equal(e.version, 8);
});

withTwo("release lets the waiting write through and writes nothing", async (a, b) => {
  const txn = await a.begin!(["k"]);
  assert.equal(txn.entries.size, 0);
  const set = tracked(b.apply([{ key: "k", value: enc("other") }]));
  await idle(200);
  assert.equal(set.settled(), false);
  await txn.release();
  await set.p;
  assert.deepEqual((await a.getEntries(["k"])).get("k"), {
    value: enc("other"),
    expiresAt: null,
    version: 1,
  });
  // A second begin, by the other handle, waits for nothing now.
  const again = await b.begin!(["k"]);
  assert.equal(dec(again.entries.get("k")!.value), "other");
  await again.commit([]);
  await b.apply([{ key: "k", value: enc("after") }]);
  assert.equal(dec((await a.getEntries(["k"])).get("k")!.value), "after");
});

withTwo("begin waits for another handle's begin", async (a, b) => {
  const first = await a.begin!(["k"]);
  const second = tracked(b.begin!(["k"]));
  await idle(200);
  assert.equal(second.settled(), false, "two handles held the lock at once");
  await first.commit([{ key: "k", value: enc("1") }]);
  const txn = await second.p;
  assert.equal(dec(txn.entries.get("k")!.value), "1");
  await txn.commit([{ key: "k", value: enc("2") }]);
  assert.deepEqual((await a.getEntries(["k"])).get("k"), {
    value: enc("2"),
    expiresAt: null,
    version: 2,
  });
});

withTwo(
  "a live holder renews its lease and keeps the lock past it",
  async (a, b) => {
    const txn = await a.begin!(["k"]);
    const set = tracked(b.apply([{ key: "k", value: enc("other") }]));
    // Four leases later the other handle still waits: the lease was renewed.
    await idle(600);
    const overtaken = set.settled();
    // Committed either way, so that the transaction ends.
    const committed = await txn.commit([{ key: "k", value: enc("mine") }]).then(() => true);
    assert.equal(overtaken, false, "a set went past a renewed lock");
    assert.equal(committed, true);
    await set.p;
    assert.equal(dec((await b.getEntries(["k"])).get("k")!.value), "other");
  },
  150,
);

withTwo(
  "a lock its holder abandoned stops holding once its renewals end and its lease ran out",
  async (a, b) => {
    // `a` begins and never finishes, like a holder stuck in a live process: it renews its
    // lease for a few leases only (a holder that stopped or died renews none).
    const stale = await a.begin!(["k"]);
    await b.apply([{ key: "k", value: enc("other") }]);
    assert.equal(dec((await b.getEntries(["k"])).get("k")!.value), "other");
    // Its holder can no longer commit: nothing it would write lands.
    await assert.rejects(
      stale.commit([{ key: "k", value: enc("late") }]),
      TransactionConflictError,
    );
    assert.equal(dec((await b.getEntries(["k"])).get("k")!.value), "other");
    // ... and the handle writes normally again.
    await a.apply([{ key: "k", value: enc("fine") }]);
    assert.equal(dec((await b.getEntries(["k"])).get("k")!.value), "fine");
  },
  300,
);

test("deno-kv lock: another process's lock holds until that process dies", SLOW, async () => {
  const { dir, dispose } = await tempDir("denokv-lock");
  const path = `${dir}/shard.kv`;
  const d = await openDenoKvDriver(path);
  const holder = startOn(CURRENT, "test/_deno_kv_lock_child.ts", [path], "stdout");
  try {
    await holder.waitFor(/LOCKED/);
    const set = tracked(d.apply([{ key: "k", value: enc("after") }]));
    await idle(300);
    assert.equal(set.settled(), false, "a set went past another process's lock");
    // Killed while holding a lock with a 10-minute lease: its pid is gone, so the lock is.
    holder.child.kill("SIGKILL");
    await holder.exited;
    await set.p;
    assert.equal(dec((await d.getEntries(["k"])).get("k")!.value), "after");
  } finally {
    holder.child.kill("SIGKILL");
    await d.close();
    await dispose();
  }
});
