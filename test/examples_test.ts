// Runs every example in examples/ on the runtime running the tests (the suite runs on Deno, Bun
// and Node) and checks what it prints; the HTTP example is driven with fetch and stopped via its API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CURRENT, runOn, type RUNTIMES, SLOW, startOn } from "./_runtimes.ts";

async function runExample(
  runtime: keyof typeof RUNTIMES,
  name: string,
  args: string[] = [],
): Promise<string> {
  const r = await runOn(runtime, `examples/${name}`, args);
  assert.equal(r.code, 0, `${runtime} ${name} exited with ${r.code}:\n${r.stderr}`);
  return r.stdout.toString("utf8");
}

/** Every line of `expected` must appear in `out`, in that order. */
function assertLines(out: string, expected: (string | RegExp)[]): void {
  const lines = out.split("\n");
  let at = 0;
  for (const want of expected) {
    const found = lines.findIndex((l, i) =>
      i >= at && (typeof want === "string" ? l === want : want.test(l))
    );
    assert.notEqual(found, -1, `missing ${want} after line ${at} in:\n${out}`);
    at = found + 1;
  }
}

for (const runtime of [CURRENT]) {
  test(`examples/quickstart.ts on ${runtime}`, SLOW, async () => {
    assertLines(await runExample(runtime, "quickstart.ts"), [
      "user:1 = Ada Lovelace",
      /^session:abc expires in 6\d{4} ms$|^session:abc expires in 59\d{3} ms$/,
      "visits = 42 | stored bytes decode to 42",
      // Node prints strings in arrays with single quotes, Deno and Bun with double quotes.
      /^users, in key order across 16 shards: \[ (["'])user:1\1, \1user:2\1, \1user:3\1, \1user:4\1, \1user:5\1, \1user:6\1 \]$/,
      /^first two after user:2: \[ (["'])user:3\1, \1user:4\1 \]$/,
      "deleted 2 keys",
      /^stats: \{"shards":16/,
    ]);
  });

  test(`examples/batches.ts on ${runtime}`, SLOW, async () => {
    assertLines(await runExample(runtime, "batches.ts"), [
      "wrote 1000 orders in one batchSet",
      "order:0007 = total=70",
      "order:0999 = total=9990",
      "batchGet found 2 of 3",
      "first page: order:0000, order:0001, order:0002",
      "next page: order:0003, order:0004, order:0005",
      "session:a expires in about 60 s",
      "batchDelete removed 500",
      "orders left: 500",
    ]);
  });

  test(`examples/custom_driver.ts on ${runtime}`, SLOW, async () => {
    assertLines(await runExample(runtime, "custom_driver.ts"), [
      "backend: custom, shards: 4",
      "greeting = hello",
      "visits = 3",
    ]);
  });

  test(`examples/transactions.ts on ${runtime}`, SLOW, async () => {
    assertLines(await runExample(runtime, "transactions.ts"), [
      /^\{user:1\}:checking and \{user:1\}:savings share shard (\d+) = \1$/,
      "transfers that succeeded: 3 of 10",
      "checking = 10",
      "savings = 90",
      "rolled back: changed my mind",
      "checking after rollback = 10",
      "cross-shard transaction refused: CrossShardTransactionError",
      "{user:1}:note written: false",
    ]);
  });

  test(`examples/cache.ts on ${runtime}`, SLOW, async () => {
    assertLines(await runExample(runtime, "cache.ts"), [
      "after 100 reads: hits=90 misses=10 entries=10",
      'product:3 = {"price":99}',
      "after the update: hits=90 misses=11",
      "after two reads of a missing key: hits=91 misses=12",
      "shards=4 cache bytes>0: true",
    ]);
  });

  test(`examples/choosing_backend.ts on ${runtime}`, SLOW, async () => {
    const out = await runExample(runtime, "choosing_backend.ts");
    assertLines(out, [
      "sqlite: theme=dark keys=config:theme,stats:visits",
      "sqlite: files on disk: yes",
      "memory: theme=dark keys=config:theme,stats:visits",
      "memory: files on disk: none",
      /^deno-kv: (theme=dark keys=config:theme,stats:visits|not available here \(.+\))$/,
    ]);
  });

  test(`examples/backend_comparison.ts on ${runtime}`, SLOW, async () => {
    const out = await runExample(runtime, "backend_comparison.ts", ["300"]);
    const rate = String.raw`[\d,]+`;
    assertLines(out, [
      "300 ops each, 8 shards, ops/s",
      "| backend | set | get | batchSet | scan |",
      new RegExp(`^\\| memory \\| ${rate} \\| ${rate} \\| ${rate} \\| ${rate} \\|$`),
      new RegExp(`^\\| sqlite \\| ${rate} \\| ${rate} \\| ${rate} \\| ${rate} \\|$`),
      new RegExp(`^\\| deno-kv \\| (${rate}|n/a) \\| `),
    ]);
  });

  test(
    `examples/http_api.ts on ${runtime}: fetch against it, then POST /shutdown`,
    SLOW,
    async () => {
      // --seconds bounds the run should the shutdown request never arrive.
      const server = startOn(
        runtime,
        "examples/http_api.ts",
        ["--port", "0", "--seconds", "60"],
        "stdout",
      );
      try {
        const [, port] = await server.waitFor(/^listening on http:\/\/127\.0\.0\.1:(\d+)$/m);
        const base = `http://127.0.0.1:${port}`;
        assert.equal(
          (await fetch(`${base}/kv/greeting`, { method: "PUT", body: "hello" })).status,
          204,
        );
        const got = await fetch(`${base}/kv/greeting`);
        assert.equal(got.status, 200);
        assert.equal(await got.text(), "hello");
        assert.deepEqual(await (await fetch(`${base}/incr/hits`, { method: "POST" })).json(), {
          key: "hits",
          value: 1,
        });
        assert.deepEqual(await (await fetch(`${base}/kv?prefix=g`)).json(), ["greeting"]);
        const bad = await fetch(`${base}/kv/x?ttl=-5`, { method: "PUT", body: "x" });
        assert.equal(bad.status, 400);
        assert.match(await bad.text(), /^RangeError/);
        assert.equal((await fetch(`${base}/kv/greeting`, { method: "DELETE" })).status, 204);
        const gone = await fetch(`${base}/kv/greeting`);
        assert.equal(gone.status, 404);
        await gone.body?.cancel();
        assert.equal(await (await fetch(`${base}/shutdown`, { method: "POST" })).text(), "bye\n");
        assert.equal(await server.exited, 0);
        assert.match(server.output(), /\nstopped\n$/);
      } finally {
        server.child.kill();
      }
    },
  );
}
