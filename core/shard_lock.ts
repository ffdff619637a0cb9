/**
 * The per-shard lock. Three modes:
 * - `"write"`: single writes and batches; they share the lock with each other,
 * - `"read"`: read transactions; they share it with each other and see no write land,
 * - `"exclusive"`: write transactions; nothing else holds the lock meanwhile.
 * Plain reads take no lock. Waiters are served in arrival order, so no mode starves.
 *
 * @module
 */

/** A mode of {@linkcode ShardLock}. */
export type LockMode = "read" | "write" | "exclusive";

interface Waiter {
  mode: LockMode;
  wake: () => void;
}

/**
 * An async lock whose holders of the same shared mode run together.
 *
 * @example
 * ```ts
 * import { ShardLock } from "@shardkv/shardkv";
 * const lock = new ShardLock();
 * await lock.acquire("exclusive");
 * lock.release();
 * ```
 */
export class ShardLock {
  #mode: LockMode | undefined;
  #holders = 0;
  #waiters: Waiter[] = [];
  #transactions = 0;

  /** Takes the lock without waiting when possible; `false` when the caller must `acquire`. */
  tryAcquire(mode: LockMode): boolean {
    if (
      this.#holders === 0 ||
      (this.#mode === mode && mode !== "exclusive" &&
        this.#waiters.length === 0)
    ) {
      this.#mode = mode;
      this.#holders++;
      return true;
    }
    return false;
  }

  /** Resolves once the lock is held in `mode`. */
  acquire(mode: LockMode): Promise<void> {
    if (this.tryAcquire(mode)) return Promise.resolve();
    return new Promise((wake) => this.#waiters.push({ mode, wake }));
  }

  /**
   * Runs `fn` while holding the lock in `mode`; waits only when the lock is taken. Written with
   * `then` rather than `async`/`await`: an uncontended call (the common one) costs no promise
   * beyond `fn`'s own and its release.
   */
  with<T>(mode: LockMode, fn: () => Promise<T>): Promise<T> {
    if (!this.tryAcquire(mode)) return this.acquire(mode).then(() => this.#holding(fn));
    return this.#holding(fn);
  }

  /** Runs `fn` (the lock is held) and releases the hold once it settles, or throws. */
  #holding<T>(fn: () => Promise<T>): Promise<T> {
    let running: Promise<T>;
    try {
      running = fn();
    } catch (e) {
      this.release();
      return Promise.reject(e);
    }
    // A caller in plain JavaScript may hand a function that returns a value.
    if (!(running instanceof Promise)) running = Promise.resolve(running);
    return running.then((value) => {
      this.release();
      return value;
    }, (error) => {
      this.release();
      throw error;
    });
  }

  /** Releases one hold; wakes the next waiter (and every compatible one behind it). */
  release(): void {
    if (this.#holders === 0) throw new Error("ShardLock released while not held");
    if (--this.#holders > 0) return;
    this.#mode = undefined;
    const first = this.#waiters.shift();
    if (first === undefined) return;
    this.#grant(first);
    if (first.mode === "exclusive") return;
    while (this.#waiters[0]?.mode === first.mode) this.#grant(this.#waiters.shift()!);
  }

  /** Whether anyone holds the lock. */
  get held(): boolean {
    return this.#holders > 0;
  }

  /**
   * How many transactions hold or wait for the lock: their bodies run the caller's code, which
   * may read the store while writes wait behind them, so such reads must not wait for those.
   */
  get transactions(): number {
    return this.#transactions;
  }

  /** `acquire` for a transaction, counted in `transactions` until `releaseTransaction`. */
  acquireForTransaction(mode: LockMode): Promise<void> {
    this.#transactions++;
    return this.acquire(mode);
  }

  /** Releases the hold `acquireForTransaction` took. */
  releaseTransaction(): void {
    this.#transactions--;
    this.release();
  }

  #grant(w: Waiter): void {
    this.#mode = w.mode;
    this.#holders++;
    w.wake();
  }
}
