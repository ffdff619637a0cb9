// A one-way channel between two threads over a SharedArrayBuffer ring: the sender copies each
// frame (bytes it encoded itself) into the ring and bumps a counter; the receiver waits on that
// counter with Atomics.waitAsync, so a frame costs a memcpy each way and no structured clone.
// A frame too large for the ring travels by postMessage instead, announced by a marker in the
// ring so frames still arrive in the order they were sent; a full ring holds frames back in the
// sender until the receiver has made room.
//
// Written here because no runtime or npm package offers a ring over SharedArrayBuffer with
// waitAsync that runs on Deno, Bun and Node alike. Used by bench/transport.ts to measure it
// against postMessage; kept out of the package until it wins there.

/** Int32 slots of the header. */
const SENT = 0; // frames written (the receiver waits on it)
const TAKEN = 1; // frames read (the sender waits on it when the ring is full)
const RECEIVER_WAITING = 2;
const SENDER_WAITING = 3;
const READ_POS = 4; // byte offset of the next unread frame, published by the receiver
const HEADER = 64;

/** Length word of a frame that did not fit: the receiver goes back to offset 0. */
const WRAP = -1;
/** Length word of a frame sent by postMessage. */
const POSTED = -2;

/** A ring's shared memory: pass it to the other thread (e.g. in `workerData`). */
export function createRing(capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + (capacity & ~3));
}

interface RingViews {
  head: Int32Array;
  bytes: Uint8Array;
  words: Int32Array;
  capacity: number;
}

function views(sab: SharedArrayBuffer): RingViews {
  const capacity = sab.byteLength - HEADER;
  return {
    head: new Int32Array(sab, 0, HEADER / 4),
    bytes: new Uint8Array(sab, HEADER, capacity),
    words: new Int32Array(sab, HEADER, capacity / 4),
    capacity,
  };
}

const align = (n: number): number => (n + 3) & ~3;

/** Writes frames into a ring. */
export class RingSender {
  #v: RingViews;
  #pos = 0;
  #post: (frame: Uint8Array) => void;
  /** Frames waiting for room, in order. */
  #held: Uint8Array[] = [];
  #waiting = false;

  /** `post` carries a frame too large for the ring (e.g. `port.postMessage`). */
  constructor(sab: SharedArrayBuffer, post: (frame: Uint8Array) => void) {
    this.#v = views(sab);
    this.#post = post;
  }

  /** Sends `frame`; the bytes are copied, so the caller may reuse them. */
  send(frame: Uint8Array): void {
    if (this.#held.length > 0 || !this.#write(frame)) {
      this.#held.push(frame.slice());
      this.#waitForRoom();
    }
  }

  /** Writes one frame now, or returns false when the ring has no room for it. */
  #write(frame: Uint8Array): boolean {
    const { head, bytes, words, capacity } = this.#v;
    // Frames over a quarter of the ring go by postMessage; the ring carries a marker.
    const posted = frame.length > capacity / 4;
    const size = posted ? 4 : 4 + align(frame.length);
    const read = Atomics.load(head, READ_POS);
    let at = this.#pos;
    // Never fill the ring completely: equal positions must mean empty.
    if (at >= read) {
      if (capacity - at < size || (capacity - at === size && read === 0)) {
        if (size >= read) return false;
        if (capacity - at >= 4) words[at >> 2] = WRAP;
        at = 0;
      }
    } else if (read - at <= size) return false;
    if (posted) {
      words[at >> 2] = POSTED;
      this.#post(frame.slice());
    } else {
      words[at >> 2] = frame.length;
      bytes.set(frame, at + 4);
    }
    at += size;
    this.#pos = at === capacity ? 0 : at;
    Atomics.add(head, SENT, 1);
    if (Atomics.load(head, RECEIVER_WAITING) !== 0) Atomics.notify(head, SENT);
    return true;
  }

  /** Sends held frames as the receiver makes room. */
  async #waitForRoom(): Promise<void> {
    if (this.#waiting) return;
    this.#waiting = true;
    const { head } = this.#v;
    try {
      while (this.#held.length > 0) {
        const taken = Atomics.load(head, TAKEN);
        if (this.#write(this.#held[0])) {
          this.#held.shift();
          continue;
        }
        Atomics.store(head, SENDER_WAITING, 1);
        const w = Atomics.waitAsync(head, TAKEN, taken);
        if (w.async) await w.value;
        Atomics.store(head, SENDER_WAITING, 0);
      }
    } finally {
      this.#waiting = false;
    }
  }
}

/** Reads frames from a ring, in order, and hands each to `onFrame`. */
export class RingReceiver {
  #v: RingViews;
  #pos = 0;
  #onFrame: (frame: Uint8Array) => void;
  /** Frames that came by postMessage, not yet reached in the ring. */
  #posted: Uint8Array[] = [];
  #blocked = false;
  #running = false;
  #stopped = false;
  #seen = 0;

  constructor(sab: SharedArrayBuffer, onFrame: (frame: Uint8Array) => void) {
    this.#v = views(sab);
    this.#onFrame = onFrame;
  }

  /** Gives the receiver a frame that came by postMessage. */
  posted(frame: Uint8Array): void {
    this.#posted.push(frame);
    if (this.#blocked) {
      this.#blocked = false;
      this.drain();
    }
  }

  /**
   * Reads every frame sent so far. Returns false when it stopped at a marker whose posted
   * frame has not arrived yet (`posted` resumes it).
   */
  drain(): boolean {
    const { head, words, bytes, capacity } = this.#v;
    for (;;) {
      const sent = Atomics.load(head, SENT);
      if (sent === this.#seen) return true;
      let at = this.#pos;
      if (capacity - at < 4 || words[at >> 2] === WRAP) at = 0;
      const len = words[at >> 2];
      let frame: Uint8Array;
      let size: number;
      if (len === POSTED) {
        if (this.#posted.length === 0) {
          this.#pos = at;
          this.#blocked = true;
          return false;
        }
        frame = this.#posted.shift()!;
        size = 4;
      } else {
        frame = bytes.slice(at + 4, at + 4 + len);
        size = 4 + align(len);
      }
      at += size;
      this.#pos = at === capacity ? 0 : at;
      this.#seen++;
      Atomics.store(head, READ_POS, this.#pos);
      Atomics.add(head, TAKEN, 1);
      if (Atomics.load(head, SENDER_WAITING) !== 0) Atomics.notify(head, TAKEN);
      this.#onFrame(frame);
    }
  }

  /** Waits for frames and reads them until `stop`. */
  async run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const { head } = this.#v;
    try {
      while (!this.#stopped) {
        if (!this.drain()) {
          // Resumed by `posted`; poll the ring meanwhile at a slower pace.
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        Atomics.store(head, RECEIVER_WAITING, 1);
        const seen = this.#seen;
        // A frame sent between the drain and the flag would otherwise wait for the next one.
        if (Atomics.load(head, SENT) !== seen) {
          Atomics.store(head, RECEIVER_WAITING, 0);
          continue;
        }
        const w = Atomics.waitAsync(head, SENT, seen);
        if (w.async) await w.value;
        Atomics.store(head, RECEIVER_WAITING, 0);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Ends `run` after the next frame or wake-up. */
  stop(): void {
    this.#stopped = true;
    Atomics.notify(this.#v.head, SENT);
  }
}
