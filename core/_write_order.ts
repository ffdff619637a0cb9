// The writes of one shard that are in flight, in the order they were called, so that a read can
// wait for exactly those called before it that it could observe: a point read for the writes of
// its key (and of whole-shard writes), a scan for all of them. Waiting until no write is in
// flight at all would starve reads under a steady stream of writes.

interface Waiter {
  /** The newest write the reader waits for. */
  upTo: number;
  wake: () => void;
}

export class WriteOrder {
  /** The number the next write gets. */
  #next = 0;
  /** Every write numbered below this has settled. */
  #done = 0;
  /** Writes at or above `#done` that settled before an older one did. */
  #early = new Set<number>();
  /** Readers of every write up to `upTo`, oldest first (so `upTo` never decreases). */
  #waiters: Waiter[] = [];
  /** The newest write of each key while it is in flight. */
  #byKey = new Map<string, number>();
  /** The newest write of keys not known beforehand (a prefix delete), while in flight. */
  #wide = -1;
  /** Readers of one write, by its number. */
  #oneWaiters = new Map<number, (() => void)[]>();

  /**
   * Records a write of `keys` (absent: of keys not known beforehand) called now; the returned
   * function marks it settled (call it once).
   */
  begin(keys?: readonly string[]): () => void {
    const n = this.#next++;
    if (keys === undefined) this.#wide = n;
    else for (const key of keys) this.#byKey.set(key, n);
    return () => {
      if (keys !== undefined) {
        for (const key of keys) if (this.#byKey.get(key) === n) this.#byKey.delete(key);
      }
      this.#settle(n);
    };
  }

  /**
   * Resolves once every write begun so far has settled; `undefined` (nothing to wait for) when
   * none is in flight, so the common read costs no promise.
   */
  before(): Promise<void> | undefined {
    if (this.#done === this.#next) return undefined;
    const upTo = this.#next - 1;
    return new Promise((wake) => this.#waiters.push({ upTo, wake }));
  }

  /** As `before`, for the writes begun so far that may change `key`. */
  beforeKey(key: string): Promise<unknown> | undefined {
    if (this.#done === this.#next) return undefined;
    const own = this.#byKey.get(key);
    const wide = this.#wide >= 0 && !this.#settled(this.#wide) ? this.#wide : undefined;
    if (own === undefined) return wide === undefined ? undefined : this.#one(wide);
    return wide === undefined ? this.#one(own) : Promise.all([this.#one(own), this.#one(wide)]);
  }

  #settled(n: number): boolean {
    return n < this.#done || this.#early.has(n);
  }

  /** Resolves once write `n` (in flight) has settled. */
  #one(n: number): Promise<void> {
    return new Promise((wake) => {
      const list = this.#oneWaiters.get(n);
      if (list === undefined) this.#oneWaiters.set(n, [wake]);
      else list.push(wake);
    });
  }

  #settle(n: number): void {
    const ones = this.#oneWaiters.get(n);
    if (ones !== undefined) {
      this.#oneWaiters.delete(n);
      for (const wake of ones) wake();
    }
    if (n !== this.#done) {
      this.#early.add(n);
      return;
    }
    this.#done++;
    while (this.#early.delete(this.#done)) this.#done++;
    let woken = 0;
    while (woken < this.#waiters.length && this.#waiters[woken].upTo < this.#done) {
      this.#waiters[woken++].wake();
    }
    if (woken > 0) this.#waiters.splice(0, woken);
  }
}
