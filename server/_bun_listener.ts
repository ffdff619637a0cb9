// The RESP listener on Bun.listen. Loaded only under Bun (see server/mod.ts).
import type { ConnectionHandler, Listen, ListenerHandle } from "./_listener.ts";

/** Per-socket state: the protocol side and bytes the kernel did not take yet. */
interface SocketState {
  handler: ConnectionHandler;
  pending: Uint8Array[];
  endAfterFlush: boolean;
}

/** The part of Bun's TCP socket used here. */
interface BunSocket {
  data: SocketState;
  /** Bytes written; fewer than given when the send buffer is full (-1 once closed). */
  write(bytes: Uint8Array): number;
  end(): void;
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

/** Writes what the socket takes now and queues the rest for the next `drain`. */
function flush(socket: BunSocket): void {
  const state = socket.data;
  while (state.pending.length > 0) {
    const bytes = state.pending[0];
    const n = socket.write(bytes);
    if (n < 0) {
      state.pending.length = 0;
      return;
    }
    if (n < bytes.byteLength) {
      state.pending[0] = bytes.subarray(n);
      return;
    }
    state.pending.shift();
  }
  if (state.endAfterFlush) socket.end();
}

export const listen: Listen = (address, accept) => {
  const listener = bun().listen({
    hostname: address.hostname,
    port: address.port,
    socket: {
      open(socket) {
        socket.data = { handler: accept(), pending: [], endAfterFlush: false };
      },
      data(socket, chunk) {
        const state = socket.data;
        state.handler.feed(chunk).then(({ reply, close }) => {
          if (reply.byteLength > 0) state.pending.push(reply);
          state.endAfterFlush ||= close;
          flush(socket);
        });
      },
      drain: flush,
      close(socket) {
        socket.data.handler.end();
      },
      error(socket) {
        socket.end();
      },
    },
  });
  const handle: ListenerHandle = {
    port: listener.port,
    close() {
      listener.stop(true);
      return Promise.resolve();
    },
  };
  return Promise.resolve(handle);
};
