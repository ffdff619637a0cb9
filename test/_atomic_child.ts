// A child process for the multi-process atomic-commit, kill and watch tests. Usage:
//   _atomic_child.ts incr2 <where> <backend> <redis-url|-> <count> <keyA> <keyB>
//       <count> read-modify-write increments of two counters in one checked atomic commit each,
//       retried until ok, the way a Deno KV user writes it; prints "V <stamp> <a> <b>" for each
//       commit (its versionstamp and the values it wrote) and "E ..." when getEntry read right
//       after the commit contradicts it
//   _atomic_child.ts sum <where> <backend> <redis-url|-> <count> <key>
//       <count> x atomic().sum(key, 1).commit()
//   _atomic_child.ts transfer <where> <backend> <redis-url|-> <seed> <key>...
//       endless cross-shard transfers between the keys (their sum stays 0); prints
//       "A <stamp> <i> <j>" for each acknowledged commit, before starting the next
//   _atomic_child.ts script <where> <backend> <redis-url|->
//       reads commands from stdin, one a line: "set <key> <text>", "delete <key>",
//       "atomic <key> <text> <key> <text>" (two sets in one commit); answers each with
//       "OK <versionstamp|->" once it is acknowledged
//   _atomic_child.ts move <where> <backend> <redis-url|-> <ms> <keyA> <keyB>
//       for <ms> after the go: checked atomic commits of A -= 1, B += 1 (their sum stays 0),
//       retried until ok; prints "M <commits>" at the end
//   _atomic_child.ts read <where> <backend> <redis-url|-> <ms> <prefix> <keyA> <keyB>
//       for <ms> after the go: batchGet([A, B]) and scanKeysWithValues(prefix), each checked to
//       sum to 0 ("E ..." for a half-seen commit); prints "R <reads> <distinct B values>"
// Every mode prints "READY" once the store is open and "DONE" at a clean end; incr2 and sum
// then wait for a line on stdin, so that no process opens the store while others commit.
import process from "node:process";
import { createInterface } from "node:readline";
import { decodeCounter, encodeCounter, openStore, type Store } from "../mod.ts";
import { prng } from "./_helpers.ts";

const [mode, where, backend, redisUrl, ...rest] = process.argv.slice(2);
const out = (line: string): void => {
  process.stdout.write(line + "\n");
};

const store: Store = await openStore(where, {
  backend: backend as "sqlite",
  redis: redisUrl !== "-" && redisUrl !== undefined ? { url: redisUrl } : undefined,
});
out("READY");

const counterOf = (v: Uint8Array | null): number => v === null ? 0 : decodeCounter(v);

/** Resolves at the first line on stdin: the parent's go once every child is open. */
async function go(): Promise<void> {
  for await (const _ of createInterface({ input: process.stdin })) return;
}

try {
  if (mode === "incr2") {
    const [count, a, b] = [Number(rest[0]), rest[1], rest[2]];
    await go();
    for (let n = 0; n < count; n++) {
      for (;;) {
        const [ea, eb] = [await store.getEntry(a), await store.getEntry(b)];
        const x = counterOf(ea.value) + 1;
        const y = counterOf(eb.value) + 1;
        const res = await store.atomic().check(ea).check(eb)
          .set(a, encodeCounter(x)).set(b, encodeCounter(y)).commit();
        if (!res.ok) continue;
        out(`V ${res.versionstamp} ${x} ${y}`);
        // What this commit wrote reads with its versionstamp, or was replaced by a newer one.
        for (const [key, wrote] of [[a, x], [b, y]] as const) {
          const e = await store.getEntry(key);
          const now = counterOf(e.value);
          if (now === wrote && e.versionstamp !== res.versionstamp) {
            out(
              `E ${key}=${wrote} reads versionstamp ${e.versionstamp}, commit ${res.versionstamp}`,
            );
          } else if (now !== wrote && !(e.versionstamp! > res.versionstamp)) {
            out(`E ${key} was rewritten (${now}) with older versionstamp ${e.versionstamp}`);
          }
        }
        break;
      }
    }
  } else if (mode === "sum") {
    const [count, key] = [Number(rest[0]), rest[1]];
    await go();
    for (let n = 0; n < count; n++) {
      const res = await store.atomic().sum(key, 1).commit();
      if (!res.ok) out("E a check-free sum commit failed");
    }
  } else if (mode === "transfer") {
    const random = prng(Number(rest[0]));
    const keys = rest.slice(1);
    for (;;) {
      const i = Math.floor(random() * keys.length);
      const j = (i + 1 + Math.floor(random() * (keys.length - 1))) % keys.length;
      const amount = 1 + Math.floor(random() * 100);
      let op = store.atomic();
      if (random() < 0.3) {
        // Now and then a checked read-modify-write with set, retried until it holds.
        const [ei, ej] = [await store.getEntry(keys[i]), await store.getEntry(keys[j])];
        op = op.check(ei, ej)
          .set(keys[i], encodeCounter(counterOf(ei.value) - amount))
          .set(keys[j], encodeCounter(counterOf(ej.value) + amount));
      } else op = op.sum(keys[i], -amount).sum(keys[j], amount);
      const res = await op.commit();
      if (res.ok) out(`A ${res.versionstamp} ${i} ${j}`);
    }
  } else if (mode === "move") {
    const [ms, a, b] = [Number(rest[0]), rest[1], rest[2]];
    await go();
    let commits = 0;
    for (const end = Date.now() + ms; Date.now() < end;) {
      const [ea, eb] = [await store.getEntry(a), await store.getEntry(b)];
      const res = await store.atomic().check(ea, eb)
        .set(a, encodeCounter(counterOf(ea.value) - 1))
        .set(b, encodeCounter(counterOf(eb.value) + 1)).commit();
      if (res.ok) commits++;
    }
    out(`M ${commits}`);
  } else if (mode === "read") {
    const [ms, prefix, a, b] = [Number(rest[0]), rest[1], rest[2], rest[3]];
    await go();
    let reads = 0;
    let failures = 0;
    const seen = new Set<number>();
    const check = (what: string, values: Iterable<Uint8Array>) => {
      const all = [...values].map((v) => decodeCounter(v));
      const sum = all.reduce((x, y) => x + y, 0);
      if (sum !== 0 && failures++ < 5) out(`E ${what} saw half a commit: ${all.join(" ")}`);
    };
    for (const end = Date.now() + ms; Date.now() < end;) {
      const got = await store.batchGet([a, b]);
      check("batchGet", got.values());
      if (got.has(b)) seen.add(decodeCounter(got.get(b)!));
      check("scan", (await store.scanKeysWithValues(prefix)).values());
      reads += 2;
    }
    out(`R ${reads} ${seen.size}`);
  } else if (mode === "script") {
    const enc = new TextEncoder();
    for await (const line of createInterface({ input: process.stdin })) {
      const [cmd, ...args] = line.split(" ");
      if (cmd === "set") {
        await store.set(args[0], enc.encode(args[1]));
        out(`OK ${(await store.getEntry(args[0])).versionstamp}`);
      } else if (cmd === "delete") {
        await store.delete(args[0]);
        out("OK -");
      } else if (cmd === "atomic") {
        const res = await store.atomic().set(args[0], enc.encode(args[1]))
          .set(args[2], enc.encode(args[3])).commit();
        out(`OK ${res.ok ? res.versionstamp : "failed"}`);
      } else if (cmd === "quit") break;
    }
  } else throw new Error(`unknown mode ${mode}`);
  await store.close();
  out("DONE");
} catch (e) {
  out(`E ${(e as Error).name}: ${(e as Error).message}`);
  process.exit(1);
}
