// Shards hosted in worker threads (the `workers` option of openStore): a wrapper around any
// driver a worker can build from a DriverSpec (./hosted.ts: sqlite, deno-kv, or a custom
// driver's module and export). The main thread keeps a WorkerShard (a Driver) per shard that
// forwards every driver call. Calls made in one event-loop turn travel to a worker as one
// message and their results come back batched too, so the ~40 µs round trip of a message is
// paid per turn, not per call; the worker's own group commit then covers the whole batch. The
// hot calls and plain results travel as bytes in one transferred buffer (./_worker_wire.ts).
import type { Worker } from "node:worker_threads";
import { startWorker } from "./_worker_thread.ts";
import {
  CALL_APPLY,
  CALL_CLONED,
  CALL_GET_ENTRIES,
  CALL_GET_ENTRY,
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
} from "./_worker_wire.ts";
import * as errors from "../core/errors.ts";
import { StoreClosedError } from "../core/errors.ts";
import type {
  Checks,
  Driver,
  Entry,
  RangeQuery,
  RangeResult,
  ShardTxn,
  WriteOp,
} from "../core/driver.ts";

/** One call to a worker: id, shard, method, the caller's clock, arguments. */
export type WorkerCall = [id: number, shard: number, method: string, now: number, args: unknown[]];
/** One answer: id, whether it succeeded, the result or a serialized error. */
export type WorkerReply = [id: number, ok: boolean, value: unknown];

/** Which optional driver methods a hosted driver has (the worker's answer to "open"). */
export interface HostedMethods {
  /** The hosted driver's `ordered`. */
  ordered: boolean;
  getEntry: boolean;
  begin: boolean;
  changes: boolean;
}

/** The worker's answer to "begin": the transaction's id in the worker and its entries. */
export interface BegunTxn {
  id: number;
  entries: Map<string, Entry>;
}

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
  /** The error's `cause`, when it is an error too (e.g. the driver's error under a StorageError). */
  cause?: SerializedError;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** This turn's calls: bytes, with a CALL_CLONED record for each of `cloned`. */
  out: WireWriter;
  cloned: WorkerCall[];
  queued: number;
  inFlight: number;
}

const ERROR_CLASSES: Record<string, new (...args: never[]) => Error> = {
  ...(errors as unknown as Record<string, new (...args: never[]) => Error>),
  Error,
  TypeError,
  RangeError,
};

/** Rebuilds an error sent by a worker with its class, so `instanceof` keeps working. */
export function reviveError(e: SerializedError): Error {
  const cls = ERROR_CLASSES[e.name] ?? Error;
  const err = Object.create(cls.prototype) as Error;
  Object.assign(err, e.props);
  Object.defineProperty(err, "message", { value: e.message, writable: true, configurable: true });
  if (e.stack !== undefined) {
    Object.defineProperty(err, "stack", { value: e.stack, writable: true, configurable: true });
  }
  if (e.cause !== undefined) {
    const cause = reviveError(e.cause);
    Object.defineProperty(err, "cause", { value: cause, writable: true, configurable: true });
  }
  return err;
}

/** A set of worker threads that host shards, spread round-robin. */
export class WorkerPool {
  #slots: Slot[];
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #nextShard = 0;
  #open = 0;
  #scheduled = false;
  /** What the workers build the drivers from (a DriverSpec of ./hosted.ts), posted as is. */
  #spec: unknown;
  #create: boolean;

  constructor(init: { workers: number; spec: unknown; create: boolean }) {
    this.#spec = init.spec;
    this.#create = init.create;
    this.#slots = Array.from({ length: init.workers }, () => {
      const worker = startWorker("shard_worker");
      const slot: Slot = { worker, out: new WireWriter(), cloned: [], queued: 0, inFlight: 0 };
      worker.on("message", (m: WireMessage<WorkerReply>) => this.#settle(slot, m));
      worker.on("error", (e: unknown) => this.#fail(slot, e));
      // After the listeners: on Bun, adding a "message" listener refs the worker again.
      worker.unref();
      return slot;
    });
  }

  /** Opens the shard stored at `path` (without extension) in worker `index % workers`. */
  async open(path: string, index: number, now: () => number): Promise<Driver> {
    const shard = this.#nextShard++;
    const slot = index % this.#slots.length;
    const methods = await this.call(slot, shard, "open", now(), [
      this.#spec,
      path,
      index,
      this.#create,
    ]) as HostedMethods;
    this.#open++;
    return new WorkerShard(this, { slot, shard, now, methods });
  }

  /** Queues a call; everything queued in one turn is posted as one message per worker. */
  call(
    slot: number,
    shard: number,
    method: string,
    now: number,
    args: unknown[],
  ): Promise<unknown> {
    const id = this.#nextId++;
    const s = this.#slots[slot];
    s.out.u8(CALL_CLONED);
    s.cloned.push([id, shard, method, now, args]);
    return this.#queued(s, id);
  }

  /** Queues `apply` in its byte form. */
  apply(
    slot: number,
    shard: number,
    now: number,
    ops: readonly WriteOp[],
    checks: Checks | undefined,
  ): Promise<boolean> {
    const id = this.#nextId++;
    const out = this.#head(slot, CALL_APPLY, id, shard, now);
    out.ops(ops);
    out.checks(checks);
    return this.#queued(this.#slots[slot], id) as Promise<boolean>;
  }

  /** Queues `getEntries` (or `getEntry`, when `one`) in its byte form. */
  read(
    slot: number,
    shard: number,
    now: number,
    keys: readonly string[] | string,
  ): Promise<unknown> {
    const id = this.#nextId++;
    const one = typeof keys === "string";
    const out = this.#head(slot, one ? CALL_GET_ENTRY : CALL_GET_ENTRIES, id, shard, now);
    if (one) out.string(keys);
    else out.strings(keys);
    return this.#queued(this.#slots[slot], id);
  }

  #head(slot: number, kind: number, id: number, shard: number, now: number): WireWriter {
    const out = this.#slots[slot].out;
    out.head(kind, id);
    out.u32(shard);
    out.f64(now);
    return out;
  }

  #queued(slot: Slot, id: number): Promise<unknown> {
    slot.queued++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  /** A shard was closed; the threads end with the last one. */
  release(): void {
    if (--this.#open > 0) return;
    for (const s of this.#slots) void s.worker.terminate();
  }

  #flush(): void {
    this.#scheduled = false;
    for (const slot of this.#slots) {
      const count = slot.queued;
      if (count === 0) continue;
      slot.queued = 0;
      const cloned = slot.cloned;
      slot.cloned = [];
      const [buffer, length] = slot.out.take();
      // Pending replies must keep the process (and Deno's test runner) alive.
      if (slot.inFlight === 0) slot.worker.ref();
      slot.inFlight += count;
      try {
        slot.worker.postMessage([buffer, length, cloned], [buffer]);
      } catch (e) {
        // A call whose arguments cannot be cloned fails alone: the others go again without it.
        // (Serialization fails before anything is transferred, so the buffer is still ours.)
        this.#dropUncloneable(slot, cloned, e);
        slot.worker.postMessage([buffer, length, cloned], [buffer]);
      }
    }
  }

  /** Rejects the calls of `cloned` that cannot be cloned; the worker skips their records. */
  #dropUncloneable(slot: Slot, cloned: WorkerCall[], error: unknown): void {
    for (let i = 0; i < cloned.length; i++) {
      try {
        structuredClone(cloned[i]);
      } catch (e) {
        const id = cloned[i][0];
        // An empty method: the worker skips the call and sends no reply for it.
        cloned[i] = [0, 0, "", 0, []];
        slot.inFlight--;
        this.#settleOne(id, false, serializeError(e ?? error));
      }
    }
  }

  #settleOne(id: number, ok: boolean, value: unknown): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (ok) p.resolve(value);
    else p.reject(reviveError(value as SerializedError));
  }

  #settle(slot: Slot, [buffer, length, cloned]: WireMessage<WorkerReply>): void {
    const r = new WireReader(buffer, length, true);
    let next = 0;
    let count = 0;
    while (!r.done) {
      const kind = r.u8();
      count++;
      if (kind === REPLY_CLONED) {
        const [id, ok, value] = cloned[next++];
        this.#settleOne(id, ok, value);
        continue;
      }
      const id = r.u32();
      const p = this.#pending.get(id);
      let value: unknown;
      if (kind === REPLY_TRUE) value = true;
      else if (kind === REPLY_FALSE) value = false;
      else if (kind === REPLY_NUMBER) value = r.f64();
      else if (kind === REPLY_ENTRY) value = r.entry();
      else if (kind === REPLY_ENTRIES) value = r.entries();
      else if (kind !== REPLY_UNDEFINED) throw new Error(`bad reply record ${kind}`);
      if (p === undefined) continue;
      this.#pending.delete(id);
      p.resolve(value);
    }
    slot.inFlight -= count;
    if (slot.inFlight === 0) slot.worker.unref();
  }

  #fail(slot: Slot, e: unknown): void {
    // A crashed worker loses its shards' queued calls; they reject rather than hang.
    for (const [id, p] of this.#pending) {
      p.reject(e);
      this.#pending.delete(id);
    }
    slot.inFlight = 0;
    slot.worker.unref();
  }
}

/** Turns any thrown value into something postMessage can carry. */
export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof Error)) return { name: "Error", message: String(e), props: {} };
  const props: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === null || ["string", "number", "boolean", "undefined"].includes(typeof v)) props[k] = v;
  }
  const cause = e.cause instanceof Error ? serializeError(e.cause) : undefined;
  return { name: e.name, message: e.message, stack: e.stack, props, cause };
}

/**
 * The main-thread face of a shard driver that lives in a worker. It has the optional methods
 * (`getEntry`, `begin`, `changes`) only where the hosted driver has them; a transaction begun
 * stays in the shard's worker until its commit or release.
 */
class WorkerShard implements Driver {
  readonly now: () => number;
  readonly ordered: boolean;
  getEntry?: (key: string) => Promise<Entry | undefined>;
  begin?: (keys: readonly string[]) => Promise<ShardTxn>;
  changes?: () => Promise<number>;
  #pool: WorkerPool;
  #slot: number;
  #shard: number;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(
    pool: WorkerPool,
    init: { slot: number; shard: number; now: () => number; methods: HostedMethods },
  ) {
    this.#pool = pool;
    this.#slot = init.slot;
    this.#shard = init.shard;
    this.now = init.now;
    this.ordered = init.methods.ordered;
    if (init.methods.getEntry) {
      this.getEntry = (key) => {
        if (this.#closed) return Promise.reject(new StoreClosedError("getEntry"));
        return this.#pool.read(this.#slot, this.#shard, this.now(), key) as Promise<
          Entry | undefined
        >;
      };
    }
    if (init.methods.changes) this.changes = () => this.#call("changes", []);
    if (init.methods.begin) this.begin = (keys) => this.#begin(keys);
  }

  async #begin(keys: readonly string[]): Promise<ShardTxn> {
    const { id, entries } = await this.#call<BegunTxn>("begin", [keys]);
    return {
      entries,
      commit: (ops) => this.#call("commitTxn", [id, ops]),
      release: () => this.#call("releaseTxn", [id]),
    };
  }

  #call<T>(method: string, args: unknown[]): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreClosedError(method));
    return this.#pool.call(this.#slot, this.#shard, method, this.now(), args) as Promise<T>;
  }

  getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    if (this.#closed) return Promise.reject(new StoreClosedError("getEntries"));
    return this.#pool.read(this.#slot, this.#shard, this.now(), keys) as Promise<
      Map<string, Entry>
    >;
  }
  range(q: RangeQuery): Promise<RangeResult> {
    return this.#call("range", [q]);
  }
  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    if (this.#closed) return Promise.reject(new StoreClosedError("apply"));
    return this.#pool.apply(this.#slot, this.#shard, this.now(), ops, checks);
  }
  remove(keys: readonly string[]): Promise<number> {
    return this.#call("remove", [keys]);
  }
  add(key: string, by: number, version?: number): Promise<number> {
    return this.#call("add", version === undefined ? [key, by] : [key, by, version]);
  }
  sweep(max: number): Promise<number> {
    return this.#call("sweep", [max]);
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#closing = (this.#pool.call(this.#slot, this.#shard, "close", this.now(), []) as Promise<
        void
      >).finally(() => this.#pool.release());
    }
    return this.#closing;
  }
}
