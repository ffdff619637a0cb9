// Child of redis_journal_test.ts: commits `atomic()` sets of every key of KEYS (over 4 shards)
// to the same counter, forever, printing each counter once its commit resolved. The parent
// SIGKILLs it at a random point.
import process from "node:process";
import { KEYS, openAtomicStore } from "./_redis_atomic.ts";

const [name, target] = process.argv.slice(2);
const store = await openAtomicStore(name, JSON.parse(target));
for (let i = 1;; i++) {
  const op = store.atomic();
  for (const key of KEYS) op.set(key, new TextEncoder().encode(String(i)));
  const result = await op.commit();
  if (!result.ok) throw new Error(`commit ${i} failed with no checks`);
  process.stdout.write(`${i}\n`);
}
