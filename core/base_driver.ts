// What the built-in drivers share: the clock, the closed state, and counters written once over
// each driver's atomic read-modify-write.
import { encodeCounter, nextCounter } from "./counter.ts";
import type { Checks, Driver, Entry, RangeQuery, RangeResult, WriteOp } from "./driver.ts";
import { StoreClosedError } from "./errors.ts";

/** What a read-modify-write decides: the new entry (`null`: delete; absent: unchanged). */
export interface Update<R> {
  next?: Entry | null;
  result: R;
}

export abstract class BaseDriver implements Driver {
  readonly now: () => number;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(now: () => number) {
    this.now = now;
  }

  abstract getEntries(keys: readonly string[]): Promise<Map<string, Entry>>;
  abstract range(q: RangeQuery): Promise<RangeResult>;
  abstract apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean>;
  abstract remove(keys: readonly string[]): Promise<number>;
  abstract sweep(max: number): Promise<number>;
  /** Atomically reads `key` (live entry or undefined) and applies what `fn` decides. */
  protected abstract update<R>(
    key: string,
    fn: (current: Entry | undefined) => Update<R>,
  ): Promise<R>;
  /** Releases resources; called once. */
  protected abstract closeBackend(): Promise<void>;

  /** Throws StoreClosedError once closed. */
  check(operation: string): void {
    if (this.#closed) throw new StoreClosedError(operation);
  }

  add(key: string, by: number, version?: number): Promise<number> {
    return this.update(key, (current) => {
      const n = nextCounter(key, current?.value, by);
      return {
        next: { value: encodeCounter(n), expiresAt: current?.expiresAt ?? null, version },
        result: n,
      };
    });
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#closing = this.closeBackend();
    }
    return this.#closing;
  }
}
