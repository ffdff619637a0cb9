// The heads a deno-kv shard last wrote or read for a write, with their Deno KV versionstamps, so
// a plain write of a known key commits without reading its head first: the commit checks the
// remembered versionstamps, or the change mark while every remembered head is known current as
// of it, so a head another handle or process changed meanwhile fails the commit, which is then
// retried over freshly read heads. Only what a commit needs of a head is kept (version, expiry,
// chunks), never the value.
import type { Written } from "./_deno_kv_commit.ts";
import type { Head } from "./_deno_kv_layout.ts";
import type { Stored } from "./_deno_kv_read.ts";

const NO_VALUE = new Uint8Array(0);

/** Heads read for a write, and the checks that fail its commit if any changed since. */
export interface HeadsRead {
  heads: Map<string, Stored>;
  /** Versionstamp of the change mark: remembered (every remembered head is current as of it),
   * or read from the database before the heads. A commit over the heads checks it. */
  mark?: string | null;
  /** Whether the mark alone checks the commit: the heads are remembered (current as of the
   * mark) or were read after it. Else each head is checked too. */
  byMark?: boolean;
  /** Whether `mark` was read and differs from the remembered one: other remembered heads are
   * not known to be current as of it. */
  markMoved?: boolean;
  /** Whether the heads came from memory rather than from the database. */
  remembered?: boolean;
}

/** A bounded, least-recently-used memory of heads by key. */
export class KnownHeads {
  #heads = new Map<string, Stored>();
  #mark: string | null | undefined;
  #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * The remembered heads of `keys` and the mark when known, or `undefined` when a head is not
   * remembered or `withMark` and the mark is not known.
   */
  lookup(keys: readonly string[], withMark: boolean): HeadsRead | undefined {
    if (withMark && this.#mark === undefined) return undefined;
    const heads = new Map<string, Stored>();
    for (const key of keys) {
      const stored = this.#heads.get(key);
      if (stored === undefined) return undefined;
      heads.set(key, stored);
    }
    for (const [key, stored] of heads) this.#keep(key, stored);
    return { heads, mark: this.#mark, byMark: this.#mark !== undefined, remembered: true };
  }

  /**
   * Remembers what a successful commit over `read` left in the database. The mark is known only
   * while every remembered head is current as of it: a commit checked by the mark (nothing
   * changed since) keeps it so; one checked per key does not (other keys may have changed).
   */
  wrote(read: HeadsRead, written: Written): void {
    const { versionstamp } = written;
    // No atomic() ran when nothing changed: nothing was confirmed.
    const byMark = read.mark !== undefined && written.heads.size > 0 && versionstamp !== undefined;
    if (byMark && read.markMoved) {
      for (const key of [...this.#heads.keys()]) if (!read.heads.has(key)) this.#heads.delete(key);
    }
    for (const [key, stored] of read.heads) {
      if (!written.heads.has(key)) {
        this.#keep(key, slim(stored));
      } else if (versionstamp === undefined) {
        this.#heads.delete(key);
      } else {
        const head = written.heads.get(key);
        this.#keep(key, {
          hk: stored.hk,
          versionstamp: head === undefined ? null : versionstamp,
          head: head === undefined ? undefined : slimHead(head),
        });
      }
    }
    this.#mark = byMark ? versionstamp : undefined;
  }

  /** Forgets `keys` (and the mark), or everything. */
  forget(keys?: Iterable<string>): void {
    this.#mark = undefined;
    if (keys === undefined) this.#heads.clear();
    else for (const key of keys) this.#heads.delete(key);
  }

  /** The remembered heads among `keys`. */
  some(keys: readonly string[]): Map<string, Stored> {
    const heads = new Map<string, Stored>();
    for (const key of keys) {
      const stored = this.#heads.get(key);
      if (stored !== undefined) heads.set(key, stored);
    }
    return heads;
  }

  /** The remembered mark (see HeadsRead.mark). */
  get mark(): string | null | undefined {
    return this.#mark;
  }

  #keep(key: string, stored: Stored): void {
    this.#heads.delete(key);
    this.#heads.set(key, stored);
    if (this.#heads.size > this.#max) this.#heads.delete(this.#heads.keys().next().value!);
  }
}

function slim(stored: Stored): Stored {
  return stored.head === undefined || stored.head.inline === NO_VALUE
    ? stored
    : { ...stored, head: slimHead(stored.head) };
}

/** A head without its inline value (commits only look at version, expiry and chunks). */
function slimHead(head: Head): Head {
  return head.inline === undefined ? head : { ...head, inline: NO_VALUE };
}
