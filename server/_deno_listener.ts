// The RESP listener on Deno.listen. Loaded only under Deno (see server/mod.ts); the connection
// logic is shared (_listener.ts), this file only moves bytes.
import {
  AcceptBackoff,
  type ConnectionEvents,
  type Listen,
  type ListenerHandle,
  type Transport,
} from "./_listener.ts";
import { pollTurn, sliceOver } from "./_cmd_context.ts";

/** The part of Deno's TCP connection used here. */
interface DenoConn {
  read(buffer: Uint8Array): Promise<number | null>;
  /** Bytes written, possibly fewer than given. */
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
  closeWrite(): Promise<void>;
  setNoDelay?(noDelay?: boolean): void;
}

interface DenoListener {
  readonly addr: { port: number };
  accept(): Promise<DenoConn>;
  close(): void;
}

interface DenoApi {
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListener;
  addSignalListener(signal: "SIGWINCH", handler: () => void): void;
  removeSignalListener(signal: "SIGWINCH", handler: () => void): void;
}

/**
 * Deno 2.9 starts its signal handling lazily, about a second after startup, and panics (exits)
 * when no file descriptor is free at that moment, e.g. when clients use up the limit right away.
 * Registering a listener for a signal that is ignored by default starts it now, while fds are
 * free (not needed, and not possible, on Windows).
 */
function startSignalHandling(api: DenoApi): void {
  const noop = (): void => {};
  try {
    api.addSignalListener("SIGWINCH", noop);
    api.removeSignalListener("SIGWINCH", noop);
  } catch {
    // No SIGWINCH on this platform.
  }
}

function deno(): DenoApi {
  const api = (globalThis as { Deno?: Partial<DenoApi> }).Deno;
  if (typeof api?.listen !== "function") throw new Error("Deno.listen is not available");
  return api as DenoApi;
}

const READ_SIZE = 64 * 1024;
/** A read this large comes from a client sending much more than requests and replies take. */
const BUSY_READ = 16 * 1024;
/** Replies waiting for the socket are merged into writes of up to this many bytes. */
const COALESCE_MAX = 64 * 1024;
/** How long a closing connection keeps draining the client's input (see `#finish`). */
const LINGER_MS = 1000;

/** A read loop (stopped while paused) and a write loop over one connection. */
class DenoTransport implements Transport {
  queued = 0;
  #conn: DenoConn;
  #events: ConnectionEvents | undefined;
  #pending: Uint8Array[] = [];
  #writing = false;
  #endAfterFlush = false;
  #closed = false;
  #resume: (() => void) | undefined;
  #paused = false;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: DenoConn) {
    this.#conn = conn;
    // Replies are written whole per read, so Nagle's delay would only add latency. (Set before
    // any write: Deno refuses it while a write holds the socket.)
    conn.setNoDelay?.(true);
  }

  /** Reads until the client leaves or the connection is closed. */
  async run(events: ConnectionEvents): Promise<void> {
    this.#events = events;
    const buffer = new Uint8Array(READ_SIZE);
    try {
      while (!this.#closed) {
        if (this.#paused) await new Promise<void>((resolve) => this.#resume = resolve);
        if (this.#closed) break;
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        events.data(buffer.subarray(0, n));
        // A client that keeps sending (large reads) finds data at every read and would keep the
        // loop from polling the other sockets: after a slice of work, wait for a timer first.
        if (n >= BUSY_READ && sliceOver()) await pollTurn();
      }
    } catch {
      // A reset or closed connection ends this client only.
    } finally {
      this.destroy();
    }
  }

  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#pending.push(bytes);
    this.queued += bytes.byteLength;
    if (!this.#writing) this.#writeLoop();
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#pending.length > 0) {
        const bytes = this.#coalesce();
        const n = await this.#conn.write(bytes);
        this.queued -= n;
        if (n < bytes.byteLength) this.#pending[0] = bytes.subarray(n);
        else this.#pending.shift();
      }
    } catch {
      this.destroy();
      return;
    } finally {
      this.#writing = false;
    }
    if (this.#endAfterFlush) this.#finish();
    else this.#events?.drain();
  }

  /**
   * The first pending chunk, merged with the small ones after it (replies that piled up while a
   * write was in flight), so they go out in one write.
   */
  #coalesce(): Uint8Array {
    const pending = this.#pending;
    if (pending.length === 1 || pending[0].byteLength >= COALESCE_MAX) return pending[0];
    let count = 0;
    let size = 0;
    while (count < pending.length && size + pending[count].byteLength <= COALESCE_MAX) {
      size += pending[count++].byteLength;
    }
    if (count < 2) return pending[0];
    const merged = new Uint8Array(size);
    let at = 0;
    for (let i = 0; i < count; i++) {
      merged.set(pending[i], at);
      at += pending[i].byteLength;
    }
    pending.splice(0, count, merged);
    return merged;
  }

  /**
   * Ends the sending side and keeps reading (and dropping) what the client still sends for up
   * to LINGER_MS: closing with unread input would reset the connection, and the client could
   * lose the last reply (a protocol error's message).
   */
  #finish(): void {
    this.#conn.closeWrite().catch(() => this.destroy());
    this.#linger = setTimeout(() => this.destroy(), LINGER_MS);
    this.resume();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#resume?.();
    this.#resume = undefined;
  }

  end(): void {
    if (this.#endAfterFlush) return;
    this.#endAfterFlush = true;
    if (!this.#writing) this.#finish();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#linger);
    this.#pending.length = 0;
    this.queued = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
    this.#resume?.();
    this.#events?.closed();
  }
}

export const listen: Listen = (address, accept, log) => {
  const api = deno();
  startSignalHandling(api);
  const listener = api.listen({ ...address, transport: "tcp" });
  let closing = false;
  let wake: (() => void) | undefined;
  const backoff = new AcceptBackoff(log);
  const accepting = (async () => {
    while (!closing) {
      let conn: DenoConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (closing) break;
        // EMFILE/ENFILE and the like: the listener is still good; wait and accept again.
        const delay = backoff.failed(e);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      backoff.succeeded();
      const transport = new DenoTransport(conn);
      try {
        transport.run(accept(transport)).catch(() => transport.destroy());
      } catch (e) {
        log(`shardkv server: dropping a connection: ${e}`);
        transport.destroy();
      }
    }
  })();
  const handle: ListenerHandle = {
    port: listener.addr.port,
    async close() {
      closing = true;
      listener.close();
      wake?.();
      await accepting;
    },
  };
  return Promise.resolve(handle);
};
