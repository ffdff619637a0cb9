// The RESP listener on node:net, used on Node (Bun and Deno have their own, see server/mod.ts).
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { Listen, ListenerHandle } from "./_listener.ts";

export const listen: Listen = (address, accept) =>
  new Promise((resolve, reject) => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      const handler = accept();
      let ending = false;
      socket.on("data", (chunk: Uint8Array) => {
        handler.feed(chunk).then(({ reply, close }) => {
          if (socket.destroyed || ending) return;
          // Backpressure: stop reading while the kernel has not taken the replies.
          if (reply.byteLength > 0 && !socket.write(reply)) {
            socket.pause();
            socket.once("drain", () => socket.resume());
          }
          if (close) {
            ending = true;
            socket.end();
          }
        });
      });
      socket.on("close", () => {
        sockets.delete(socket);
        handler.end();
      });
      socket.on("error", () => socket.destroy());
    });
    server.once("error", reject);
    server.listen(address.port, address.hostname, () => {
      server.off("error", reject);
      const handle: ListenerHandle = {
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          }),
      };
      resolve(handle);
    });
  });
