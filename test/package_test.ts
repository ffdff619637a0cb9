// The npm and JSR manifests describe one package: one version, the same entry points, optional
// peer dependencies, a JavaScript bin, nothing but the build in the npm tarball.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./_runtimes.ts";

const npm = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const jsr = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));

test("package: npm and JSR share one version and the same entry points", () => {
  assert.equal(npm.version, jsr.version);
  assert.equal(npm.name, "shardkv");
  assert.equal(jsr.name, "@shardkv/shardkv");
  assert.notEqual(npm.private, true);
  assert.deepEqual(Object.keys(npm.exports), Object.keys(jsr.exports));
  for (const [subpath, source] of Object.entries(jsr.exports as Record<string, string>)) {
    const built = source.replace(/^\.\//, "./dist/").replace(/\.ts$/, ".js");
    assert.deepEqual(npm.exports[subpath], {
      types: built.replace(/\.js$/, ".d.ts"),
      default: built,
    }, subpath);
  }
});

test("package: ioredis and @deno/kv are optional peer dependencies, nothing is required", () => {
  assert.equal(npm.dependencies, undefined);
  assert.deepEqual(Object.keys(npm.peerDependencies).sort(), ["@deno/kv", "ioredis"]);
  for (const name of Object.keys(npm.peerDependencies)) {
    assert.deepEqual(npm.peerDependenciesMeta[name], { optional: true }, name);
    // The same ranges as the computed imports of backends/ (npm:NAME@RANGE on Deno).
    assert.equal(npm.peerDependencies[name], npm.devDependencies[name], name);
  }
  const loaders = ["_redis_client.ts", "_deno_kv_api.ts"].map((f) =>
    readFileSync(join(ROOT, "backends", f), "utf8")
  ).join("\n");
  for (const [name, range] of Object.entries(npm.peerDependencies as Record<string, string>)) {
    assert.ok(
      loaders.includes(`importOptional<`) && loaders.includes(`"${name}", "${range}"`),
      name,
    );
  }
});

test("package: the npm tarball holds the build, README and LICENSE; the bin is JavaScript", () => {
  assert.deepEqual(npm.files, ["dist/", "README.md", "LICENSE"]);
  assert.deepEqual(npm.bin, { shardkv: "dist/bin/shardkv.js" });
  const build = readFileSync(join(ROOT, "scripts", "build_npm.mjs"), "utf8");
  assert.match(build, /#!\/usr\/bin\/env node\n/);
  assert.equal(npm.scripts.prepack, "node scripts/build_npm.mjs");
});
