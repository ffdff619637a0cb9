// watch() sees other processes' writes: a parent watches two keys and a prefix of a shared
// store while a child process sets, deletes and atomically commits them, one change at a
// time; the parent receives exactly one event per change, with the value and the versionstamp
// getEntry reads (null for a delete), nothing for keys it does not watch, and an aborted
// watch ends its stream.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { WatchEvent } from "../mod.ts";
import { dec, readLines, spawnChild } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";
import { childArgs, open, type Shared, withLocation } from "./_atomic_env.ts";

/** The next event of `reader`, failing after 10 s (the poll runs every 100 ms). */
async function next(
  reader: ReadableStreamDefaultReader<WatchEvent>,
  label: string,
): Promise<ReadableStreamReadResult<WatchEvent>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no watch event for ${label} in 10 s`)), 10_000);
  });
  try {
    return await Promise.race([reader.read(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A child in "script" mode: `send` writes a command and resolves the child's answer. */
function scriptChild(backend: Shared, where: string) {
  const child = spawnChild("./_atomic_child.ts", childArgs("script", backend, where, []), {
    stdin: true,
  });
  const waiting: ((line: string) => void)[] = [];
  let ready: () => void;
  const started = new Promise<void>((r) => ready = r);
  const exited = readLines(child, (line) => {
    if (line === "READY") ready();
    else if (line.startsWith("OK ")) waiting.shift()!(line.slice(3));
    else if (line.startsWith("E ")) throw new Error(line);
  });
  return {
    started,
    exited,
    send(command: string): Promise<string> {
      const answer = new Promise<string>((r) => waiting.push(r));
      child.stdin!.write(command + "\n");
      return answer;
    },
    /** Ends the child's input: it closes its store and exits. */
    quit(): void {
      child.stdin!.end();
    },
  };
}

for (const backend of ["sqlite", "deno-kv", "redis"] as const) {
  test(`${backend}: watch sees another process's writes, one event each`, SLOW, async () => {
    await withLocation(backend, async (where) => {
      const store = await open(backend, where, { shards: 4 });
      const keysAbort = new AbortController();
      const prefixAbort = new AbortController();
      const keys = store.watch(["w:a", "w:b"], { signal: keysAbort.signal }).getReader();
      const prefix = store.watch({ prefix: "p:" }, { signal: prefixAbort.signal }).getReader();
      const child = scriptChild(backend, where);
      await child.started;
      /** Expects the next event of `reader` to be `key` with `value` and `stamp`. */
      const expect = async (
        reader: ReadableStreamDefaultReader<WatchEvent>,
        key: string,
        value: string | null,
        stamp: string | null,
      ) => {
        const { value: event, done } = await next(reader, key);
        assert.ok(!done, `the stream ended before the change of ${key}`);
        assert.deepEqual(
          { key: event!.key, value: event!.value === null ? null : dec(event!.value), stamp },
          { key, value, stamp: event!.versionstamp },
        );
        if (value !== null) assert.equal((await store.getEntry(key)).versionstamp, stamp);
      };
      try {
        await expect(keys, "w:a", "1", await child.send("set w:a 1"));
        await expect(prefix, "p:x", "hello", await child.send("set p:x hello"));
        await expect(keys, "w:b", "2", await child.send("set w:b 2"));
        // One atomic commit across the two watches: each sees its key with the commit's stamp.
        const stamp = await child.send("atomic w:a 3 p:y 4");
        await expect(keys, "w:a", "3", stamp);
        await expect(prefix, "p:y", "4", stamp);
        assert.equal(await child.send("delete w:a"), "-");
        await expect(keys, "w:a", null, null);
        assert.equal(await child.send("delete p:x"), "-");
        await expect(prefix, "p:x", null, null);
        // A key neither watch covers gives no event: the next ones are the watched keys'.
        await child.send("set q:other z");
        await expect(keys, "w:b", "5", await child.send("set w:b 5"));
        await expect(prefix, "p:z", "6", await child.send("set p:z 6"));
        // Aborting ends a stream; the other one keeps going.
        keysAbort.abort();
        assert.equal((await next(keys, "the end")).done, true);
        await child.send("set w:b 7");
        await expect(prefix, "p:z", "8", await child.send("set p:z 8"));
        prefixAbort.abort();
        assert.equal((await next(prefix, "the end")).done, true);
      } finally {
        keysAbort.abort();
        prefixAbort.abort();
        child.quit();
        await child.exited;
        await store.close();
      }
    });
  });
}
