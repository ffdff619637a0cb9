// Builds the npm package into dist/: tsc compiles every source file to one .js and one .d.ts
// (tsconfig.build.json; relative ".ts" imports become ".js"), then the `shardkv` bin is written.
// Runs as `npm run build`, and by `npm pack` / `npm publish` through the prepack script.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

// One version for npm and JSR.
const npmVersion = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
const jsrVersion = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).version;
if (npmVersion !== jsrVersion) {
  console.error(`package.json version ${npmVersion} differs from deno.json version ${jsrVersion}`);
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
  { cwd: root, stdio: "inherit" },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

// A JavaScript bin, so `npx shardkv`, `bunx shardkv` and `deno run -A npm:shardkv` all run it.
mkdirSync(join(dist, "bin"), { recursive: true });
const bin = join(dist, "bin", "shardkv.js");
writeFileSync(
  bin,
  `#!/usr/bin/env node
import process from "node:process";
import { main } from "../cli/mod.js";

process.exitCode = await main(process.argv.slice(2));
`,
);
chmodSync(bin, 0o755);
console.log(`built shardkv ${npmVersion} into dist/`);
