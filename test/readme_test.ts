// The README as users read it on JSR and npm: install lines first, every TypeScript block
// type-checks, no links to files that are not published; and the deno tasks it names work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { ROOT } from "./_runtimes.ts";

const deno = join(ROOT, "node_modules", ".bin", "deno");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

function run(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(deno, args, {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 300_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test("readme: install lines for each runtime come first, then the quick start", () => {
  const install = readme.indexOf("## Install");
  const quick = readme.indexOf("## Quick start");
  assert.ok(install > 0 && quick > install, "an Install section before the Quick start");
  assert.equal(readme.indexOf("\n## "), install - 1, "Install is the first section");
  for (
    const line of [
      "deno add jsr:@shardkv/shardkv",
      "bunx jsr add @shardkv/shardkv",
      "bun add shardkv",
      "npm install shardkv",
      "npm ci && npm run demo",
      "bash .ci/run",
    ]
  ) {
    const at = readme.indexOf(line);
    assert.ok(at > install && at < quick, `${line} in the Install section`);
  }
});

test("readme: every TypeScript block type-checks (deno check --doc-only)", () => {
  const blocks = readme.match(/^```ts$/gm)?.length ?? 0;
  assert.ok(blocks >= 3, `found ${blocks} ts blocks`);
  const { code, out } = run(["check", "--doc-only", "README.md"]);
  assert.equal(code, 0, out);
  assert.equal(out.match(/Check README\.md#/g)?.length, blocks, out);
});

test("readme: links are absolute or anchors (relative files are not published)", () => {
  const links = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]);
  const relative = links.filter((l) => !/^(https:\/\/|#)/.test(l));
  assert.deepEqual(relative, []);
  for (const anchor of links.filter((l) => l.startsWith("#"))) {
    const heading = anchor.slice(1).replace(/-/g, "[- ]");
    assert.match(readme, new RegExp(`^#+ ${heading}$`, "im"), anchor);
  }
});

test("readme: deno task demo and deno task shardkv run (not node_modules/.bin/deno as a script)", () => {
  const demo = run(["task", "demo"]);
  assert.equal(demo.code, 0, demo.out);
  assert.match(demo.out, /^user:1 = Ada Lovelace$/m);
  const cli = run(["task", "shardkv", "--help"]);
  assert.equal(cli.code, 0, cli.out);
  assert.match(cli.out, /^Usage: shardkv COMMAND/m);
});
