// Kill cycles shared by test/crash_test.ts and bench/soak.ts: start a writer child, SIGKILL it
// after a delay, then check the store against what the child acknowledged.
import assert from "node:assert/strict";
import { decodeCounter, openStore, shardOf } from "../mod.ts";
import { BATCH_KEYS, dec, readLines, spawnChild } from "./_helpers.ts";

/** What the child acknowledged before it died. */
export interface Acks {
  single: number;
  batch: number;
  txn: number;
  counter: number;
}

/** Starts a writer, kills it after `delayMs` of writing, and returns its acknowledgements. */
export async function killWriter(
  dir: string,
  options: { shards: number; run: number; durability: string; delayMs: number; backend: string },
): Promise<Acks> {
  const acks: Acks = { single: -1, batch: 0, txn: 0, counter: 0 };
  const child = spawnChild("./_child_writer.ts", [
    "crash",
    dir,
    String(options.shards),
    String(options.run),
    options.durability,
    options.backend,
  ]);
  const done = readLines(child, (line) => {
    const [tag, n] = line.split(" ");
    const v = Number(n);
    if (tag === "READY") setTimeout(() => child.kill("SIGKILL"), options.delayMs);
    else if (tag === "S") acks.single = Math.max(acks.single, v);
    else if (tag === "B") acks.batch = Math.max(acks.batch, v);
    else if (tag === "T") acks.txn = Math.max(acks.txn, v);
    else if (tag === "C") acks.counter = Math.max(acks.counter, v);
  });
  await done;
  return acks;
}

/** Checks the store at `dir` against what run `run` acknowledged; returns the counter value. */
export async function verifyRun(
  dir: string,
  options: { shards: number; run: number; acks: Acks; counterBefore: number },
): Promise<number> {
  const { shards, run, acks } = options;
  const store = await openStore(dir);
  try {
    assert.equal(store.shards, shards);
    // Every acknowledged single set, with its value.
    const singles = await store.batchGet(
      Array.from({ length: acks.single + 1 }, (_, n) => `s:${run}:${n}`),
    );
    for (let n = 0; n <= acks.single; n++) {
      assert.equal(
        dec(singles.get(`s:${run}:${n}`)),
        `v${n}`,
        `lost acknowledged set s:${run}:${n}`,
      );
    }
    // Batches: one generation per shard, never older than the last acknowledged one.
    const batchKeys = Array.from({ length: BATCH_KEYS }, (_, j) => `b:${run}:${j}`);
    const batch = await store.batchGet(batchKeys);
    const perShard = new Map<number, Set<string | undefined>>();
    for (const key of batchKeys) {
      const gen = dec(batch.get(key));
      if (acks.batch > 0) {
        assert.ok(
          gen !== undefined && Number(gen) >= acks.batch,
          `batch key ${key} = ${gen} < ${acks.batch}`,
        );
      }
      const i = shardOf(key, shards);
      perShard.set(i, (perShard.get(i) ?? new Set()).add(gen));
    }
    for (const [i, gens] of perShard) {
      assert.equal(gens.size, 1, `batch half-applied on shard ${i}: ${[...gens].join(",")}`);
    }
    // Transactions: all three keys carry the same value, at least the last acknowledged one.
    const txn = await store.batchGet(["a", "b", "c"].map((k) => `{t${run}}:${k}`));
    const values = new Set(["a", "b", "c"].map((k) => dec(txn.get(`{t${run}}:${k}`))));
    assert.equal(values.size, 1, `transaction half-applied: ${[...values].join(",")}`);
    const [t] = values;
    if (acks.txn > 0) {
      assert.ok(Number(t) >= acks.txn, `transaction ${t} < acknowledged ${acks.txn}`);
    }
    // The counter never goes back and holds every acknowledged increment.
    const raw = await store.get("c");
    const counter = raw === undefined ? 0 : decodeCounter(raw);
    assert.ok(counter >= acks.counter, `counter ${counter} < acknowledged ${acks.counter}`);
    assert.ok(counter >= options.counterBefore, `counter went back to ${counter}`);
    return counter;
  } finally {
    await store.close();
  }
}
