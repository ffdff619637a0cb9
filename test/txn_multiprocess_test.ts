// Write transactions are serializable across processes and across store instances in one
// process: concurrent read-modify-write increments in writeTxn lose no update on any backend
// that several processes can share (sqlite, deno-kv, redis).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeCounter,
  encodeCounter,
  getKey,
  openStore,
  readTxn,
  setKey,
  type Store,
  type StoreOptions,
  writeTxn,
} from "../mod.ts";
import { dropRedisStore } from "../backends/redis.ts";
import { readLines, spawnChild, withTempDir } from "./_helpers.ts";
import { freshName, REDIS_URL } from "./_redis_env.ts";
import { SLOW } from "./_runtimes.ts";

const PROCESSES = 4;
const COUNT = 200;

type Shared = "sqlite" | "deno-kv" | "redis";

/** Runs `fn` with a store location for `backend` (a temp dir, or a fresh Redis name). */
async function withLocation(backend: Shared, fn: (where: string) => Promise<void>): Promise<void> {
  if (backend !== "redis") return await withTempDir((dir) => fn(`${dir}/store`));
  const name = freshName("txn-mp");
  try {
    await fn(name);
  } finally {
    await dropRedisStore(name, { url: REDIS_URL });
  }
}

function open(backend: Shared, where: string, options: StoreOptions = {}): Promise<Store> {
  return openStore(where, {
    backend,
    redis: backend === "redis" ? { url: REDIS_URL } : undefined,
    ...options,
  });
}

async function increment(store: Store, key: string): Promise<void> {
  await writeTxn(store, async (txn) => {
    const old = await getKey(txn, key);
    await setKey(txn, key, encodeCounter((old === undefined ? 0 : decodeCounter(old)) + 1));
  });
}

for (const backend of ["sqlite", "deno-kv", "redis"] as const) {
  test(
    `${backend}: ${PROCESSES} processes x ${COUNT} writeTxn increments of one key lose none`,
    SLOW,
    async () => {
      await withLocation(backend, async (where) => {
        // The parent creates the store, so the children all open an existing one.
        const parent = await open(backend, where, { shards: 4 });
        const errors: string[] = [];
        const args = (): string[] =>
          ["txn", where, String(COUNT), backend].concat(backend === "redis" ? [REDIS_URL] : []);
        const runs = Array.from(
          { length: PROCESSES },
          () =>
            readLines(spawnChild("./_child_writer.ts", args()), (line) => {
              if (line.startsWith("E ")) errors.push(line);
            }),
        );
        const codes = await Promise.allSettled(runs);
        for (const c of codes) if (c.status === "rejected") errors.push(String(c.reason));
        assert.deepEqual(errors, [], "a child failed");
        assert.equal(decodeCounter((await parent.get("{t}:n"))!), PROCESSES * COUNT);
        await parent.close();
      });
    },
  );

  test(
    `${backend}: two store instances in one process lose no writeTxn increment`,
    SLOW,
    async () => {
      await withLocation(backend, async (where) => {
        const a = await open(backend, where, { shards: 2 });
        const b = await open(backend, where);
        const worker = async (store: Store): Promise<void> => {
          for (let n = 0; n < COUNT; n++) await increment(store, "{t}:n");
        };
        await Promise.all([worker(a), worker(b), worker(a), worker(b)]);
        assert.equal(decodeCounter((await a.get("{t}:n"))!), 4 * COUNT);
        assert.equal(decodeCounter((await b.get("{t}:n"))!), 4 * COUNT);
        await a.close();
        await b.close();
      });
    },
  );

  test(
    `${backend}: a read transaction sees one snapshot while another instance writes`,
    SLOW,
    async () => {
      await withLocation(backend, async (where) => {
        const a = await open(backend, where, { shards: 1 });
        const b = await open(backend, where);
        // Invariant kept by every writer: {p}:x + {p}:y === 0.
        await a.batchSet([["{p}:x", encodeCounter(0)], ["{p}:y", encodeCounter(0)]]);
        let writing = true;
        const writer = (async () => {
          for (let n = 1; writing; n++) {
            await writeTxn(b, async (txn) => {
              await setKey(txn, "{p}:x", encodeCounter(n));
              await setKey(txn, "{p}:y", encodeCounter(-n));
            });
            // A commit every few ms: the reader's 1 ms between its two reads often spans one.
            await new Promise((r) => setTimeout(r, 5));
          }
        })();
        try {
          for (let i = 0; i < 100; i++) {
            const sum = await readTxn(a, async (txn) => {
              const x = decodeCounter((await getKey(txn, "{p}:x"))!);
              await new Promise((r) => setTimeout(r, 1));
              return x + decodeCounter((await getKey(txn, "{p}:y"))!);
            });
            assert.equal(sum, 0, "a read transaction saw half of another instance's commit");
          }
        } finally {
          writing = false;
          await writer;
        }
        await a.close();
        await b.close();
      });
    },
  );
}
