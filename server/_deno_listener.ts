// The RESP listener on Deno.listen. Loaded only under Deno (see server/mod.ts).
import type { ConnectionHandler, Listen, ListenerHandle } from "./_listener.ts";

/** The part of Deno's TCP connection used here. */
interface DenoConn {
  read(buffer: Uint8Array): Promise<number | null>;
  /** Bytes written, possibly fewer than given. */
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
}

interface DenoListener extends AsyncIterable<DenoConn> {
  readonly addr: { port: number };
  close(): void;
}

interface DenoApi {
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListener;
}

function deno(): DenoApi {
  const api = (globalThis as { Deno?: Partial<DenoApi> }).Deno;
  if (typeof api?.listen !== "function") throw new Error("Deno.listen is not available");
  return api as DenoApi;
}

const READ_SIZE = 64 * 1024;

/** Reads requests and writes replies until the client leaves, QUITs or breaks the protocol. */
async function serveConn(conn: DenoConn, handler: ConnectionHandler): Promise<void> {
  // Replies are written whole per read, so Nagle's delay would only add latency.
  conn.setNoDelay?.(true);
  const buffer = new Uint8Array(READ_SIZE);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      const { reply, close } = await handler.feed(buffer.subarray(0, n));
      for (let off = 0; off < reply.byteLength;) off += await conn.write(reply.subarray(off));
      if (close) break;
    }
  } catch {
    // A reset or closed connection ends this client only.
  } finally {
    handler.end();
    try {
      conn.close();
    } catch {
      // Already closed by the peer or by ListenerHandle.close.
    }
  }
}

export const listen: Listen = (address, accept) => {
  const listener = deno().listen({ ...address, transport: "tcp" });
  const conns = new Set<DenoConn>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        serveConn(conn, accept()).finally(() => conns.delete(conn));
      }
    } catch {
      // The listener was closed.
    }
  })();
  const handle: ListenerHandle = {
    port: listener.addr.port,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed meanwhile.
        }
      }
      await accepting;
    },
  };
  return Promise.resolve(handle);
};
