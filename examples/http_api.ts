/**
 * A tiny HTTP API over a store, on `Deno.serve` under Deno, `Bun.serve` under Bun and
 * `node:http` under Node:
 *
 * - `GET /kv/KEY` the value (404 when missing) · `PUT /kv/KEY` store the body (`?ttl=MS`)
 * - `DELETE /kv/KEY` · `GET /kv?prefix=P` the keys as JSON · `POST /incr/KEY` a counter
 * - `POST /shutdown` stops the server
 *
 * Run: `deno run -A examples/http_api.ts --port 8000`, `bun examples/http_api.ts --port 8000`
 * or `node examples/http_api.ts --port 8000`.
 * `--port 0` picks a free port; `--seconds N` stops after N seconds. The first line printed is
 * `listening on http://127.0.0.1:PORT`.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { openStore, type Store } from "../mod.ts";

/** Whichever server the runtime provides, reduced to what this example needs. */
interface HttpServer {
  port: number;
  stop(): Promise<void>;
}
type Handler = (request: Request) => Promise<Response>;

interface DenoServe {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: Handler,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}
interface BunServe {
  serve(options: { hostname: string; port: number; fetch: Handler }): {
    port: number;
    stop(closeActive?: boolean): Promise<void> | void;
  };
}

async function serve(port: number, handler: Handler): Promise<HttpServer> {
  const g = globalThis as { Deno?: DenoServe; Bun?: BunServe };
  if (g.Bun !== undefined) {
    const server = g.Bun.serve({ hostname: "127.0.0.1", port, fetch: handler });
    return { port: server.port, stop: async () => await server.stop(true) };
  }
  if (g.Deno !== undefined) {
    const server = g.Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
    return { port: server.addr.port, stop: () => server.shutdown() };
  }
  return await serveNode(port, handler);
}

/** node:http, with each request turned into a fetch Request and the Response written back. */
async function serveNode(port: number, handler: Handler): Promise<HttpServer> {
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk);
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method,
      body: hasBody ? new Blob(chunks as Uint8Array<ArrayBuffer>[]) : undefined,
    });
    const response = await handler(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(new Uint8Array(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

function api(store: Store, shutdown: () => void): Handler {
  return async (request) => {
    const url = new URL(request.url);
    const [, route, ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    try {
      if (route === "kv" && key === "" && request.method === "GET") {
        const keys = await store.scanKeys(url.searchParams.get("prefix") ?? "", { limit: 1000 });
        return Response.json(keys);
      }
      if (route === "kv" && request.method === "GET") {
        const value = await store.get(key);
        return value === undefined
          ? new Response("not found\n", { status: 404 })
          : new Response(value as Uint8Array<ArrayBuffer>, { // store.get returns a fresh copy
            headers: { "content-type": "application/octet-stream" },
          });
      }
      if (route === "kv" && request.method === "PUT") {
        const ttl = Number(url.searchParams.get("ttl") ?? 0);
        await store.set(key, new Uint8Array(await request.arrayBuffer()), { ttl });
        return new Response(null, { status: 204 });
      }
      if (route === "kv" && request.method === "DELETE") {
        return new Response(null, { status: (await store.delete(key)) ? 204 : 404 });
      }
      if (route === "incr" && request.method === "POST") {
        return Response.json({ key, value: await store.incr(key) });
      }
      if (route === "shutdown" && request.method === "POST") {
        shutdown();
        return new Response("bye\n");
      }
      return new Response("no such route\n", { status: 404 });
    } catch (e) {
      // Bad keys, values and TTLs are TypeErrors/RangeErrors: the client's fault.
      const status = e instanceof TypeError || e instanceof RangeError ? 400 : 500;
      return new Response(`${(e as Error).name}: ${(e as Error).message}\n`, { status });
    }
  };
}

const dir = await mkdtemp(join(tmpdir(), "shardkv-http-"));
const store = await openStore(dir, { shards: 4 });
let stop!: () => void;
const stopped = new Promise<void>((resolve) => (stop = resolve));
const server = await serve(option("port", 8000), api(store, () => stop()));
console.log(`listening on http://127.0.0.1:${server.port}`);
const seconds = option("seconds", 0);
const timer = seconds > 0 ? setTimeout(stop, seconds * 1000) : undefined;
await stopped;
clearTimeout(timer);
// Let the shutdown response go out before the server closes its connections.
await new Promise((r) => setTimeout(r, 50));
await server.stop();
await store.close();
await rm(dir, { recursive: true, force: true });
console.log("stopped");
