/**
 * `watch`: a stream of changes of some keys, or of every key under a prefix. Writes through the
 * same store object are seen at once; writes by other processes and store instances are found
 * by polling the shards whose data changed (drivers with `changes()`), or every shard.
 *
 * @module
 */
import type { Entry, RangeResult } from "./driver.ts";
import { versionstampOf } from "./atomic.ts";

/** One change of a watched key. */
export interface WatchEvent {
  /** The key that changed. */
  key: string;
  /** Its new value, `null` when it was deleted or expired. */
  value: Uint8Array | null;
  /** Its new versionstamp, `null` when it was deleted or expired. */
  versionstamp: string | null;
}

/** Options of {@linkcode Store.watch}. */
export interface WatchOptions {
  /** Ends the stream when aborted. */
  signal?: AbortSignal;
}

/** What watching needs from the engine. */
export interface WatchSource {
  readonly shards: number;
  shardOf(key: string): number;
  /** Live entries of `keys` on `shard`. */
  read(shard: number, keys: readonly string[]): Promise<Map<string, Entry>>;
  /** Live keys and values under `prefix` on `shard`. */
  range(shard: number, prefix: string): Promise<RangeResult>;
  /** The shard's change number, `undefined` when its driver has none. */
  changes(shard: number): Promise<number | undefined>;
  /** The newest version this store gave so far. */
  version(): number;
}

/** What a watcher remembers of a key: its version and a digest of its value. */
interface Seen {
  version: number;
  digest: number;
}

/** FNV-1a over the value bytes: a cheap digest to notice a rewrite by a driver without versions. */
function digestOf(value: Uint8Array): number {
  let h = 0x811c9dc5 ^ value.length;
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value[i], 0x01000193);
  return h >>> 0;
}

function changed(seen: Seen | undefined, e: Entry | undefined): boolean {
  if (seen === undefined || e === undefined) return seen !== e;
  const version = e.version ?? 0;
  if (version !== 0 && seen.version !== 0) return version !== seen.version;
  return digestOf(e.value) !== seen.digest;
}

function seenOf(e: Entry): Seen {
  return { version: e.version ?? 0, digest: digestOf(e.value) };
}

/** One `watch()` stream. */
class Watcher {
  readonly keys: ReadonlySet<string> | undefined;
  readonly prefix: string | undefined;
  #source: WatchSource;
  #seen = new Map<string, Seen>();
  /** Events not yet taken by the reader: one per key, the newest. */
  #pending = new Map<string, WatchEvent>();
  #wake: (() => void) | undefined;
  #dirty = new Set<string>();
  #flushing: Promise<void> | undefined;
  #ready: Promise<void>;
  #turn: Promise<void>;
  #loaded = false;
  /** Keys written through this store while the baseline was read: each is a change. */
  #early = new Set<string>();
  /** Keys whose state the baseline read (present or missing). */
  #noted = new Set<string>();
  #since: number;
  closed = false;
  readonly stream: ReadableStream<WatchEvent>;
  #onClose: () => void;

  constructor(
    source: WatchSource,
    target: { keys?: readonly string[]; prefix?: string },
    onClose: () => void,
  ) {
    this.#source = source;
    this.keys = target.keys === undefined ? undefined : new Set(target.keys);
    this.prefix = target.prefix;
    this.#onClose = onClose;
    this.#since = source.version();
    this.#ready = this.#baseline().catch((e) => this.#fail(e));
    this.#turn = this.#ready;
    this.stream = new ReadableStream<WatchEvent>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
  }

  wants(key: string): boolean {
    return this.keys !== undefined ? this.keys.has(key) : key.startsWith(this.prefix!);
  }

  /** Keys of this store that were written: read them again soon. */
  touched(keys: readonly string[]): void {
    for (const key of keys) {
      if (!this.wants(key)) continue;
      this.#dirty.add(key);
      if (!this.#loaded) this.#early.add(key);
    }
    if (this.#dirty.size > 0 && this.#flushing === undefined) {
      this.#flushing = this.#serial(async () => {
        await new Promise((r) => setTimeout(r, 0));
        await this.#flush();
      });
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#dirty.size > 0 && !this.closed) {
        const keys = [...this.#dirty];
        this.#dirty.clear();
        await this.#readKeys(keys);
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#flushing = undefined;
    }
  }

  /**
   * Reads the current state. Entries written since the watch began are reported: those with a
   * newer version, and those this store wrote meanwhile (for drivers without versions).
   */
  async #baseline(): Promise<void> {
    const since = this.#since;
    const note = (key: string, e: Entry) => {
      this.#noted.add(key);
      this.#seen.set(key, seenOf(e));
      if ((e.version ?? 0) > since || this.#early.has(key)) this.#emit(key, e);
      this.#early.delete(key);
    };
    if (this.keys !== undefined) {
      for (const [shard, keys] of this.#byShard([...this.keys])) {
        const found = await this.#source.read(shard, keys);
        for (const key of keys) {
          const e = found.get(key);
          if (e !== undefined) note(key, e);
          else if (!this.#early.has(key)) this.#noted.add(key);
        }
      }
    } else {
      for (let shard = 0; shard < this.#source.shards; shard++) {
        for (const [key, e] of await this.#rangeEntries(shard)) note(key, e);
      }
    }
    // Written through this store after their key or shard was read: report what changed (or
    // everything, for a key whose earlier state is unknown).
    while (this.#early.size > 0) {
      const keys = [...this.#early];
      this.#early.clear();
      for (const [shard, list] of this.#byShard(keys)) {
        const found = await this.#source.read(shard, list);
        for (const key of list) {
          const known = this.#noted.has(key);
          this.#noted.add(key);
          this.#update(key, this.#seen.get(key), found.get(key), !known);
        }
      }
    }
    this.#noted.clear();
    this.#loaded = true;
  }

  /**
   * Runs reads one at a time, after the baseline: a read that started before a write cannot
   * finish after a later read and report the older state as a change.
   */
  #serial(run: () => Promise<void>): Promise<void> {
    const next = this.#turn.then(run);
    this.#turn = next.catch(() => {});
    return next;
  }

  /** Polls the shards in `shards`, reporting what changed. */
  poll(shards: readonly number[]): Promise<void> {
    return this.#serial(() => this.#poll(shards));
  }

  async #poll(shards: readonly number[]): Promise<void> {
    if (this.closed) return;
    try {
      if (this.keys !== undefined) {
        const mine = new Set(shards);
        await this.#readKeys([...this.keys].filter((k) => mine.has(this.#source.shardOf(k))));
        return;
      }
      for (const shard of shards) {
        const now = await this.#rangeEntries(shard);
        for (const [key, seen] of this.#seen) {
          if (this.#source.shardOf(key) === shard && !now.has(key)) {
            this.#update(key, seen, undefined);
          }
        }
        for (const [key, e] of now) this.#update(key, this.#seen.get(key), e);
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /** The prefix's live entries on `shard`, with versions for keys that look changed. */
  async #rangeEntries(shard: number): Promise<Map<string, Entry>> {
    const r = await this.#source.range(shard, this.prefix!);
    const out = new Map<string, Entry>();
    const stale: string[] = [];
    for (let i = 0; i < r.keys.length; i++) {
      const key = r.keys[i];
      const seen = this.#seen.get(key);
      const e = { value: r.values[i], expiresAt: null };
      if (seen !== undefined && seen.digest === digestOf(e.value)) {
        out.set(key, { ...e, version: seen.version });
      } else stale.push(key);
    }
    // A range carries no versions: read them for the keys that are new or changed.
    if (stale.length > 0) {
      for (const [key, e] of await this.#source.read(shard, stale)) out.set(key, e);
    }
    return out;
  }

  async #readKeys(keys: readonly string[]): Promise<void> {
    for (const [shard, list] of this.#byShard(keys)) {
      const found = await this.#source.read(shard, list);
      for (const key of list) this.#update(key, this.#seen.get(key), found.get(key));
    }
  }

  /** Records and reports `e` as the state of `key` if it differs from `seen` (or `always`). */
  #update(key: string, seen: Seen | undefined, e: Entry | undefined, always = false): void {
    if (!always && !changed(seen, e)) return;
    if (e === undefined) this.#seen.delete(key);
    else this.#seen.set(key, seenOf(e));
    this.#emit(key, e);
  }

  #emit(key: string, e: Entry | undefined): void {
    this.#pending.set(key, {
      key,
      value: e?.value ?? null,
      versionstamp: e === undefined ? null : versionstampOf(e.version ?? 0),
    });
    this.#wake?.();
  }

  #byShard(keys: readonly string[]): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const key of keys) {
      const i = this.#source.shardOf(key);
      const list = out.get(i);
      if (list === undefined) out.set(i, [key]);
      else list.push(key);
    }
    return out;
  }

  #failure: unknown;

  #fail(e: unknown): void {
    if (this.closed) return;
    this.#failure = e;
    this.#wake?.();
  }

  async #pull(controller: ReadableStreamDefaultController<WatchEvent>): Promise<void> {
    while (this.#pending.size === 0 && !this.closed && this.#failure === undefined) {
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = undefined;
    }
    if (this.#failure !== undefined) {
      this.closed = true;
      this.#onClose();
      controller.error(this.#failure);
      return;
    }
    for (const event of this.#pending.values()) controller.enqueue(event);
    this.#pending.clear();
    if (this.closed) controller.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#pending.clear();
    this.#onClose();
    this.#wake?.();
  }
}

/** Every watcher of one store, and the poll that finds other processes' writes. */
export class WatchHub {
  #source: WatchSource;
  #watchers = new Set<Watcher>();
  #marks: (number | undefined)[];
  #polling = false;
  #interval: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(source: WatchSource, interval: number) {
    this.#source = source;
    this.#interval = interval;
    this.#marks = Array.from({ length: source.shards }, () => undefined);
  }

  get size(): number {
    return this.#watchers.size;
  }

  watch(
    target: { keys?: readonly string[]; prefix?: string },
    signal: AbortSignal | undefined,
  ): ReadableStream<WatchEvent> {
    const w: Watcher = new Watcher(this.#source, target, () => {
      this.#watchers.delete(w);
      signal?.removeEventListener("abort", abort);
      if (this.#watchers.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    });
    const abort = () => w.close();
    this.#watchers.add(w);
    // Polls only while someone watches: an open watch keeps the process alive, like a socket.
    this.#timer ??= setInterval(() => void this.poll(), this.#interval);
    if (signal !== undefined) {
      if (signal.aborted) w.close();
      else signal.addEventListener("abort", abort, { once: true });
    }
    return w.stream;
  }

  /** Keys written through this store. */
  touched(keys: readonly string[]): void {
    for (const w of this.#watchers) w.touched(keys);
  }

  /** Reads again what changed on any shard since the last poll; overlapping polls are skipped. */
  async poll(): Promise<void> {
    if (this.#polling || this.#watchers.size === 0) return;
    this.#polling = true;
    try {
      const moved: number[] = [];
      for (let shard = 0; shard < this.#source.shards; shard++) {
        const mark = await this.#source.changes(shard);
        if (mark === undefined || mark !== this.#marks[shard]) moved.push(shard);
        this.#marks[shard] = mark;
      }
      if (moved.length > 0) await Promise.all([...this.#watchers].map((w) => w.poll(moved)));
    } catch {
      // The next poll tries again; a watcher's own read errors end its stream.
    } finally {
      this.#polling = false;
    }
  }

  close(): void {
    for (const w of [...this.#watchers]) w.close();
  }
}
