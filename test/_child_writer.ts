// A child process for the kill and multi-process tests. Usage:
//   _child_writer.ts crash <dir> <shards> <run> <durability> <backend>   writes forever, printing
//                                                  each acknowledged write; keys are namespaced by <run>
//   _child_writer.ts multi <dir> <id> <count>      writes <count> keys and counter increments, then exits
//   _child_writer.ts reshard <dir> <shards>        reshards <dir>, printing progress
//   _child_writer.ts txn <dir> <count> <backend> [redis-url]   <count> read-modify-write
//                                                  increments of "{t}:n" (and "{t}:log") in writeTxn
// Output lines: "S n" single set, "B g" batch generation, "T t" transaction, "C v" counter value,
// "P n" reshard progress, "READY" once the store is open, "DONE" at a clean end.
import process from "node:process";
import { decodeCounter, encodeCounter, getKey, openStore, setKey, writeTxn } from "../mod.ts";
import { reshard } from "../shard/reshard.ts";
import { BATCH_KEYS, enc } from "./_helpers.ts";

const [mode, dir, a, b, c, d] = process.argv.slice(2);
const out = (line: string): void => {
  process.stdout.write(line + "\n");
};

if (mode === "crash") {
  const store = await openStore(dir, {
    shards: Number(a),
    // Only sqlite has durability levels; deno-kv runs its crash cycles at its one level.
    durability: d === "sqlite" ? c as "normal" : undefined,
    backend: d as "sqlite",
  });
  const run = b;
  out("READY");
  const singles = async (): Promise<never> => {
    for (let n = 0;; n++) {
      await store.set(`s:${run}:${n}`, enc(`v${n}`));
      out(`S ${n}`);
    }
  };
  const batches = async (): Promise<never> => {
    for (let g = 1;; g++) {
      const entries: [string, Uint8Array][] = [];
      for (let j = 0; j < BATCH_KEYS; j++) entries.push([`b:${run}:${j}`, enc(String(g))]);
      await store.batchSet(entries);
      out(`B ${g}`);
    }
  };
  const txns = async (): Promise<never> => {
    for (let t = 1;; t++) {
      await writeTxn(store, async (txn) => {
        for (const k of ["a", "b", "c"]) await setKey(txn, `{t${run}}:${k}`, enc(String(t)));
      });
      out(`T ${t}`);
    }
  };
  const counter = async (): Promise<never> => {
    for (;;) out(`C ${await store.incr("c")}`);
  };
  await Promise.all([singles(), batches(), txns(), counter()]);
} else if (mode === "multi") {
  const id = a;
  const count = Number(b);
  const store = await openStore(dir);
  out("READY");
  try {
    const pending: Promise<unknown>[] = [];
    for (let n = 0; n < count; n++) {
      pending.push(store.set(`m:${id}:${n}`, enc(`${id}-${n}`)));
      pending.push(store.incr("shared"));
      if (n % 10 === 0) {
        pending.push(
          store.batchSet([[`mb:${id}:${n}:x`, enc("x")], [`mb:${id}:${n}:y`, enc("y")]]),
        );
        pending.push(store.scanKeys("m:", { limit: 5 }));
        pending.push(writeTxn(store, (txn) => setKey(txn, `{${id}}:last`, enc(String(n)))));
      }
      if (pending.length >= 64) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    await store.close();
    out("DONE");
  } catch (e) {
    out(`E ${(e as Error).name}: ${(e as Error).message}`);
    process.exit(1);
  }
} else if (mode === "txn") {
  const count = Number(a);
  const store = await openStore(dir, { backend: b as "sqlite", redis: c ? { url: c } : undefined });
  out("READY");
  try {
    for (let n = 0; n < count; n++) await incrementInTxn(store, "{t}:n");
    await store.close();
    out("DONE");
  } catch (e) {
    out(`E ${(e as Error).name}: ${(e as Error).message}`);
    process.exit(1);
  }
} else if (mode === "reshard") {
  await reshard(dir, { shards: Number(a), onProgress: (n) => out(`P ${n}`) });
  out("DONE");
} else {
  throw new Error(`unknown mode ${mode}`);
}

/** One read-modify-write increment of the counter at `key` in a write transaction. */
async function incrementInTxn(store: Parameters<typeof writeTxn>[0], key: string): Promise<void> {
  await writeTxn(store, async (txn) => {
    const old = await getKey(txn, key);
    await setKey(txn, key, encodeCounter((old === undefined ? 0 : decodeCounter(old)) + 1));
  });
}
