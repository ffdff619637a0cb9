// shardkv as users get it: `deno publish` and `npm publish` upload the packages to stand-in
// registries on 127.0.0.1 (scripts/registry_standin.mjs); fresh projects in temp directories
// outside the repository then install them by name (Deno from JSR, Node and Bun from npm),
// type-check a quick start, run it on every backend (sqlite, also in worker threads, memory,
// deno-kv, and redis against the local server) and run the CLI. scripts/test.mjs runs this file
// once, in the Node run: each test below drives its own runtime.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { REDIS_URL } from "./_redis_env.ts";
import { ROOT } from "./_runtimes.ts";

const BIN = join(ROOT, "node_modules", ".bin");
const VERSION: string = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).version;
const SLOW = { timeout: 600_000 };

let registry: ChildProcess;
let base = "";
let work = "";

/** The environment of every command: node 26 from node_modules/.bin first on PATH. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  // Settings an enclosing `npm test` passes to its children must not reach the consumers.
  for (const k of Object.keys(e)) if (/^npm_/i.test(k)) delete e[k];
  delete e.FORCE_COLOR;
  return { ...e, PATH: `${BIN}${delimiter}${process.env.PATH}`, NO_COLOR: "1", ...extra };
}

interface Ran {
  code: number;
  out: string;
}

function run(
  cmd: string,
  args: readonly string[],
  cwd: string,
  extra: Record<string, string> = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...args],
      { cwd, env: env(extra), timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

/** Runs a command that must succeed; returns what it printed. */
async function ok(
  cmd: string,
  args: readonly string[],
  cwd: string,
  extra: Record<string, string> = {},
): Promise<string> {
  const r = await run(cmd, args, cwd, extra);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} exited with ${r.code}:\n${r.out}`);
  return r.out;
}

/** The consumer's quick start, importing the package as `specifier`. */
function quickstart(specifier: string): string {
  return `import process from "node:process";
import { type BackendName, openStore, type StoreOptions } from "${specifier}";

const [redisUrl, redisName] = process.argv.slice(2);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const backends: BackendName[] = ["sqlite", "memory", "deno-kv", "redis"];
for (const backend of backends) {
  const options: StoreOptions = backend === "redis"
    ? { backend, redis: { url: redisUrl } }
    : { backend, shards: 4 };
  const store = await openStore(backend === "redis" ? redisName : \`./data-\${backend}\`, options);
  await store.set("greeting", encoder.encode(\`hello from \${backend}\`), { ttl: 60_000 });
  await store.incr("visits", 2);
  const greeting = decoder.decode(await store.get("greeting"));
  console.log(\`\${backend}: \${greeting}, visits=\${await store.incr("visits", 1)}\`);
  if (backend === "redis") await store.batchDelete(["greeting", "visits"]);
  await store.close();
}
// Shards in worker threads, and enough writes for the checkpoint thread to run.
const hosted = await openStore("./data-workers", { shards: 4, workers: 2 });
await hosted.batchSet(Array.from({ length: 2000 }, (_, i) => [\`k\${i}\`, new Uint8Array(1024)]));
console.log(\`workers: \${(await hosted.scanKeys("k", { limit: 3000 })).length} keys\`);
await hosted.close();
`;
}

/** What the quick start prints on every runtime. */
function assertQuickstart(out: string): void {
  for (const backend of ["sqlite", "memory", "deno-kv", "redis"]) {
    assert.match(out, new RegExp(`^${backend}: hello from ${backend}, visits=3$`, "m"), out);
  }
  assert.match(out, /^workers: 2000 keys$/m, out);
  // node:sqlite's ExperimentalWarning (Node 22 and 23) is not printed.
  assert.doesNotMatch(out, /ExperimentalWarning/, out);
}

/** The CLI writes a key, reads it back byte for byte and reports the store. */
async function assertCli(cli: (args: string[]) => Promise<string>): Promise<void> {
  await cli(["set", "motd", "installed!", "--dir", "./cli-data", "--shards", "2"]);
  assert.equal(await cli(["get", "motd", "--dir", "./cli-data"]), "installed!");
  const stats = JSON.parse(await cli(["stats", "--dir", "./cli-data"]));
  assert.deepEqual(stats, { path: "./cli-data", backend: "sqlite", shards: 2, keys: 1 });
}

/** A consumer project directory that installs from the stand-in npm registry. */
async function npmProject(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  writeFileSync(join(dir, ".npmrc"), `registry=${base}npm/\n`);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `consumer-${name}`, private: true, type: "module" }),
  );
  writeFileSync(join(dir, "main.ts"), quickstart("shardkv"));
  return dir;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "shardkv-consumer-"));
  const upstream = execFileSync("npm", ["config", "get", "registry"], { encoding: "utf8" }).trim();
  registry = spawn(join(BIN, "node"), [join(ROOT, "scripts", "registry_standin.mjs"), upstream], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  base = await new Promise<string>((resolve, reject) => {
    let out = "";
    registry.stdout!.setEncoding("utf8");
    registry.stdout!.on("data", (s: string) => {
      out += s;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) resolve(m[1]);
    });
    registry.on("exit", (code) => reject(new Error(`registry stand-in exited with ${code}`)));
  });
});

after(async () => {
  registry?.stdin?.end();
  registry?.kill();
  await rm(work, { recursive: true, force: true });
});

test(
  "consumer: deno publish and npm publish upload one version to the stand-in registries",
  SLOW,
  async () => {
    const jsr = await ok(
      join(BIN, "deno"),
      ["publish", "--token", "stand-in", "--allow-dirty"],
      ROOT,
      { JSR_URL: base },
    );
    assert.match(jsr, new RegExp(`Successfully published @shardkv/shardkv@${VERSION}`));
    const npmrc = join(work, "publish.npmrc");
    writeFileSync(npmrc, `registry=${base}npm/\n//${base.slice(7)}npm/:_authToken=stand-in\n`);
    // prepack builds dist/ first (scripts/build_npm.mjs).
    const npm = await ok("npm", ["publish", "--registry", `${base}npm/`], ROOT, {
      NPM_CONFIG_USERCONFIG: npmrc,
    });
    assert.match(npm, new RegExp(`\\+ shardkv@${VERSION}`));
    // Nothing of the tests, benchmarks or examples is in the npm tarball.
    assert.doesNotMatch(npm, /npm notice [\d.]+k?B\s+(test|bench|examples|scripts)\//);
    assert.match(npm, /npm notice [\d.]+k?B\s+dist\/bin\/shardkv\.js/);
  },
);

test(
  "consumer on deno: deno add jsr:@shardkv/shardkv, check, every backend, the CLI",
  SLOW,
  async () => {
    const dir = join(work, "deno");
    await mkdir(dir);
    writeFileSync(join(dir, "deno.json"), "{}\n");
    const denoEnv = { JSR_URL: base, DENO_DIR: join(work, "deno-cache") };
    const deno = (args: string[]) => ok(join(BIN, "deno"), args, dir, denoEnv);

    await deno(["add", "jsr:@shardkv/shardkv"]);
    const config = JSON.parse(readFileSync(join(dir, "deno.json"), "utf8"));
    assert.equal(config.imports["@shardkv/shardkv"], `jsr:@shardkv/shardkv@^${VERSION}`);
    writeFileSync(join(dir, "main.ts"), quickstart("@shardkv/shardkv"));
    await deno(["check", "main.ts"]);
    // Adding and type-checking the package fetched no npm package (ioredis, @deno/kv): they are
    // optional and loaded only by the backends that use them.
    const npmCache = join(work, "deno-cache", "npm");
    const fetched = existsSync(npmCache) ? readdirSync(npmCache, { recursive: true }) : [];
    assert.ok(!fetched.some((f) => /ioredis|deno\/kv/.test(String(f))), String(fetched));

    const name = `consumer-deno-${process.pid}`;
    assertQuickstart(await deno(["run", "-A", "--unstable-kv", "main.ts", REDIS_URL, name]));
    await assertCli((args) => deno(["run", "-A", "jsr:@shardkv/shardkv/cli", ...args]));
  },
);

test(
  "consumer on node: npm install shardkv, tsc, every backend, npx shardkv (and on deno)",
  SLOW,
  async () => {
    const dir = await npmProject("node");
    const cache = { NPM_CONFIG_CACHE: join(work, "npm-cache") };
    await ok(
      "npm",
      ["install", "--no-audit", "--no-fund", "shardkv", "ioredis", "@deno/kv"],
      dir,
      cache,
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          // The package's .d.ts files are checked too, with the repo's @types/node.
          skipLibCheck: false,
          typeRoots: [join(ROOT, "node_modules", "@types")],
          types: ["node"],
          lib: ["es2022", "dom"],
        },
        files: ["main.ts"],
      }),
    );
    await ok(join(BIN, "tsc"), ["-p", "."], dir);
    const name = `consumer-node-${process.pid}`;
    assertQuickstart(await ok(join(BIN, "node"), ["main.ts", REDIS_URL, name], dir));
    await assertCli((args) => ok("npx", ["--no-install", "shardkv", ...args], dir, cache));
    // The same bin, installed from npm, runs on Deno too.
    const deno = await ok(
      join(BIN, "deno"),
      ["run", "-A", "npm:shardkv", "get", "motd", "--dir", "./cli-data"],
      dir,
      {
        DENO_DIR: join(work, "deno-npm-cache"),
      },
    );
    assert.equal(deno, "installed!");
  },
);

test("consumer on bun: bun add shardkv, every backend, bunx --bun shardkv", SLOW, async () => {
  const dir = await npmProject("bun");
  const cache = { BUN_INSTALL_CACHE_DIR: join(work, "bun-cache") };
  await ok(join(BIN, "bun"), ["add", "shardkv", "ioredis", "@deno/kv"], dir, cache);
  const name = `consumer-bun-${process.pid}`;
  assertQuickstart(await ok(join(BIN, "bun"), ["main.ts", REDIS_URL, name], dir));
  await assertCli((args) => ok(join(BIN, "bunx"), ["--bun", "shardkv", ...args], dir, cache));
});
