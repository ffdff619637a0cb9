// The group-commit queue of the SQLite backend, over a fake engine that logs its transactions
// and keeps staged writes apart from committed ones, so rollbacks are visible.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CommitQueue, type Transactor } from "../backends/_commit_queue.ts";

/** A toy engine: `data` is committed state, `staged` the open transaction's writes. */
class FakeEngine implements Transactor {
  data = new Map<string, string>();
  staged: Map<string, string> | undefined;
  log: string[] = [];
  failCommits = 0;

  begin(): void {
    assert.equal(this.staged, undefined, "nested begin");
    this.staged = new Map(this.data);
    this.log.push("begin");
  }
  commit(): void {
    if (this.failCommits > 0) {
      this.failCommits--;
      throw new Error("disk full");
    }
    this.data = this.staged!;
    this.staged = undefined;
    this.log.push("commit");
  }
  rollback(): void {
    this.staged = undefined;
    this.log.push("rollback");
  }
  put(key: string, value: string): void {
    this.staged!.set(key, value);
  }
  read(key: string): string | undefined {
    return (this.staged ?? this.data).get(key);
  }
  transactions(): number {
    return this.log.filter((l) => l === "commit").length;
  }
}

test("commit queue: writes of one turn share one transaction", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  const done = Array.from({ length: 100 }, (_, i) => q.write(() => engine.put(`k${i}`, `v${i}`)));
  assert.equal(engine.transactions(), 0, "nothing commits before the turn ends");
  await Promise.all(done);
  assert.equal(engine.transactions(), 1);
  assert.equal(engine.data.size, 100);
});

test("commit queue: writes of later turns get transactions of their own", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  await q.write(() => engine.put("a", "1"));
  await q.write(() => engine.put("b", "2"));
  await Promise.all([q.write(() => engine.put("c", "3")), q.write(() => engine.put("d", "4"))]);
  assert.equal(engine.transactions(), 3);
});

test("commit queue: a caller resolves only after its commit, with its job's result", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  const result = await q.write(() => {
    engine.put("a", "1");
    return 42;
  });
  assert.equal(result, 42);
  assert.equal(engine.data.get("a"), "1");
  assert.deepEqual(engine.log, ["begin", "commit"]);
});

test("commit queue: jobs run in the order they were issued, reads included", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  const seen: string[] = [];
  const calls = [
    q.write(() => engine.put("k", "1")),
    q.read(() => seen.push(`read ${engine.read("k")}`)),
    q.write(() => engine.put("k", "2")),
    q.read(() => seen.push(`read ${engine.read("k")}`)),
  ];
  await Promise.all(calls);
  assert.deepEqual(seen, ["read 1", "read 2"]);
  assert.equal(engine.data.get("k"), "2");
});

test("commit queue: a read with nothing queued runs at once, outside any transaction", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  engine.data.set("k", "v");
  let ran = false;
  const p = q.read(() => {
    ran = true;
    return engine.read("k");
  });
  assert.equal(ran, true);
  assert.equal(await p, "v");
  assert.deepEqual(engine.log, []);
});

test("commit queue: a failing job rejects only its own caller; the others commit", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  const ok1 = q.write(() => engine.put("a", "1"));
  const bad = q.write(() => {
    engine.put("b", "partial");
    throw new Error("boom");
  });
  const ok2 = q.write(() => engine.put("c", "3"));
  await ok1;
  await assert.rejects(bad, /boom/);
  await ok2;
  assert.equal(engine.data.get("a"), "1");
  assert.equal(engine.data.get("b"), undefined, "the failed job's write is rolled back");
  assert.equal(engine.data.get("c"), "3");
});

test("commit queue: a failed commit is retried job by job", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  engine.failCommits = 1;
  const results = await Promise.allSettled([
    q.write(() => engine.put("a", "1")),
    q.write(() => engine.put("b", "2")),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled"]);
  assert.equal(engine.data.get("a"), "1");
  assert.equal(engine.data.get("b"), "2");
});

test("commit queue: a read that throws rejects its caller only", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  const w = q.write(() => engine.put("a", "1"));
  const r = q.read(() => {
    throw new RangeError("bad read");
  });
  await w;
  await assert.rejects(r, RangeError);
  await assert.rejects(
    q.read(() => {
      throw new TypeError("idle read");
    }),
    TypeError,
  );
});

test("commit queue: flush runs queued jobs at once (as close does)", async () => {
  const engine = new FakeEngine();
  const q = new CommitQueue(engine);
  const p = q.write(() => engine.put("a", "1"));
  q.flush();
  assert.equal(engine.data.get("a"), "1");
  await p;
  assert.equal(engine.transactions(), 1);
});

/** A FakeEngine whose write lock another process may hold. */
class LockedEngine extends FakeEngine {
  lockedElsewhere = true;
  tries = 0;
  lockWait: number | undefined;

  tryBegin(): boolean {
    this.tries++;
    if (this.lockedElsewhere) return false;
    this.begin();
    return true;
  }
  override begin(): void {
    if (this.lockedElsewhere) throw new Error("database is locked");
    super.begin();
  }
}

test("commit queue: a lock held elsewhere is polled; writes wait and then commit together", async () => {
  const engine = new LockedEngine();
  const q = new CommitQueue(engine);
  const seen: string[] = [];
  const first = q.write(() => engine.put("a", "1"));
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(engine.tries >= 2, `polled ${engine.tries} times`);
  assert.equal(engine.transactions(), 0);
  // Calls made while the lock is awaited keep their order, reads included.
  const later = [
    q.read(() => seen.push(`read ${engine.read("a")}`)),
    q.write(() => engine.put("a", "2")),
  ];
  assert.deepEqual(seen, [], "a read issued after a waiting write waits for it");
  engine.lockedElsewhere = false;
  await Promise.all([first, ...later]);
  assert.deepEqual(seen, ["read 1"]);
  assert.equal(engine.data.get("a"), "2");
  assert.equal(engine.transactions(), 1, "everything that waited commits as one transaction");
});

test("commit queue: after lockWait the engine's own begin decides, and its error reaches callers", async () => {
  const engine = new LockedEngine();
  engine.lockWait = 30;
  const q = new CommitQueue(engine);
  const p = q.write(() => engine.put("a", "1"));
  await assert.rejects(p, /database is locked/);
  assert.ok(engine.tries >= 2);
  assert.equal(engine.data.size, 0);
  // The queue works again once the lock is free.
  engine.lockedElsewhere = false;
  await q.write(() => engine.put("b", "2"));
  assert.equal(engine.data.get("b"), "2");
});

test("commit queue: flush with wait runs now even while the lock is polled", async () => {
  const engine = new LockedEngine();
  const q = new CommitQueue(engine);
  const p = q.write(() => engine.put("a", "1"));
  await new Promise((r) => setTimeout(r, 5));
  engine.lockedElsewhere = false;
  q.flush({ wait: true });
  assert.equal(engine.data.get("a"), "1");
  await p;
});

/** The fake engine with read transactions: the log shows which reads ran inside one. */
class ReadTxnEngine extends FakeEngine {
  reading = false;
  beginRead(): void {
    assert.equal(this.staged, undefined, "read transaction inside a write transaction");
    assert.equal(this.reading, false, "nested read transaction");
    this.reading = true;
    this.log.push("beginRead");
  }
  endRead(): void {
    this.reading = false;
    this.log.push("endRead");
  }
  readLogged(key: string): string | undefined {
    this.log.push(this.reading ? `read ${key} in txn` : `read ${key}`);
    return this.read(key);
  }
}

test("commit queue: reads of one turn share one read transaction; a lone read needs none", async () => {
  const engine = new ReadTxnEngine();
  engine.data.set("a", "1");
  const q = new CommitQueue(engine);
  const reads = ["a", "b", "a"].map((k) => q.read(() => engine.readLogged(k)));
  assert.deepEqual(engine.log, [], "reads wait for the end of the turn's synchronous work");
  assert.deepEqual(await Promise.all(reads), ["1", undefined, "1"]);
  assert.deepEqual(engine.log, [
    "beginRead",
    "read a in txn",
    "read b in txn",
    "read a in txn",
    "endRead",
  ]);
  engine.log.length = 0;
  assert.equal(await q.read(() => engine.readLogged("a")), "1");
  assert.deepEqual(engine.log, ["read a"]);
});

test("commit queue: batched reads keep issue order with writes, failures and close", async () => {
  const engine = new ReadTxnEngine();
  engine.data.set("k", "old");
  const q = new CommitQueue(engine);
  // Read, write, read in one turn: the first read sees the store before the write.
  const before = q.read(() => engine.readLogged("k"));
  const failing = q.read(() => {
    throw new Error("bad page");
  });
  const write = q.write(() => engine.put("k", "new"));
  const after = q.read(() => engine.readLogged("k"));
  assert.equal(await before, "old");
  await assert.rejects(failing, /bad page/);
  await write;
  assert.equal(await after, "new");
  assert.equal(engine.reading, false, "the read transaction ended despite the failure");
  // flush (as close does) runs pending reads before anything else.
  engine.log.length = 0;
  const pending = [q.read(() => engine.readLogged("k")), q.read(() => engine.readLogged("x"))];
  q.flush({ wait: true });
  assert.deepEqual(engine.log, ["beginRead", "read k in txn", "read x in txn", "endRead"]);
  assert.deepEqual(await Promise.all(pending), ["new", undefined]);
});

test("commit queue: reads inside exclusive() run at once, in its transaction", async () => {
  const engine = new ReadTxnEngine();
  const q = new CommitQueue(engine);
  await q.exclusive();
  engine.put("k", "staged");
  engine.log.length = 0;
  const reads = [
    q.read(() => engine.readLogged("k")),
    q.read(() => engine.readLogged("k")),
    // A snapshot read too: the open transaction is its snapshot.
    q.read(() => [engine.readLogged("k"), engine.readLogged("j")], { snapshot: true }),
  ];
  assert.deepEqual(engine.log, ["read k", "read k", "read k", "read j"], "no read transaction");
  assert.deepEqual(await Promise.all(reads), ["staged", "staged", ["staged", undefined]]);
  engine.commit();
  q.end();
  // After end(), a snapshot read gets a read transaction again.
  engine.log.length = 0;
  await q.read(() => engine.readLogged("k"), { snapshot: true });
  assert.deepEqual(engine.log, ["beginRead", "read k in txn", "endRead"]);
});

/**
 * A ReadTxnEngine whose read transactions see a snapshot: `commitElsewhere` stands for another
 * connection's commit, which a read transaction begun before it does not see.
 */
class SnapshotEngine extends ReadTxnEngine {
  view: Map<string, string> | undefined;
  override beginRead(): void {
    super.beginRead();
    this.view = this.data;
  }
  override endRead(): void {
    super.endRead();
    this.view = undefined;
  }
  override read(key: string): string | undefined {
    return (this.staged ?? this.view ?? this.data).get(key);
  }
  commitElsewhere(key: string, value: string): void {
    this.data = new Map(this.data).set(key, value);
  }
  /** A multi-key read whose keys another connection changes between its statements. */
  readAcross(keys: string[]): (string | undefined)[] {
    return keys.map((key, i) => {
      if (i === 1) this.commitElsewhere(keys[1], "changed");
      return this.readLogged(key);
    });
  }
}

test("commit queue: a snapshot read batched with point reads sees one state with them", async () => {
  const engine = new SnapshotEngine();
  engine.data.set("a", "1").set("b", "1");
  const q = new CommitQueue(engine);
  const reads = [
    q.read(() => engine.readLogged("a")),
    q.read(() => engine.readAcross(["a", "b"]), { snapshot: true }),
    q.read(() => engine.readLogged("b")),
  ];
  assert.deepEqual(await Promise.all(reads), ["1", ["1", "1"], "1"]);
  assert.deepEqual(engine.log, [
    "beginRead",
    "read a in txn",
    "read a in txn",
    "read b in txn",
    "read b in txn",
    "endRead",
  ]);
  // The other connection's commit is there for the next turn's reads.
  assert.equal(await q.read(() => engine.read("b")), "changed");
});

test("commit queue: a lone snapshot read gets a read transaction of its own", async () => {
  const engine = new SnapshotEngine();
  engine.data.set("a", "1").set("b", "1");
  const q = new CommitQueue(engine);
  assert.deepEqual(await q.read(() => engine.readAcross(["a", "b"]), { snapshot: true }), [
    "1",
    "1",
  ]);
  assert.deepEqual(engine.log, ["beginRead", "read a in txn", "read b in txn", "endRead"]);
  // Without `snapshot` the same read sees the other connection's commit between its statements.
  engine.log.length = 0;
  engine.data.set("b", "1");
  assert.deepEqual(await q.read(() => engine.readAcross(["a", "b"])), ["1", "changed"]);
  assert.deepEqual(engine.log, ["read a", "read b"]);
});

test("commit queue: a snapshot read behind writes runs in their transaction, in order", async () => {
  const engine = new SnapshotEngine();
  const q = new CommitQueue(engine);
  const calls = [
    q.write(() => engine.put("a", "1")),
    q.read(() => [engine.readLogged("a"), engine.readLogged("b")], { snapshot: true }),
    q.write(() => engine.put("b", "2")),
  ];
  const [, seen] = await Promise.all(calls);
  assert.deepEqual(seen, ["1", undefined]);
  assert.deepEqual(engine.log, ["begin", "read a", "read b", "commit"], "no read transaction");
  // Replayed alone after a failed commit, it begins a read transaction of its own.
  engine.log.length = 0;
  engine.failCommits = 1;
  const replayed = [
    q.write(() => engine.put("c", "3")),
    q.read(() => [engine.readLogged("a"), engine.readLogged("c")], { snapshot: true }),
  ];
  // The write before it, replayed first, commits first: the read sees it.
  assert.deepEqual((await Promise.all(replayed))[1], ["1", "3"]);
  assert.deepEqual(engine.log.slice(-4), [
    "beginRead",
    "read a in txn",
    "read c in txn",
    "endRead",
  ]);
  assert.equal(engine.data.get("c"), "3");
});
