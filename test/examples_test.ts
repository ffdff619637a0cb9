// Runs every example in examples/ on both runtimes (Deno and Bun, whichever runs the tests) and
// checks what it prints; the HTTP example is driven with fetch and stopped through its API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string): string => join(root, "node_modules", ".bin", name);
const RUNTIMES: Record<string, (file: string) => [string, string[]]> = {
  deno: (file) => [bin("deno"), ["run", "-A", "--no-check", file]],
  bun: (file) => [bin("bun"), [file]],
};

function runExample(runtime: string, name: string, args: string[] = []): Promise<string> {
  const [cmd, argv] = RUNTIMES[runtime](join(root, "examples", name));
  return new Promise((resolve, reject) => {
    execFile(cmd, [...argv, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${runtime} ${name} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Every line of `expected` must appear in `out`, in that order. */
function assertLines(out: string, expected: (string | RegExp)[]): void {
  const lines = out.split("\n");
  let at = 0;
  for (const want of expected) {
    const found = lines.findIndex((l, i) => i >= at && (typeof want === "string" ? l === want : want.test(l)));
    assert.notEqual(found, -1, `missing ${want} after line ${at} in:\n${out}`);
    at = found + 1;
  }
}

for (const runtime of Object.keys(RUNTIMES)) {
  test(`examples/batches.ts on ${runtime}`, async () => {
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

  test(`examples/transactions.ts on ${runtime}`, async () => {
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

  test(`examples/cache.ts on ${runtime}`, async () => {
    assertLines(await runExample(runtime, "cache.ts"), [
      "after 100 reads: hits=90 misses=10 entries=10",
      'product:3 = {"price":99}',
      "after the update: hits=90 misses=11",
      "after two reads of a missing key: hits=91 misses=12",
      "shards=4 cache bytes>0: true",
    ]);
  });

  test(`examples/choosing_backend.ts on ${runtime}`, async () => {
    const out = await runExample(runtime, "choosing_backend.ts");
    assertLines(out, [
      "sqlite: theme=dark keys=config:theme,stats:visits",
      "sqlite: files on disk: yes",
      "memory: theme=dark keys=config:theme,stats:visits",
      "memory: files on disk: none",
      /^deno-kv: (theme=dark keys=config:theme,stats:visits|not available here \(.+\))$/,
    ]);
  });

  test(`examples/backend_comparison.ts on ${runtime}`, async () => {
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

  test(`examples/http_api.ts on ${runtime}: fetch against it, then POST /shutdown`, async () => {
    const [cmd, argv] = RUNTIMES[runtime](join(root, "examples", "http_api.ts"));
    // --seconds bounds the run should the shutdown request never arrive.
    const child = spawn(cmd, [...argv, "--port", "0", "--seconds", "60"], { cwd: root });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (s: string) => out += s);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      for (let i = 0; i < 1000 && !out.includes("\n"); i++) await new Promise((r) => setTimeout(r, 10));
      const port = out.match(/^listening on http:\/\/127\.0\.0\.1:(\d+)$/m)?.[1];
      assert.ok(port, `no listening line in ${JSON.stringify(out)}`);
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/kv/greeting`, { method: "PUT", body: "hello" })).status, 204);
      const got = await fetch(`${base}/kv/greeting`);
      assert.equal(got.status, 200);
      assert.equal(await got.text(), "hello");
      assert.deepEqual(await (await fetch(`${base}/incr/hits`, { method: "POST" })).json(), { key: "hits", value: 1 });
      assert.deepEqual(await (await fetch(`${base}/kv?prefix=g`)).json(), ["greeting"]);
      const bad = await fetch(`${base}/kv/x?ttl=-5`, { method: "PUT", body: "x" });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /^RangeError/);
      assert.equal((await fetch(`${base}/kv/greeting`, { method: "DELETE" })).status, 204);
      const gone = await fetch(`${base}/kv/greeting`);
      assert.equal(gone.status, 404);
      await gone.body?.cancel();
      assert.equal(await (await fetch(`${base}/shutdown`, { method: "POST" })).text(), "bye\n");
      assert.equal(await exited, 0);
      assert.match(out, /\nstopped\n$/);
    } finally {
      child.kill();
    }
  });
}
