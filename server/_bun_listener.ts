// The RESP listener on Bun.listen. Loaded only under Bun (see server/mod.ts); the connection
// logic is shared (_listener.ts), this file only moves bytes.
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

/** Bun writes what the kernel takes now; the rest waits here for the next `drain`. */
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
    if (this.#pending.length === 1) this.flush();
  }

  writeNow(bytes: Uint8Array): void {
    if (this.#pending.length > 0) {
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
    if (this.#endAfterFlush) this.#socket.end();
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
