// The RESP listener on Bun.listen. Loaded only under Bun (see server/mod.ts); the connection
// logic is shared (_listener.ts), this file only moves bytes.
import { setImmediate } from "node:timers";
import type { ConnectionEvents, Listen, ListenerHandle, Transport } from "./_listener.ts";

/** The part of Bun's TCP socket used here. */
interface BunSocket {
  data: BunTransport;
  /** Bytes written; fewer than given when the send buffer is full (-1 once closed). */
  write(bytes: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(noDelay?: boolean): boolean;
}

interface BunSocketHandlers {
  open(socket: BunSocket): void;
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  close(socket: BunSocket): void;
  error(socket: BunSocket, error: Error): void;
}

interface BunTcpListener {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunApi {
  listen(options: { hostname: string; port: number; socket: BunSocketHandlers }): BunTcpListener;
}

function bun(): BunApi {
  const api = (globalThis as { Bun?: Partial<BunApi> }).Bun;
  if (typeof api?.listen !== "function") throw new Error("Bun.listen is not available");
  return api as BunApi;
}

/** Replies larger than this are sent at once (not copied to wait for the end of the turn). */
const DEFER_MAX = 16 * 1024;

/**
 * Bun's `socket.write` is a send system call, and a send to a client that sleeps in
 * `epoll_wait` also wakes it up (on a VM an inter-processor interrupt: measured here as half the
 * cost of a send). Replies made while a turn's reads are handled wait in the outbox and go out
 * together once those reads are done (as redis-server sends before it sleeps), so a client woken
 * by the first reply takes the others without being woken again. Replies made later in the turn
 * (a SET batch's commit) are already together and go out at once. Measured with
 * `redis-benchmark -c 10` (alternating runs, medians): GET 1.06x (SQLite) and 1.1x (memory).
 */
const outbox: BunTransport[] = [];
/** Whether the current turn's reads are being handled (from its first `data` to its end). */
let reading = false;

/** Starts a turn's reads: its end (the next immediate) sends the outbox. */
function reads(): void {
  if (reading) return;
  reading = true;
  setImmediate(readsDone);
}

function readsDone(): void {
  reading = false;
  // A connection paused on these bytes resumes as after a drain.
  for (const transport of outbox.splice(0)) if (transport.flush()) transport.events?.drain();
}

/** Bun writes what the kernel takes; the rest waits here for the next `drain`. */
class BunTransport implements Transport {
  events: ConnectionEvents | undefined;
  queued = 0;
  #socket: BunSocket;
  #pending: Uint8Array[] = [];
  #endAfterFlush = false;

  constructor(socket: BunSocket) {
    this.#socket = socket;
  }

  write(bytes: Uint8Array): void {
    this.#pending.push(bytes);
    this.queued += bytes.byteLength;
    // Only the first: later ones queue behind it (a flush or the next drain sends them).
    if (this.#pending.length > 1) return;
    if (reading) outbox.push(this);
    else this.flush();
  }

  writeNow(bytes: Uint8Array): void {
    if (this.#pending.length > 0 || (reading && bytes.byteLength <= DEFER_MAX)) {
      this.write(bytes.slice());
      return;
    }
    const n = this.#socket.write(bytes);
    if (n < 0 || n === bytes.byteLength) return;
    // The kernel took part of it: the rest waits (copied) for the next drain.
    this.#pending.push(bytes.slice(n));
    this.queued += bytes.byteLength - n;
  }

  /** Writes what the socket takes now; true when everything went. */
  flush(): boolean {
    const pending = this.#pending;
    while (pending.length > 0) {
      const bytes = pending[0];
      const n = this.#socket.write(bytes);
      if (n < 0) {
        pending.length = 0;
        this.queued = 0;
        return false;
      }
      this.queued -= n;
      if (n < bytes.byteLength) {
        pending[0] = bytes.subarray(n);
        return false;
      }
      pending.shift();
    }
    if (this.#endAfterFlush) {
      this.#endAfterFlush = false;
      this.#socket.end();
    }
    return true;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  end(): void {
    this.#endAfterFlush = true;
    if (this.#pending.length === 0) this.#socket.end();
  }

  destroy(): void {
    this.#pending.length = 0;
    this.queued = 0;
    this.#socket.terminate();
  }
}

export const listen: Listen = (address, accept) => {
  const listener = bun().listen({
    hostname: address.hostname,
    port: address.port,
    socket: {
      open(socket) {
        socket.setNoDelay?.(true);
        const transport = new BunTransport(socket);
        socket.data = transport;
        transport.events = accept(transport);
      },
      data(socket, chunk) {
        reads();
        socket.data.events?.data(chunk);
      },
      drain(socket) {
        if (socket.data.flush()) socket.data.events?.drain();
      },
      close(socket) {
        socket.data?.events?.closed();
      },
      error(socket) {
        socket.terminate();
      },
    },
  });
  const handle: ListenerHandle = {
    port: listener.port,
    close() {
      listener.stop(false);
      return Promise.resolve();
    },
  };
  return Promise.resolve(handle);
};
