// The checkpoint thread: holds a second connection to every shard file it is told about and
// copies their WAL back into the database with PASSIVE checkpoints, so the fsyncs of a
// checkpoint never run on the thread that commits. Messages: see ../_checkpointer.ts.
import { parentPort } from "node:worker_threads";
import {
  openSqliteDatabase,
  type SqliteDatabase,
  type SqliteStatement,
} from "../_sqlite_driver.ts";
import type { CheckpointMessage } from "../_checkpointer.ts";

interface Watched {
  db: SqliteDatabase;
  checkpoint: SqliteStatement;
}

const port = parentPort!;
const watched = new Map<number, Watched>();
const dirty = new Set<number>();
let draining = false;

// One message at a time: a close must not overtake the (async) open of the same file, or the
// connection would be opened after its store closed and left behind.
let queue: Promise<void> = Promise.resolve();
port.on("message", (m: CheckpointMessage) => {
  queue = queue.then(() => handle(m)).catch(() => {});
});

async function handle(m: CheckpointMessage): Promise<void> {
  switch (m.op) {
    case "open": {
      try {
        const { db } = await openSqliteDatabase(m.path);
        // A busy writer's lock is never waited for: the next signal retries.
        db.exec("PRAGMA busy_timeout = 0");
        db.exec(`PRAGMA synchronous = ${m.synchronous}`);
        db.exec("PRAGMA wal_autocheckpoint = 0");
        watched.set(m.id, { db, checkpoint: db.prepare("PRAGMA wal_checkpoint(PASSIVE)") });
      } catch {
        // Without a checkpoint connection the writer's own auto-checkpoint bounds the WAL.
      }
      break;
    }
    case "dirty":
      dirty.add(m.id);
      if (!draining) drain();
      break;
    case "close": {
      dirty.delete(m.id);
      const w = watched.get(m.id);
      watched.delete(m.id);
      try {
        w?.checkpoint.finalize?.();
        w?.db.close();
      } finally {
        port.postMessage({ op: "closed", id: m.id });
      }
      break;
    }
  }
}

/** Checkpoints every dirty file, one per macrotask so open/close messages are not held up. */
function drain(): void {
  const next = dirty.values().next();
  if (next.done) {
    draining = false;
    return;
  }
  draining = true;
  dirty.delete(next.value);
  try {
    watched.get(next.value)?.checkpoint.get();
  } catch {
    // SQLITE_BUSY or a closed file: the next signal retries.
  }
  setImmediate(drain);
}
