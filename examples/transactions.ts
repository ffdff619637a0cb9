/**
 * Transactions with hash tags: keys that share a `{tag}` live on the same shard, so one
 * `writeTxn` can read and write them atomically. Touching a key of another shard throws
 * `CrossShardTransactionError` and rolls the transaction back.
 *
 * Run: `deno run -A examples/transactions.ts` or `bun examples/transactions.ts`
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CrossShardTransactionError,
  decodeCounter,
  encodeCounter,
  existsKey,
  getKey,
  openStore,
  readTxn,
  setKey,
  shardOf,
  text,
  type WriteTxn,
  writeTxn,
} from "../mod.ts";

const dir = await mkdtemp(join(tmpdir(), "shardkv-txn-"));
const store = await openStore(dir, { shards: 16 });

async function balance(txn: WriteTxn, key: string): Promise<number> {
  const bytes = await getKey(txn, key);
  return bytes === undefined ? 0 : decodeCounter(bytes);
}

/** Moves `amount` from checking to savings of one user, or nothing when funds are short. */
function transfer(user: number, amount: number): Promise<boolean> {
  return writeTxn(store, async (txn) => {
    const checking = `{user:${user}}:checking`;
    const savings = `{user:${user}}:savings`;
    const from = await balance(txn, checking);
    if (from < amount) return false;
    await setKey(txn, checking, encodeCounter(from - amount));
    await setKey(txn, savings, encodeCounter((await balance(txn, savings)) + amount));
    return true;
  });
}

try {
  console.log(
    `{user:1}:checking and {user:1}:savings share shard ${shardOf("{user:1}:checking", 16)} = ${
      shardOf("{user:1}:savings", 16)
    }`,
  );
  await store.set("{user:1}:checking", encodeCounter(100));
  // Ten concurrent transfers of 30: transactions on a shard are serializable, so exactly three
  // succeed and the balance never goes negative.
  const results = await Promise.all(Array.from({ length: 10 }, () => transfer(1, 30)));
  console.log(`transfers that succeeded: ${results.filter(Boolean).length} of 10`);
  console.log(`checking = ${decodeCounter((await store.get("{user:1}:checking"))!)}`);
  console.log(`savings = ${decodeCounter((await store.get("{user:1}:savings"))!)}`);

  // A transaction that throws commits nothing.
  await writeTxn(store, async (txn) => {
    await setKey(txn, "{user:1}:checking", encodeCounter(1_000_000));
    throw new Error("changed my mind");
  }).catch((e) => console.log(`rolled back: ${e.message}`));
  console.log(
    `checking after rollback = ${decodeCounter((await store.get("{user:1}:checking"))!)}`,
  );

  // Keys without a shared tag usually live on different shards.
  let other = 2;
  while (shardOf(`{user:${other}}:checking`, 16) === shardOf("{user:1}:checking", 16)) other++;
  await writeTxn(store, async (txn) => {
    await setKey(txn, "{user:1}:note", text.encode("hi"));
    await setKey(txn, `{user:${other}}:checking`, encodeCounter(5));
  }).catch((e) => {
    if (!(e instanceof CrossShardTransactionError)) throw e;
    console.log(`cross-shard transaction refused: ${e.name}`);
  });
  const noted = await readTxn(store, (txn) => existsKey(txn, "{user:1}:note"));
  console.log(`{user:1}:note written: ${noted}`);
} finally {
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
