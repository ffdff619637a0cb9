// Kill test of cross-shard atomic commits: a child commits transfers between 8 keys on 8
// different shards (their sum stays 0) and prints each acknowledged commit's versionstamp; the
// parent SIGKILLs it at random moments, reopens the store and checks that no commit is torn
// (the sum is exactly 0) and that every acknowledged commit is there (each key it wrote has a
// versionstamp at least as new as the commit's). Also: a store opened while another process
// commits leaves that process's commits in flight alone (an open rolls back only the
// interrupted commits of processes that are gone).
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeCounter, openStore } from "../mod.ts";
import { prng, readLines, spawnChild, withTempDir } from "./_helpers.ts";
import { SLOW } from "./_runtimes.ts";
import { childArgs, keysOnShards, open, type Shared, withLocation } from "./_atomic_env.ts";

const SHARDS = 16;
const KILLS = 8;

/** One child run, killed `delayMs` after it is ready (0: at once); its acknowledged commits. */
async function killedRun(
  backend: Shared,
  where: string,
  keys: string[],
  seed: number,
  delayMs: number,
): Promise<{ acked: number; newest: (string | null)[] }> {
  const child = spawnChild(
    "./_atomic_child.ts",
    childArgs("transfer", backend, where, [String(seed), ...keys]),
  );
  const newest: (string | null)[] = keys.map(() => null);
  let acked = 0;
  await readLines(child, (line) => {
    const [tag, stamp, i, j] = line.split(" ");
    if (tag === "READY") setTimeout(() => child.kill("SIGKILL"), delayMs);
    else if (tag === "A") {
      acked++;
      for (const k of [Number(i), Number(j)]) {
        if (newest[k] === null || stamp > newest[k]!) newest[k] = stamp;
      }
    } else if (tag === "E") assert.fail(line);
  });
  return { acked, newest };
}

for (const backend of ["sqlite", "deno-kv"] as const) {
  test(
    `${backend}, ${SHARDS} shards: ${KILLS} SIGKILLs during cross-shard commits tear none`,
    SLOW,
    async () => {
      await withTempDir(async (dir) => {
        const where = `${dir}/store`;
        const keys = keysOnShards("t", 8, SHARDS);
        await (await openStore(where, { backend, shards: SHARDS })).close();
        const random = prng(backend.length * 31 + 7);
        let acked = 0;
        for (let run = 0; run < KILLS; run++) {
          // Some kills right after the start, the others within the first 400 ms of commits.
          const delayMs = run % 3 === 0
            ? Math.floor(random() * 5)
            : 20 + Math.floor(random() * 380);
          const result = await killedRun(backend, where, keys, run + 1, delayMs);
          acked += result.acked;
          const store = await openStore(where, { backend });
          try {
            const entries = await Promise.all(keys.map((k) => store.getEntry(k)));
            const values = entries.map((e) => e.value === null ? 0 : decodeCounter(e.value));
            assert.equal(
              values.reduce((s, v) => s + v, 0),
              0,
              `run ${run}: a torn commit, balances ${values.join(",")}`,
            );
            for (let k = 0; k < keys.length; k++) {
              const want = result.newest[k];
              if (want === null) continue;
              const got = entries[k].versionstamp;
              assert.ok(
                got !== null && got >= want,
                `run ${run}: ${
                  keys[k]
                } has versionstamp ${got}, an acknowledged commit gave ${want}`,
              );
            }
          } finally {
            await store.close();
          }
        }
        // The test only means something if commits were acknowledged (and so interrupted).
        assert.ok(acked > KILLS * 5, `only ${acked} commits were acknowledged`);
      });
    },
  );
}

// (The redis journal, kept in Redis, still rolls back a live process's commit at open.)
for (const backend of ["sqlite", "deno-kv"] as const) {
  test(
    `${backend}, 16 shards: opening the store while another process commits tears no commit`,
    SLOW,
    async () => {
      await withLocation(backend, async (where) => {
        const keys = keysOnShards("t", 8, 16);
        await (await open(backend, where, { shards: 16 })).close();
        const child = spawnChild(
          "./_atomic_child.ts",
          childArgs("transfer", backend, where, ["1", ...keys]),
        );
        let acked = 0;
        let opened = 0;
        const done = readLines(child, (line) => {
          if (line.startsWith("A ")) acked++;
        });
        try {
          // Each open looks for interrupted commits while the child's are in flight.
          while ((opened < 40 || acked < 100) && opened < 400) {
            await (await open(backend, where)).close();
            opened++;
          }
        } finally {
          child.kill("SIGKILL");
          await done;
        }
        const store = await open(backend, where);
        try {
          const values = await store.batchGet(keys);
          const balances = keys.map((k) => values.has(k) ? decodeCounter(values.get(k)!) : 0);
          assert.equal(
            balances.reduce((s, v) => s + v, 0),
            0,
            `a torn commit after ${acked} commits and ${opened} opens: balances ${balances}`,
          );
        } finally {
          await store.close();
        }
      });
    },
  );
}

test(
  "sqlite, 16 shards: a second store object opened in the same process tears no commit",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const where = `${dir}/store`;
      const keys = keysOnShards("t", 8, 16);
      const writer = await openStore(where, { backend: "sqlite", shards: 16 });
      let commits = 0;
      let opening = true;
      const transfers = (async () => {
        for (let n = 0; opening || n < 50; n++) {
          const [i, j] = [n % keys.length, (n * 3 + 1) % keys.length];
          if (i === j) continue;
          assert.ok((await writer.atomic().sum(keys[i], -n).sum(keys[j], n).commit()).ok);
          commits++;
        }
      })();
      try {
        // Each open looks for interrupted commits while the writer's are in flight.
        for (let n = 0; n < 20; n++) await (await openStore(where)).close();
      } finally {
        opening = false;
        await transfers;
      }
      try {
        const values = await writer.batchGet(keys);
        const balances = keys.map((k) => values.has(k) ? decodeCounter(values.get(k)!) : 0);
        assert.equal(balances.reduce((s, v) => s + v, 0), 0, `a torn commit: ${balances}`);
        assert.ok(commits >= 50);
      } finally {
        await writer.close();
      }
    });
  },
);
