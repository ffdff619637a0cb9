// A worker thread hosting shards for ../_worker_pool.ts. It builds each shard's driver from the
// DriverSpec it is sent (../hosted.ts; nothing here knows a particular driver), runs each batch of calls it receives (calls of one batch share the backends' group
// commit) and sends the results back batched per macrotask.
import { parentPort } from "node:worker_threads";
import { setImmediate } from "node:timers";
import type { Driver, ShardTxn, WriteOp } from "../../core/driver.ts";
import { type DriverSpec, openFromSpec } from "../hosted.ts";
import {
  type BegunTxn,
  type HostedMethods,
  serializeError,
  type WorkerCall,
  type WorkerReply,
} from "../_worker_pool.ts";

const port = parentPort!;
const shards = new Map<number, Driver>();
/** Transactions begun and not yet committed or released, by id. */
const txns = new Map<number, ShardTxn>();
let nextTxn = 1;
/** The caller's clock as of the last call received; the hosted backends read TTL time here. */
let clock = 0;
const now = (): number => clock;
let replies: WorkerReply[] = [];
let replying = false;

port.on("message", (calls: WorkerCall[]) => {
  for (const call of calls) run(call);
});

function run([id, shard, method, at, args]: WorkerCall): void {
  clock = at;
  let result: Promise<unknown>;
  try {
    result = method === "open" ? open(shard, args) : invoke(shard, method, args);
  } catch (e) {
    result = Promise.reject(e);
  }
  result.then(
    (v) => reply([id, true, v]),
    (e) => reply([id, false, serializeError(e)]),
  );
}

async function open(
  shard: number,
  [spec, path, index, create]: unknown[],
): Promise<HostedMethods> {
  const driver = await openFromSpec(spec as DriverSpec, path as string, {
    shard: index as number,
    create: create as boolean,
    now,
  });
  shards.set(shard, driver);
  return {
    getEntry: typeof driver.getEntry === "function",
    begin: typeof driver.begin === "function",
    changes: typeof driver.changes === "function",
  };
}

async function begin(backend: Driver, keys: readonly string[]): Promise<BegunTxn> {
  const txn = await backend.begin!(keys);
  const id = nextTxn++;
  txns.set(id, txn);
  return { id, entries: txn.entries };
}

/** Ends transaction `id`: commits `ops`, or releases it when they are absent. */
function end(id: number, ops?: readonly WriteOp[]): Promise<void> {
  const txn = txns.get(id);
  if (txn === undefined) throw new Error(`transaction ${id} is not open in this worker`);
  txns.delete(id);
  return ops === undefined ? txn.release() : txn.commit(ops);
}

function invoke(shard: number, method: string, args: unknown[]): Promise<unknown> {
  const backend = shards.get(shard);
  if (backend === undefined) throw new Error(`shard ${shard} is not open in this worker`);
  if (method === "begin") return begin(backend, args[0] as string[]);
  if (method === "commitTxn") return end(args[0] as number, args[1] as WriteOp[]);
  if (method === "releaseTxn") return end(args[0] as number);
  if (method === "close") shards.delete(shard);
  return (backend as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method](
    ...args,
  );
}

function reply(r: WorkerReply): void {
  replies.push(r);
  if (replying) return;
  replying = true;
  setImmediate(() => {
    replying = false;
    const batch = replies;
    replies = [];
    port.postMessage(batch);
  });
}
