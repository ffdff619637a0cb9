// The writes of one shard that are in flight, in the order they were called, so that a read can
// wait for exactly those called before it that it could observe: a point read for the writes of
// its key (and of whole-shard writes), a scan for all of them. Waiting until no write is in
// flight at all would starve reads under a steady stream of writes. Writes may settle in any
// order, so a read waits for every earlier write of its key, not only the newest. A later write
// waits only for the "blocking" writes of its keys: those that read before they write, until
// they settle, and writes that wait for those, until they reach the driver (`hold`); plain
// writes reach the driver in call order and stay in it.

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
  /** The writes of each key in flight. */
  #byKey = new Map<string, number[]>();
  /** The blocking writes of each key in flight (see `begin`). */
  #blocking = new Map<string, number[]>();
  /** Writes in flight of keys not known beforehand (prefix deletes). */
  #wide = new Set<number>();
  /** Readers of one write (or hold, numbered below 0), by its number. */
  #oneWaiters = new Map<number, (() => void)[]>();
  /** The number of the last hold. */
  #holds = 0;

  /**
   * Records a write of `keys` (absent: of keys not known beforehand, which blocks every key)
   * called now; `blocking`: later writes of its keys must wait for it. The returned function
   * marks it settled (call it once).
   */
  begin(keys?: readonly string[], blocking = false): () => void {
    const n = this.#next++;
    if (keys === undefined) this.#wide.add(n);
    else {
      add(this.#byKey, keys, n);
      if (blocking) add(this.#blocking, keys, n);
    }
    return () => {
      if (keys === undefined) this.#wide.delete(n);
      else {
        remove(this.#byKey, keys, n);
        if (blocking) remove(this.#blocking, keys, n);
      }
      this.#settle(n);
    };
  }

  /**
   * Holds later writes of `keys` back (as a blocking write would, see `beforeKey`) until the
   * returned function is called: a write waiting for a blocking one holds the writes called
   * after it until it reaches the driver, so that they cannot overtake it.
   */
  hold(keys: readonly string[]): () => void {
    const n = --this.#holds;
    add(this.#blocking, keys, n);
    return () => {
      remove(this.#blocking, keys, n);
      this.#wakeOne(n);
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

  /**
   * As `before`, for the writes begun so far that may change `key`; `blockingOnly`: only those
   * a later write must wait for.
   */
  beforeKey(key: string, blockingOnly = false): Promise<unknown> | undefined {
    if (this.#done === this.#next) return undefined;
    const own = (blockingOnly ? this.#blocking : this.#byKey).get(key);
    if (own === undefined && this.#wide.size === 0) return undefined;
    const writes = own === undefined ? [...this.#wide] : [...own, ...this.#wide];
    return writes.length === 1
      ? this.#one(writes[0])
      : Promise.all(writes.map((n) => this.#one(n)));
  }

  /** Resolves once write `n` (in flight) has settled. */
  #one(n: number): Promise<void> {
    return new Promise((wake) => {
      const list = this.#oneWaiters.get(n);
      if (list === undefined) this.#oneWaiters.set(n, [wake]);
      else list.push(wake);
    });
  }

  #wakeOne(n: number): void {
    const ones = this.#oneWaiters.get(n);
    if (ones === undefined) return;
    this.#oneWaiters.delete(n);
    for (const wake of ones) wake();
  }

  #settle(n: number): void {
    this.#wakeOne(n);
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

function add(map: Map<string, number[]>, keys: readonly string[], n: number): void {
  for (const key of keys) {
    const list = map.get(key);
    if (list === undefined) map.set(key, [n]);
    else if (list.at(-1) !== n) list.push(n);
  }
}

function remove(map: Map<string, number[]>, keys: readonly string[], n: number): void {
  for (const key of keys) {
    const list = map.get(key);
    if (list === undefined) continue;
    const at = list.indexOf(n);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) map.delete(key);
  }
}
