// Group commit for a synchronous storage engine. Writes issued in the same event-loop turn
// are queued and run in one transaction from a microtask; each caller's promise settles only
// after that commit. Reads run at once when nothing is queued, else in line with the writes,
// so every caller sees the order in which it issued its calls. A read that needs a snapshot
// (several statements that must see one state) always runs inside a transaction: the group's,
// the turn's read transaction, the open `exclusive()` one, or else one of its own.
//
// Waiting for another process's write lock: an engine that can try its lock without blocking
// (`tryBegin`) is polled from timers with a short jittered back-off, so the thread keeps
// serving its other shards meanwhile and the waiting writes join one bigger commit. SQLite's
// own busy handler instead sleeps the whole thread for 1, 2, 5 ... 100 ms at a time, which
// stalls every shard of the process and lets the holder take the lock again and again.

/** How the queue starts and ends a transaction on the engine. */
export interface Transactor {
  begin(): void;
  commit(): void;
  rollback(): void;
  /** Turns an error of a job or of the engine into the one its caller sees (default: as is). */
  mapError?(error: unknown): unknown;
  /**
   * Begins like `begin` but without waiting for a lock another connection holds: `false` when
   * it is taken. When present, the queue polls with it for up to `lockWait` ms before a last
   * `begin` (which may block and fail as the engine does). `poll`: never wait, not even the
   * short waits an engine may allow itself while it saw no other writer lately.
   */
  tryBegin?(poll?: boolean): boolean;
  /** How long writes poll `tryBegin`, in ms (default 5000). */
  lockWait?: number;
  /**
   * Begins and ends a read transaction. When present, the reads of one event-loop turn run
   * together in one, and a read that needs a snapshot runs in one (see `CommitQueue.read`).
   */
  beginRead?(): void;
  endRead?(): void;
}

/** First back-off of a lock poll, ms; each failed try multiplies it by 1.5 up to the cap. */
const POLL_FIRST = 0.25;
const POLL_CAP = 4;

interface Job {
  run: () => unknown;
  write: boolean;
  /** A read whose statements must all see one state of the store. */
  snapshot?: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Options of {@linkcode CommitQueue.read}. */
export interface ReadOptions {
  /**
   * The job runs several statements that must see one state of the store (other connections
   * may commit between them): it runs inside a transaction whichever way it is run.
   */
  snapshot?: boolean;
}

export class CommitQueue {
  #jobs: Job[] = [];
  /** Reads of this turn waiting to run together in one read transaction. */
  #reads: Job[] = [];
  #tx: Transactor;
  /** When the queued jobs started waiting for the lock (ms), while they wait. */
  #waitingSince: number | undefined;
  #backoff = POLL_FIRST;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** Whether a transaction of `exclusive()` is open: jobs stay queued until `end()`. */
  #held = false;
  /** Whether a transaction the queue began is open (a group's, the reads', exclusive()'s). */
  #inTxn = false;
  /** The last `exclusive()` call, so that a second one waits for the first to end. */
  #exclusive: Promise<void> = Promise.resolve();
  #ended: (() => void) | undefined;

  constructor(tx: Transactor) {
    this.#tx = tx;
  }

  /**
   * Runs a read job behind the queued writes when there are any. Else, with an engine that has
   * read transactions, the reads of this turn run together from a microtask in one of them:
   * SQLite otherwise begins and ends a read transaction per statement (two lock system calls
   * on the WAL index), about 1 µs of a 4-5 µs point read. Without them, the job runs now.
   * While an `exclusive()` transaction is open it runs at once too: the writes queued meanwhile
   * wait for the transaction, and a read waiting for them could wait for a caller that needs
   * the read. `snapshot`: see {@linkcode ReadOptions}.
   */
  read<T>(run: () => T, options?: ReadOptions): Promise<T> {
    const snapshot = options?.snapshot === true;
    if (this.#jobs.length > 0 && !this.#held) return this.#enqueue(run, false, snapshot);
    return new Promise<T>((resolve, reject) => {
      const job = { run, write: false, snapshot, resolve: resolve as (v: unknown) => void, reject };
      if (this.#tx.beginRead === undefined || this.#held) this.#runRead(job);
      else if (this.#reads.push(job) === 1) queueMicrotask(() => this.#runReads());
    });
  }

  /** Queues a write job; it commits with every other job of this turn. */
  write<T>(run: () => T): Promise<T> {
    return this.#enqueue(run, true);
  }

  /**
   * Runs everything queued. `wait` (used before close): runs now, waiting for the lock with
   * the engine's `begin` rather than polling later.
   */
  flush(options?: { wait?: boolean }): void {
    // Reads issued before the queued writes see the store before them.
    this.#runReads();
    if (this.#retry !== undefined) {
      clearTimeout(this.#retry);
      this.#retry = undefined;
    }
    if (this.#held) return;
    const jobs = this.#jobs;
    if (jobs.length === 0) return;
    if (!jobs.some((j) => j.write)) {
      this.#jobs = [];
      for (const j of jobs) this.#runRead(j);
      return;
    }
    let begun = false;
    if (this.#tx.tryBegin !== undefined && options?.wait !== true) {
      let failed = false;
      try {
        begun = this.#tx.tryBegin();
      } catch {
        // Not a busy lock: begin() below fails the same way and each job is replayed alone.
        failed = true;
      }
      if (!begun && !failed && this.#wait()) return;
    }
    this.#jobs = [];
    this.#waitingSince = undefined;
    this.#backoff = POLL_FIRST;
    const results: unknown[] = new Array(jobs.length);
    try {
      if (!begun) this.#tx.begin();
      this.#inTxn = true;
      try {
        for (let i = 0; i < jobs.length; i++) results[i] = jobs[i].run();
        this.#inTxn = false;
        this.#tx.commit();
      } catch (e) {
        this.#inTxn = false;
        this.#tx.rollback();
        throw e;
      }
    } catch {
      // One job failed (or the commit did): replay each alone so only its caller sees it.
      for (const j of jobs) this.#runAlone(j);
      return;
    }
    for (let i = 0; i < jobs.length; i++) jobs[i].resolve(results[i]);
  }

  /**
   * Commits everything queued so far, then begins a transaction for the caller (waiting for
   * another connection's lock as writes do: `tryBegin` polled for up to `lockWait` ms, then a
   * last `begin`) and holds every later write back until `end()`. Reads keep running at once
   * while nothing is queued. Rejects with the mapped error, holding nothing, when the lock or
   * the queued commit fails.
   */
  async exclusive(): Promise<void> {
    const previous = this.#exclusive;
    let ended!: () => void;
    this.#exclusive = new Promise<void>((resolve) => ended = resolve);
    await previous;
    this.#ended = ended;
    try {
      // Jobs queued before this call commit first (a no-op job waits for their group).
      if (this.#jobs.length > 0) await this.write(() => undefined).catch(() => {});
      this.#held = true;
      if (this.#retry !== undefined) {
        clearTimeout(this.#retry);
        this.#retry = undefined;
      }
      const since = Date.now();
      for (let backoff = POLL_FIRST;; backoff = Math.min(backoff * 1.5, POLL_CAP)) {
        if (this.#tx.tryBegin === undefined || Date.now() - since >= (this.#tx.lockWait ?? 5000)) {
          this.#tx.begin();
          this.#inTxn = true;
          return;
        }
        if (this.#tx.tryBegin(true)) {
          this.#inTxn = true;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random())));
      }
    } catch (e) {
      this.end();
      throw this.#mapError(e);
    }
  }

  /** Ends what `exclusive()` began (the caller committed or rolled back): queued jobs run. */
  end(): void {
    this.#held = false;
    this.#inTxn = false;
    this.#waitingSince = undefined;
    this.#backoff = POLL_FIRST;
    const ended = this.#ended;
    this.#ended = undefined;
    ended?.();
    if (this.#jobs.length > 0) queueMicrotask(() => this.flush());
  }

  /** Keeps the jobs queued and polls again later; `false` once the wait is over. */
  #wait(): boolean {
    const now = Date.now();
    this.#waitingSince ??= now;
    if (now - this.#waitingSince >= (this.#tx.lockWait ?? 5000)) return false;
    // Jitter keeps processes that wait for one lock from retrying in lockstep.
    const delay = this.#backoff * (0.5 + Math.random());
    this.#backoff = Math.min(this.#backoff * 1.5, POLL_CAP);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.flush();
    }, delay);
    return true;
  }

  /**
   * Runs this turn's reads: several, or one that needs a snapshot, in one read transaction
   * (a lone plain read makes its own; inside `exclusive()` one is open already).
   */
  #runReads(): void {
    const reads = this.#reads;
    if (reads.length === 0) return;
    this.#reads = [];
    if (!this.#inTxn && (reads.length > 1 || reads[0].snapshot === true)) {
      let begun = false;
      try {
        this.#tx.beginRead!();
        begun = true;
      } catch {
        // Each read then runs alone (a snapshot read beginning its own, failing as it fails).
      }
      if (begun) return this.#reading(() => reads.forEach((job) => this.#settle(job, job.run)));
    }
    for (const job of reads) this.#runRead(job);
  }

  /** Runs a read job now: inside a read transaction of its own if it needs a snapshot. */
  #runRead(job: Job): void {
    if (job.snapshot !== true || this.#inTxn || this.#tx.beginRead === undefined) {
      return this.#settle(job, job.run);
    }
    this.#settle(job, () => {
      this.#tx.beginRead!();
      return this.#reading(job.run);
    });
  }

  /** Runs `run` in the read transaction just begun, then ends it. */
  #reading<T>(run: () => T): T {
    this.#inTxn = true;
    try {
      return run();
    } finally {
      this.#inTxn = false;
      try {
        this.#tx.endRead!();
      } catch {
        // The reads are answered; a failure to end their transaction is the engine's to undo.
      }
    }
  }

  #mapError(e: unknown): unknown {
    return this.#tx.mapError === undefined ? e : this.#tx.mapError(e);
  }

  #settle(job: Job, run: () => unknown): void {
    try {
      job.resolve(run());
    } catch (e) {
      job.reject(this.#mapError(e));
    }
  }

  #enqueue<T>(run: () => T, write: boolean, snapshot = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job = { run, write, snapshot, resolve: resolve as (v: unknown) => void, reject };
      if (this.#jobs.push(job) === 1) queueMicrotask(() => this.flush());
    });
  }

  #runAlone(job: Job): void {
    if (!job.write) return this.#runRead(job);
    this.#settle(job, () => {
      this.#tx.begin();
      try {
        const result = job.run();
        this.#tx.commit();
        return result;
      } catch (e) {
        this.#tx.rollback();
        throw e;
      }
    });
  }
}
