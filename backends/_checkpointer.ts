// Moves WAL checkpoints of SQLite shards off the committing thread. One worker thread per
// process holds a second connection to each shard file; a shard signals it after about
// CHECKPOINT_BYTES of writes and the worker runs a PASSIVE checkpoint there, so the fsyncs of
// the checkpoint overlap with the next commits. The writer keeps a (larger) auto-checkpoint
// of its own, which bounds the WAL if the worker falls behind or could not start.
import type { Worker } from "node:worker_threads";
import { startWorker } from "./_worker_thread.ts";

/** Messages to the checkpoint worker. */
export type CheckpointMessage =
  | { op: "open"; id: number; path: string; synchronous: string }
  | { op: "dirty"; id: number }
  | { op: "close"; id: number };

/** Bytes written to a shard between two checkpoint signals. */
export const CHECKPOINT_BYTES = 1 << 20;
/** The writer's own auto-checkpoint threshold in pages (4 KiB each) while a worker runs. */
export const WRITER_AUTOCHECKPOINT = 4000;

let worker: Worker | undefined;
let watchers = 0;
let nextId = 1;
const closing = new Map<number, () => void>();

/** One shard file watched by the checkpoint worker. */
export interface CheckpointWatch {
  /** Counts `bytes` written; signals the worker when enough have piled up. */
  wrote(bytes: number): void;
  /** Drops the worker's connection; resolves once it is closed. */
  close(): Promise<void>;
}

function start(): Worker {
  const w = startWorker("checkpoint_worker");
  w.on("message", (m: { op: string; id: number }) => {
    if (m.op === "closed") {
      closing.get(m.id)?.();
      closing.delete(m.id);
    }
  });
  w.on("error", () => {
    // The writers' own auto-checkpoints take over; release anyone waiting on a close.
    for (const done of closing.values()) done();
    closing.clear();
    if (worker === w) worker = undefined;
  });
  // After the listeners: on Bun, adding a "message" listener refs the worker again.
  w.unref();
  return w;
}

/** Starts watching the shard file at `path`, checkpointing with `synchronous` (OFF/NORMAL/FULL). */
export function watchCheckpoints(path: string, synchronous: string): CheckpointWatch {
  worker ??= start();
  const w = worker;
  const id = nextId++;
  watchers++;
  w.postMessage({ op: "open", id, path, synchronous } satisfies CheckpointMessage);
  let pending = 0;
  let closed = false;
  return {
    wrote(bytes: number): void {
      pending += bytes;
      if (pending < CHECKPOINT_BYTES) return;
      pending = 0;
      w.postMessage({ op: "dirty", id } satisfies CheckpointMessage);
    },
    close(): Promise<void> {
      if (closed) return Promise.resolve();
      closed = true;
      const done = new Promise<void>((resolve) => {
        if (worker !== w) return resolve();
        // Held while the reply is awaited: an unref'd worker's reply does not keep Deno running.
        w.ref();
        closing.set(id, () => {
          if (closing.size === 1) w.unref();
          resolve();
        });
        w.postMessage({ op: "close", id } satisfies CheckpointMessage);
      });
      return done.then(() => {
        if (--watchers === 0 && worker === w) {
          worker = undefined;
          void w.terminate();
        }
      });
    },
  };
}
