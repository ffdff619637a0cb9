// A worker thread hosting shards for ../_worker_pool.ts. It builds each shard's driver from the
// DriverSpec it is sent (../hosted.ts; nothing here knows a particular driver), runs each batch of calls it receives (calls of one batch share the backends' group
// commit) and sends the results back batched per macrotask, as bytes where it can
// (../_worker_wire.ts).
import { parentPort } from "node:worker_threads";
import { setImmediate } from "node:timers";
import type { Driver, Entry, ShardTxn, WriteOp } from "../../core/driver.ts";
import { type DriverSpec, openFromSpec } from "../hosted.ts";
import {
  type BegunTxn,
  type HostedMethods,
  serializeError,
  type WorkerCall,
  type WorkerReply,
} from "../_worker_pool.ts";
import {
  CALL_APPLY,
  CALL_CLONED,
  CALL_GET_ENTRIES,
  REPLY_CLONED,
  REPLY_ENTRIES,
  REPLY_ENTRY,
  REPLY_FALSE,
  REPLY_NUMBER,
  REPLY_TRUE,
  REPLY_UNDEFINED,
  type WireMessage,
  WireReader,
  WireWriter,
} from "../_worker_wire.ts";

const port = parentPort!;
const shards = new Map<number, Driver>();
/** Transactions begun and not yet committed or released, by id. */
const txns = new Map<number, ShardTxn>();
let nextTxn = 1;
/** The caller's clock as of the last call received; the hosted backends read TTL time here. */
let clock = 0;
const now = (): number => clock;
const out = new WireWriter();
let cloned: WorkerReply[] = [];
let replying = false;
/**
 * Whether written values must be copies: a custom driver may keep the Uint8Array it is given,
 * which would keep a whole message's buffer alive (the built-in drivers only bind it).
 */
let copyValues = true;

port.on("message", ([buffer, length, calls]: WireMessage<WorkerCall>) => {
  const r = new WireReader(buffer, length, copyValues);
  let next = 0;
  while (!r.done) {
    const kind = r.u8();
    if (kind === CALL_CLONED) {
      run(calls[next++]);
      continue;
    }
    const id = r.u32();
    const shard = r.u32();
    clock = r.f64();
    let result: Promise<unknown>;
    try {
      const driver = shards.get(shard);
      if (driver === undefined) throw new Error(`shard ${shard} is not open in this worker`);
      if (kind === CALL_APPLY) {
        const ops = r.ops();
        result = driver.apply(ops, r.checks());
      } else if (kind === CALL_GET_ENTRIES) result = driver.getEntries(r.strings());
      else result = driver.getEntry!(r.string());
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then((v) => replyWith(id, v), (e) => replyCloned([id, false, serializeError(e)]));
  }
});

function run([id, shard, method, at, args]: WorkerCall): void {
  if (method === "") return;
  clock = at;
  let result: Promise<unknown>;
  try {
    result = method === "open" ? open(shard, args) : invoke(shard, method, args);
  } catch (e) {
    result = Promise.reject(e);
  }
  result.then(
    (v) => replyWith(id, v),
    (e) => replyCloned([id, false, serializeError(e)]),
  );
}

async function open(
  shard: number,
  [spec, path, index, create]: unknown[],
): Promise<HostedMethods> {
  copyValues = (spec as DriverSpec).kind !== "builtin";
  const driver = await openFromSpec(spec as DriverSpec, path as string, {
    shard: index as number,
    create: create as boolean,
    now,
  });
  shards.set(shard, driver);
  return {
    // Calls are handed to the driver synchronously, in the order the main thread made them.
    ordered: driver.ordered === true,
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

/** Replies `value` to call `id`: as bytes when it has a plain shape, else cloned. */
function replyWith(id: number, value: unknown): void {
  if (value === true) out.head(REPLY_TRUE, id);
  else if (value === false) out.head(REPLY_FALSE, id);
  else if (value === undefined) out.head(REPLY_UNDEFINED, id);
  else if (typeof value === "number") {
    out.head(REPLY_NUMBER, id);
    out.f64(value);
  } else if (value instanceof Map && plainEntries(value)) {
    out.head(REPLY_ENTRIES, id);
    out.entries(value);
  } else if (isEntry(value)) {
    out.head(REPLY_ENTRY, id);
    out.entry(value);
  } else return replyCloned([id, true, value]);
  scheduleReply();
}

function replyCloned(r: WorkerReply): void {
  out.u8(REPLY_CLONED);
  cloned.push(r);
  scheduleReply();
}

/** Whether `m` maps strings to entries only (what getEntries returns). */
function plainEntries(m: Map<unknown, unknown>): boolean {
  for (const [k, v] of m) if (typeof k !== "string" || !isEntry(v)) return false;
  return true;
}

/** Whether `v` is an entry the byte form keeps exactly (no other fields). */
function isEntry(v: unknown): v is Entry {
  if (typeof v !== "object" || v === null || !(v as Entry).value) return false;
  const e = v as Entry;
  if (!(e.value instanceof Uint8Array)) return false;
  if (e.expiresAt !== null && typeof e.expiresAt !== "number") return false;
  if (e.version !== undefined && typeof e.version !== "number") return false;
  let fields = 0;
  for (const _ in e) fields++;
  return fields === (e.version === undefined ? ("version" in e ? 3 : 2) : 3);
}

function scheduleReply(): void {
  if (replying) return;
  replying = true;
  setImmediate(() => {
    replying = false;
    const [buffer, length] = out.take();
    const batch = cloned;
    cloned = [];
    port.postMessage([buffer, length, batch], [buffer]);
  });
}
