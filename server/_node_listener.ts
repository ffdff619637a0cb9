// The RESP listener on node:net. Loaded only under Node.js (see server/mod.ts); the connection
// logic is shared (_listener.ts), this file only moves bytes.
import { createServer, type Socket } from "node:net";
import { AcceptBackoff, type Listen, type ListenerHandle, type Transport } from "./_listener.ts";

/** Node's socket queues whatever the kernel does not take yet; `writableLength` counts it. */
class NodeTransport implements Transport {
  #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  get queued(): number {
    return this.#socket.writableLength;
  }

  write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** Ends the sending side; input still arriving is read and dropped for up to a second (closing
   * with unread input would reset the connection and could lose the last reply). */
  end(): void {
    this.#socket.end();
    this.#socket.resume();
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

export const listen: Listen = (address, accept, log) => {
  const backoff = new AcceptBackoff(log);
  const server = createServer({ noDelay: true }, (socket) => {
    backoff.succeeded();
    const events = accept(new NodeTransport(socket));
    socket.on("data", (chunk: Uint8Array) => events.data(chunk));
    socket.on("drain", () => events.drain());
    socket.on("close", () => events.closed());
    // A reset connection: "close" follows and ends this client only.
    socket.on("error", () => {});
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: address.hostname, port: address.port }, () => {
      server.off("error", reject);
      // After listening, errors come from accept (EMFILE, ENFILE...): libuv keeps listening, so
      // log the episode and go on.
      server.on("error", (e) => backoff.failed(e));
      const bound = server.address();
      const handle: ListenerHandle = {
        port: typeof bound === "object" && bound !== null ? bound.port : address.port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      };
      resolve(handle);
    });
  });
};
