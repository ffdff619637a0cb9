// Starting the package's own worker threads wherever the package was installed from.
// node:worker_threads accepts only file: and data: module URLs, but installed from JSR this
// module's URL is https: (Deno loads JSR packages over HTTP): then the thread starts from a
// one-line data: module that imports the real one. Built for npm, the sources are .js files.
import { Worker } from "node:worker_threads";

const EXTENSION = import.meta.url.endsWith(".js") ? ".js" : ".ts";

/** Starts the worker module `worker/<name>` of this folder in a new thread. */
export function startWorker(name: "checkpoint_worker" | "shard_worker"): Worker {
  const url = new URL(`./worker/${name}${EXTENSION}`, import.meta.url);
  if (url.protocol === "file:") return new Worker(url);
  const source = `import ${JSON.stringify(url.href)};`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`));
}
