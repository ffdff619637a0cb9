import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../core/engine.ts";
import type { Driver } from "../core/driver.ts";
import type { WatchEvent } from "../core/watch.ts";
import { openMemoryDriver } from "../backends/memory.ts";
import { Clock, dec, enc } from "./_helpers.ts";

/** A promise and the function that settles it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

/** `driver` with some methods replaced (its own methods bound: drivers keep private fields). */
function wrap(driver: Driver, replaced: Partial<Driver>): Driver {
  const out: Record<string, unknown> = { now: driver.now };
  for (
    const name of [
      "getEntries",
      "getEntry",
      "range",
      "apply",
      "remove",
      "add",
      "sweep",
      "begin",
      "changes",
    ]
  ) {
    const f = (driver as unknown as Record<string, unknown>)[name];
    if (typeof f === "function") out[name] = f.bind(driver);
  }
  out.close = () => driver.close();
  return Object.assign(out, replaced) as unknown as Driver;
}

test("watch: a key written while the baseline is read is reported once it is written, never as missing first", async () => {
  const clock = new Clock();
  const [d0, d1] = await Promise.all([0, 1].map(() => openMemoryDriver({ now: clock.now })));
  const scanning = gate();
  const applying = gate();
  // Shard 1's baseline scan waits, then shard 0's write waits: the watcher reads "p:n" (shard 0)
  // late, while its write is still running.
  const slowRange = wrap(d1, {
    range: async (q) => (await scanning.wait, d1.range(q)),
  });
  const slowApply = wrap(d0, {
    apply: async (ops, checks) => (await applying.wait, d0.apply(ops, checks)),
  });
  const store = new Engine({
    path: "",
    backend: "memory",
    drivers: [slowApply, slowRange],
    route: (key) => (key === "p:n" ? 0 : 1),
    now: clock.now,
  });
  try {
    const events = store.watch({ prefix: "p:" }).getReader();
    const written = store.set("p:n", enc("one"));
    await new Promise((r) => setTimeout(r, 20));
    scanning.open();
    await new Promise((r) => setTimeout(r, 20));
    applying.open();
    await written;
    const first = await events.read();
    assert.equal(first.done, false);
    const e = first.value as WatchEvent;
    assert.equal(e.key, "p:n");
    assert.equal(e.value === null ? null : dec(e.value), "one");
    assert.equal(e.versionstamp, (await store.getEntry("p:n")).versionstamp);
    await events.cancel();
  } finally {
    await store.close();
  }
});
