// Waiting for another connection's write lock (issue 12 item 3): once a shard has met the lock
// taken, its writes wait without blocking the thread, so the store's other shards keep
// committing, and the waiting writes land, in order, when the lock comes free.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { openStore, shardOf } from "../mod.ts";
import { dec, enc, withTempDir } from "./_helpers.ts";

/** A thread holding shard-000's write lock on request (test/_lock_holder.ts). */
function lockHolder(file: string) {
  const worker = new Worker(new URL("./_lock_holder.ts", import.meta.url), { workerData: file });
  const inbox: string[] = [];
  const waiting: ((m: string) => void)[] = [];
  worker.on("message", (m: string) => {
    const w = waiting.shift();
    if (w === undefined) inbox.push(m);
    else w(m);
  });
  const next = (): Promise<string> =>
    inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiting.push(r));
  const ask = async (op: object, reply: string): Promise<void> => {
    worker.postMessage(op);
    assert.equal(await next(), reply);
  };
  return { worker, next, ask };
}

function keyOn(shard: number, shards: number, tag: string): string {
  for (let i = 0;; i++) if (shardOf(`${tag}${i}`, shards) === shard) return `${tag}${i}`;
}

test("sqlite: a shard waiting for another connection's write lock leaves the thread free", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir, { shards: 2 });
    const holder = lockHolder(`${dir}/shard-000.sqlite`);
    try {
      assert.equal(await holder.next(), "ready");
      const a = keyOn(0, 2, "a");
      const b = keyOn(1, 2, "b");
      const n = keyOn(0, 2, "n");
      // First contention: this write waits (in SQLite's handler) until the holder lets go by
      // itself; from then on the shard polls.
      await holder.ask({ op: "hold-for", ms: 300 }, "held");
      await store.set(a, enc("first"));
      assert.equal(await holder.next(), "released");

      await holder.ask({ op: "hold" }, "held");
      let settled = false;
      const waiting = [
        store.set(a, enc("1")),
        store.incr(n),
        store.set(a, enc("2")),
      ]
        .map((p) => p.finally(() => settled = true));
      // Shard 1 commits, and reads run, while shard 0's writes wait for the lock.
      await store.set(b, enc("other shard"));
      assert.equal(dec(await store.get(b)), "other shard");
      // A read of shard 0 issued after those writes waits for them (a caller's calls apply in
      // the order it issued them).
      const read = store.get(a).finally(() => settled = true);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(settled, false, "shard 0's writes wait for the lock");
      await holder.ask({ op: "release" }, "released");
      await Promise.all(waiting);
      assert.equal(dec(await read), "2", "the read sees the writes issued before it");
      assert.equal(dec(await store.get(a)), "2", "the waiting writes applied in order");
      assert.equal(await store.incr(n), 2);
    } finally {
      holder.worker.postMessage({ op: "close" });
      await store.close();
      await holder.worker.terminate();
    }
  });
});
