// Group commit for a synchronous storage engine. Writes issued in the same event-loop turn
// are queued and run in one transaction from a microtask; each caller's promise settles only
// after that commit. Reads run at once when nothing is queued, else in line with the writes,
// so every caller sees the order in which it issued its calls.

/** How the queue starts and ends a transaction on the engine. */
export interface Transactor {
  begin(): void;
  commit(): void;
  rollback(): void;
  /** Turns an error of a job or of the engine into the one its caller sees (default: as is). */
  mapError?(error: unknown): unknown;
}

interface Job {
  run: () => unknown;
  write: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class CommitQueue {
  #jobs: Job[] = [];
  #tx: Transactor;

  constructor(tx: Transactor) {
    this.#tx = tx;
  }

  /** Runs a read job now when nothing is queued, else queues it behind the writes. */
  read<T>(run: () => T): Promise<T> {
    if (this.#jobs.length > 0) return this.#enqueue(run, false);
    try {
      return Promise.resolve(run());
    } catch (e) {
      return Promise.reject(this.#mapError(e));
    }
  }

  /** Queues a write job; it commits with every other job of this turn. */
  write<T>(run: () => T): Promise<T> {
    return this.#enqueue(run, true);
  }

  /** Runs everything queued now (used before close). */
  flush(): void {
    const jobs = this.#jobs;
    if (jobs.length === 0) return;
    this.#jobs = [];
    if (!jobs.some((j) => j.write)) {
      for (const j of jobs) this.#settle(j, j.run);
      return;
    }
    const results: unknown[] = new Array(jobs.length);
    try {
      this.#tx.begin();
      try {
        for (let i = 0; i < jobs.length; i++) results[i] = jobs[i].run();
        this.#tx.commit();
      } catch (e) {
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

  #enqueue<T>(run: () => T, write: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#jobs.push({ run, write, resolve: resolve as (v: unknown) => void, reject }) === 1) {
        queueMicrotask(() => this.flush());
      }
    });
  }

  #runAlone(job: Job): void {
    if (!job.write) return this.#settle(job, job.run);
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
