// The writes of one shard that are in flight, in the order they were called, so that a read can
// wait for exactly those called before it. Waiting until no write is in flight at all would
// starve reads under a steady stream of writes; a read waits only for writes older than itself.

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
  /** Readers, oldest first; their `upTo` never decreases along the list. */
  #waiters: Waiter[] = [];

  /** Records a write called now; the returned function marks it settled (call it once). */
  begin(): () => void {
    const n = this.#next++;
    return () => this.#settle(n);
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

  #settle(n: number): void {
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
