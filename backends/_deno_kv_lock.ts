// The write lock of a deno-kv shard, held by Driver.begin() against every other handle and
// process. It is one record, LOCK_KEY -> (random token, lease end in wall-clock ms, the holder's
// process id). Taking it is
// an atomic() checked against the record read (absent, or a lease run out); every other commit
// of the backend checks that the record is absent (see DenoKvBackend's #commit), so while it
// exists their atomic() fails and they wait (waitUnlocked) instead of writing. The holder's
// commit deletes the record in the atomic() that writes its heads. A holder that died leaves
// the record behind: once its lease has run out, or at once when its process is gone (a Deno KV
// file is shared by processes of one machine), a waiting writer deletes it (checked against the
// versionstamp it read, so a lock taken again meanwhile stays).
// While held, the lock's lease is renewed (./_lease.ts); a holder that stopped loses it after
// one lease, and its commit then fails its check of the lock record and writes nothing.
// node:process (Deno, Bun and Node all have it) gives the pid and process.kill(pid, 0).
import process from "node:process";
import type { DenoKv } from "./_deno_kv_api.ts";
import type { DenoKvCommitter, KvCheck } from "./_deno_kv_commit.ts";
import { LOCK_KEY } from "./_deno_kv_layout.ts";
import { isAlive } from "./_alive.ts";
import { renewLease } from "./_lease.ts";

/** How long a lock holds without its holder committing or releasing it (default). */
export const LOCK_LEASE_MS = 10_000;
const TOKEN_BYTES = 16;

/** A lock this handle holds: the check its commit and release make. */
export interface HeldLock {
  /** The lock record as this holder last wrote it (renewals move its versionstamp). */
  check: KvCheck;
  /** Stops renewing and waits for a renewal under way: `check` then stays as it is. */
  settle(): Promise<void>;
}

/** What a lock record holds. */
interface LockRecord {
  token: Uint8Array;
  leaseEnd: number;
  pid: number;
}

function encodeLock(token: Uint8Array, leaseEnd: number): Uint8Array {
  const out = new Uint8Array(TOKEN_BYTES + 16);
  out.set(token);
  const view = new DataView(out.buffer);
  view.setFloat64(TOKEN_BYTES, leaseEnd);
  view.setFloat64(TOKEN_BYTES + 8, process.pid);
  return out;
}

function decodeLock(value: unknown): LockRecord | undefined {
  if (!(value instanceof Uint8Array) || value.length !== TOKEN_BYTES + 16) return undefined;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return {
    token: value.slice(0, TOKEN_BYTES),
    leaseEnd: view.getFloat64(TOKEN_BYTES),
    pid: view.getFloat64(TOKEN_BYTES + 8),
  };
}

/** Whether a lock record no longer holds: unreadable, its lease ran out, or its holder died. */
function isStale(record: LockRecord | undefined): boolean {
  return record === undefined || record.leaseEnd <= Date.now() ||
    (record.pid !== process.pid && !isAlive(record.pid));
}

/** A short jittered wait between looks at a lock another handle holds. */
function pause(): Promise<void> {
  return new Promise((r) => setTimeout(r, 1 + Math.random() * 9));
}

/** Takes and gives back the shard's lock record. */
export class DenoKvLock {
  #kv: DenoKv;
  #committer: DenoKvCommitter;
  #leaseMs: number;

  constructor(kv: DenoKv, committer: DenoKvCommitter, leaseMs: number) {
    this.#kv = kv;
    this.#committer = committer;
    this.#leaseMs = leaseMs;
  }

  /**
   * Returns once no live lock of another holder exists (deleting one whose lease ran out); the
   * caller then retries its commit, which checks the lock's absence again.
   */
  async waitUnlocked(): Promise<void> {
    for (;;) {
      const e = await this.#kv.get(LOCK_KEY);
      if (e.versionstamp === null) return;
      const record = decodeLock(e.value);
      // A record we cannot read is treated like a lease run out: nobody could commit past it.
      if (isStale(record)) {
        await this.#committer.atomic([{ key: LOCK_KEY }], [{
          key: LOCK_KEY,
          versionstamp: e.versionstamp,
        }]);
        return;
      }
      await pause();
    }
  }

  /** Takes the lock, waiting while another holder has it. */
  async acquire(): Promise<HeldLock> {
    const token = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
    for (;;) {
      const e = await this.#kv.get(LOCK_KEY);
      if (e.versionstamp !== null && !isStale(decodeLock(e.value))) {
        await pause();
        continue;
      }
      const stamp = await this.#committer.stamped(
        [{ key: LOCK_KEY, value: encodeLock(token, Date.now() + this.#leaseMs) }],
        [{ key: LOCK_KEY, versionstamp: e.versionstamp }],
      );
      if (stamp !== false && stamp !== "") return this.#renewing(token, stamp);
    }
  }

  /** The lock just taken with `token` (record versionstamp `stamp`), renewed while held. */
  #renewing(token: Uint8Array, stamp: string): HeldLock {
    const held: HeldLock = {
      check: { key: LOCK_KEY, versionstamp: stamp },
      settle: renewLease(this.#leaseMs, async () => {
        const next = await this.#committer.stamped(
          [{ key: LOCK_KEY, value: encodeLock(token, Date.now() + this.#leaseMs) }],
          [held.check],
        );
        // Lost (taken over after the lease ran out): the commit's check will say so.
        if (next === false || next === "") return false;
        held.check = { key: LOCK_KEY, versionstamp: next };
        return true;
      }),
    };
    return held;
  }

  /** Deletes the lock if it is still `held` (not taken over after its lease ran out). */
  async release(held: HeldLock): Promise<boolean> {
    await held.settle();
    return await this.#committer.atomic([{ key: LOCK_KEY }], [held.check]);
  }
}
