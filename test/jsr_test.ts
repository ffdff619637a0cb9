// JSR readiness: the docs lint and the publish dry run stay clean; the tree is formatted and
// lint-clean (deno fmt --check, deno lint).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import process from "node:process";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = join(root, "node_modules", ".bin", "deno");

function run(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(deno, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test("jsr: deno doc --lint is clean for every entry point", () => {
  const exports = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports as Record<
    string,
    string
  >;
  const { code, out } = run(["doc", "--lint", ...Object.values(exports)]);
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /error|warning/i, out);
});

test("jsr: deno publish --dry-run succeeds; its only warnings are the two computed imports", () => {
  const { code, out } = run(["publish", "--dry-run", "--allow-dirty"]);
  assert.equal(code, 0, out);
  assert.match(out, /Success Dry run complete/);
  // backends/_optional_import.ts computes its specifier on purpose, so that ioredis and
  // @deno/kv are not dependencies of every JSR user, and backends/hosted.ts imports the user's
  // own driver module, known only at run time; deno publish can only warn about both.
  const warnings = [...out.matchAll(/warning\[([\w-]+)\][^\n]*\n\s*--> ([^:]+)/g)].map((m) =>
    `${m[1]} ${m[2].replace(root, "")}`
  );
  assert.deepEqual(warnings, [
    "unanalyzable-dynamic-import backends/_optional_import.ts",
    "unanalyzable-dynamic-import backends/hosted.ts",
  ], out);
  assert.equal(out.match(/warning/gi)?.length, 2, out);
});

/** Files of the repository (tracked or new, not ignored) with an extension deno checks. */
function sources(): string[] {
  const r = spawnSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter((f) =>
    /\.(ts|mjs|js|json|md)$/.test(f) && !f.startsWith("bench/results/")
  );
}

test("deno fmt --check: every file is formatted", () => {
  const { code, out } = run(["fmt", "--check", ...sources()]);
  assert.equal(code, 0, out);
});

test("deno lint: no problems", () => {
  const files = sources().filter((f) => /\.(ts|mjs|js)$/.test(f));
  const { code, out } = run(["lint", ...files]);
  assert.equal(code, 0, out);
});
