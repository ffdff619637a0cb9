// Child of redis_lock_test.ts: opens the 4-shard redis store <name> on <target> (JSON redis
// options), prints "READY", waits for a line on stdin, then makes <count> read-modify-write
// increments of the counters <a> and <b> (on different shards) in one checked atomic commit
// each, retried until ok, printing "V <a> <b>" with the values each commit wrote.
import process from "node:process";
import { createInterface } from "node:readline";
import { decodeCounter, encodeCounter, openStore } from "../mod.ts";

const [name, target, count, a, b] = process.argv.slice(2);
const store = await openStore(name, { backend: "redis", shards: 4, redis: JSON.parse(target) });
process.stdout.write("READY\n");
for await (const _ of createInterface({ input: process.stdin })) break;
const counterOf = (v: Uint8Array | null): number => v === null ? 0 : decodeCounter(v);
try {
  for (let n = 0; n < Number(count); n++) {
    for (;;) {
      const [ea, eb] = [await store.getEntry(a), await store.getEntry(b)];
      const [x, y] = [counterOf(ea.value) + 1, counterOf(eb.value) + 1];
      const res = await store.atomic().check(ea).check(eb)
        .set(a, encodeCounter(x)).set(b, encodeCounter(y)).commit();
      if (!res.ok) continue;
      process.stdout.write(`V ${x} ${y}\n`);
      break;
    }
  }
} finally {
  await store.close();
}
process.exit(0);
