// The shardkv CLI (cli/mod.ts), run as a child process on the runtime running the tests (the
// suite runs on Deno, Bun and Node): help and exit codes, get/set/del/scan/stats,
// export -> import -> reshard, and serve driven by redis-cli.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { CURRENT, runOn, SLOW, startOn } from "./_runtimes.ts";
import { withTempDir } from "./_helpers.ts";

const CLI = "cli/mod.ts";

for (const runtime of [CURRENT]) {
  const cli = (args: string[], input?: Uint8Array | string) => runOn(runtime, CLI, args, input);

  test(
    `cli on ${runtime}: help, usage errors (exit 2) and errors (exit 1) on stderr`,
    SLOW,
    async () => {
      const help = await cli(["--help"]);
      assert.equal(help.code, 0);
      for (
        const name of ["get", "set", "del", "scan", "stats", "export", "import", "reshard", "serve"]
      ) {
        assert.match(help.stdout.toString(), new RegExp(`^  ${name} `, "m"));
      }
      const getHelp = await cli(["get", "--help"]);
      assert.equal(getHelp.code, 0);
      assert.match(getHelp.stdout.toString(), /^Usage: shardkv get KEY --dir DIR/);

      const none = await cli([]);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /^Usage: shardkv COMMAND/);
      for (
        const [args, message] of [
          [["frobnicate"], /unknown command "frobnicate"/],
          [["get", "k"], /--dir DIR is required/],
          [["get", "--dir", "x"], /get takes 1 argument\(s\), received 0/],
          [["get", "k", "--dir", "x", "--bogus"], /unknown option --bogus/],
          [["set", "k", "v", "--dir", "x", "--ttl", "soon"], /--ttl needs a non-negative integer/],
          [
            ["set", "k", "v", "--dir", "x", "--backend", "floppy"],
            /--backend must be one of sqlite, /,
          ],
          [
            ["reshard", "--dir", "x", "--shards", "2", "--backend", "memory"],
            /reshard can move a store to sqlite or deno-kv, not memory/,
          ],
          [["reshard", "--dir", "x"], /reshard needs --shards N/],
        ] as const
      ) {
        const r = await cli([...args]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout.length, 0);
      }
      await withTempDir(async (dir) => {
        const missing = await cli(["get", "k", "--dir", join(dir, "none")]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /no shardkv store at/);
      });
    },
  );

  test(`cli on ${runtime}: set, get (byte-exact), del, scan, stats`, SLOW, async () => {
    await withTempDir(async (dir) => {
      const d = ["--dir", dir, "--shards", "4"];
      assert.equal((await cli(["set", "user:1", "Ada", ...d])).code, 0);
      assert.equal((await cli(["set", "user:2", "Grace", "--ttl", "60000", ...d])).code, 0);
      const binary = new Uint8Array([0, 1, 2, 255, 10, 13]);
      assert.equal((await cli(["set", "blob", ...d], binary)).code, 0, "value from stdin");
      const got = await cli(["get", "blob", ...d]);
      assert.equal(got.code, 0);
      assert.deepEqual(new Uint8Array(got.stdout), binary);
      assert.equal((await cli(["get", "user:1", ...d])).stdout.toString(), "Ada");

      const missing = await cli(["get", "user:9", ...d]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /key "user:9" not found/);

      assert.equal((await cli(["scan", "user:", ...d])).stdout.toString(), "user:1\nuser:2\n");
      assert.equal(
        (await cli(["scan", "user:", "--values", "--limit", "1", ...d])).stdout.toString(),
        "user:1\tAda\n",
      );
      assert.equal((await cli(["scan", ...d])).stdout.toString(), "blob\nuser:1\nuser:2\n");

      const stats = JSON.parse((await cli(["stats", "--dir", dir])).stdout.toString());
      assert.deepEqual(stats, { path: dir, backend: "sqlite", shards: 4, keys: 3 });

      const del = await cli(["del", "user:1", "nope", "blob", ...d]);
      assert.equal(del.stdout.toString(), "2\n");
      assert.equal((await cli(["scan", ...d])).stdout.toString(), "user:2\n");

      const mismatch = await cli(["get", "user:2", "--dir", dir, "--shards", "8"]);
      assert.equal(mismatch.code, 1);
      assert.match(mismatch.stderr, /ShardCountMismatchError/);
    });
  });

  test(`cli on ${runtime}: export, import into a new store, reshard`, SLOW, async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, "src");
      const copy = join(dir, "copy");
      const backup = join(dir, "backup.ndjson");
      for (let i = 0; i < 20; i++) {
        assert.equal(
          (await cli(["set", `k:${String(i).padStart(2, "0")}`, `v${i}`, "--dir", src])).code,
          0,
        );
      }
      const exported = await cli(["export", "--out", backup, "--dir", src]);
      assert.equal(exported.code, 0, exported.stderr);
      assert.match(exported.stderr, /exported 20 records\n$/);

      const toStdout = await cli(["export", "--dir", src]);
      assert.match(toStdout.stdout.toString(), /"k":"k:19"/);

      const imported = await cli(["import", "--in", backup, "--dir", copy, "--shards", "2"]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stderr, /imported 20 records\n$/);
      assert.equal((await cli(["get", "k:07", "--dir", copy])).stdout.toString(), "v7");

      const fromStdin = await cli(["import", "--dir", join(dir, "piped")], toStdout.stdout);
      assert.equal(fromStdin.code, 0, fromStdin.stderr);

      const resharded = await cli(["reshard", "--shards", "8", "--dir", copy]);
      assert.equal(resharded.code, 0, resharded.stderr);
      assert.match(resharded.stderr, /moved 20 records\n$/);
      const stats = JSON.parse((await cli(["stats", "--dir", copy])).stdout.toString());
      assert.equal(stats.shards, 8);
      assert.equal(stats.keys, 20);
      assert.equal((await cli(["get", "k:19", "--dir", copy])).stdout.toString(), "v19");

      const corrupt = await cli(["import", "--dir", join(dir, "bad")], "not a backup\n");
      assert.equal(corrupt.code, 1);
      assert.match(corrupt.stderr, /^shardkv: \w+Error: /);
    });
  });

  test(
    `cli on ${runtime}: serve answers redis-cli and stops cleanly on SIGTERM`,
    SLOW,
    async () => {
      await withTempDir(async (dir) => {
        const server = startOn(runtime, CLI, [
          "serve",
          "--dir",
          dir,
          "--port",
          "0",
          "--shards",
          "2",
          "--cache",
          "100",
          "--requirepass",
          "pw",
          "--timeout",
          "300",
          "--maxclients",
          "50",
          "--proto-max-bulk-len",
          "2000000",
          "--client-query-buffer-limit",
          "3000000",
          "--client-output-buffer-limit",
          "4000000 1000000 30",
          "--page-size",
          "2048",
        ], "stderr");
        try {
          const [, port] = await server.waitFor(/on redis:\/\/127\.0\.0\.1:(\d+)\n/);
          const redis = (...args: string[]) =>
            new Promise<string>((resolve, reject) =>
              execFile(
                "redis-cli",
                ["-p", port, "--no-auth-warning", ...args],
                (e, out) => (e ? reject(e) : resolve(out)),
              )
            );
          assert.match(await redis("GET", "x"), /NOAUTH Authentication required/);
          const authed = (...args: string[]) => redis("-a", "pw", ...args);
          assert.equal(await authed("SET", "served", "yes"), "OK\n");
          assert.equal(await authed("GET", "served"), "yes\n");
          assert.match(await authed("INFO", "shardkv"), /shards:2\r?\n[^]*cache:on\r?\n/);
          // The limit flags reach the server: CONFIG GET reports them.
          const config = await authed("CONFIG", "GET", "*");
          assert.match(config, /^timeout\n300\n/m);
          assert.match(config, /^maxclients\n50\n/m);
          assert.match(config, /^proto-max-bulk-len\n2000000\n/m);
          assert.match(config, /^client-query-buffer-limit\n3000000\n/m);
          assert.match(config, /^client-output-buffer-limit\nnormal 4000000 1000000 30 /m);
          server.child.kill("SIGTERM");
          const code = await server.exited;
          // Deno's node:child_process reports a child it signalled as killed (null) even when the
          // child handled the signal and exited 0; the "stopped" line shows the clean exit.
          assert.ok(code === 0 || code === null, `exit code ${code}`);
          assert.match(server.output(), /shutting down\nshardkv: stopped\n$/);
        } finally {
          server.child.kill();
        }
        // The data outlives the server, in files made with the asked page size (header bytes 16-17).
        assert.equal((await cli(["get", "served", "--dir", dir])).stdout.toString(), "yes");
        const header = await readFile(join(dir, "shard-000.sqlite"));
        assert.equal((header[16] << 8) | header[17], 2048);
        const badPage = await cli(["serve", "--dir", join(dir, "new"), "--page-size", "1000"]);
        assert.equal(badPage.code, 2);
        assert.match(
          badPage.stderr,
          /--page-size takes a power of two from 512 to 65536 \(bytes\), received 1000\n/,
        );
        const memoryPage = await cli([
          "serve",
          "--dir",
          dir,
          "--backend",
          "memory",
          "--page-size",
          "1024",
        ]);
        assert.equal(memoryPage.code, 2);
        assert.match(memoryPage.stderr, /--page-size is for the sqlite backend, not memory/);
        // A store of another backend, with no --backend: the flag is named, not a mismatch.
        const kvDir = join(dir, "kv");
        const kvSet = await cli(["set", "k", "v", "--dir", kvDir, "--backend", "deno-kv"]);
        assert.equal(kvSet.code, 0, kvSet.stderr);
        const kvPage = await cli(["serve", "--dir", kvDir, "--page-size", "1024"]);
        assert.equal(kvPage.code, 2, kvPage.stderr);
        assert.match(
          kvPage.stderr,
          /^shardkv: --page-size is for the sqlite backend, not deno-kv \(the backend of the store at [^\n]*kv\)\n/,
        );
        assert.doesNotMatch(kvPage.stderr, /BackendMismatchError/);
        assert.equal((await cli(["get", "k", "--dir", kvDir])).stdout.toString(), "v");
        // Protected mode: no listening beyond loopback without a password.
        const open = await cli(["serve", "--dir", dir, "--host", "0.0.0.0", "--port", "0"]);
        assert.equal(open.code, 1);
        assert.match(open.stderr, /Protected mode: refusing to listen on 0\.0\.0\.0/);
        const bad = await cli(["serve", "--dir", dir, "--protected-mode", "maybe"]);
        assert.match(bad.stderr, /--protected-mode takes yes or no, received maybe/);
        const badTimeout = await cli(["serve", "--dir", dir, "--timeout", "soon"]);
        assert.match(badTimeout.stderr, /--timeout needs a non-negative integer, received soon/);
        const badOutput = await cli([
          "serve",
          "--dir",
          dir,
          "--client-output-buffer-limit",
          "1 2",
        ]);
        assert.match(badOutput.stderr, /--client-output-buffer-limit takes "HARD SOFT SECONDS"/);
      });
    },
  );
}
