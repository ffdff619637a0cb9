// The layer rules, checked on every product file's imports: core/ <- backends/ <- shard/ <-
// server/, cli/ (each imports only from its own layer or layers to its left), a `_name.ts` is
// private to its folder (core's internal contracts aside), and there are no import cycles.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Product folders, left to right; the root entry points (`mod.ts`) sit with shard/. */
const LAYERS: Record<string, number> = {
  core: 0,
  backends: 1,
  shard: 2,
  ".": 2,
  testing: 3,
  server: 3,
  cli: 3,
};

/**
 * core's internal contracts: private to the product, shared on purpose with the drivers and
 * the engine (each says so at its top). Any other `_name.ts` is private to its folder.
 */
const CORE_CONTRACTS = new Set(["core/_txn_host.ts"]);

async function productFiles(): Promise<string[]> {
  const out = ["mod.ts"];
  for (const folder of Object.keys(LAYERS)) {
    if (folder === ".") continue;
    for (const entry of await readdir(join(root, folder), { recursive: true })) {
      const name = String(entry);
      if (name.endsWith(".ts")) out.push(join(folder, name).replaceAll("\\", "/"));
    }
  }
  return out.sort();
}

/** Relative specifiers of static imports, re-exports and dynamic `import("...")` calls. */
function importsOf(source: string): string[] {
  // Comments can show imports in examples (`@shardkv/shardkv`), which are not relative anyway,
  // but strip them so a commented-out relative import does not count.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s+["']([^"']+)["']/gms,
    /^\s*import\s+["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /new URL\(\s*["']([^"']+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of code.matchAll(re)) if (m[1].startsWith(".")) found.push(m[1]);
  }
  return found;
}

const folderOf = (file: string): string => file.includes("/") ? file.split("/")[0] : ".";

async function graph(): Promise<Map<string, string[]>> {
  const edges = new Map<string, string[]>();
  for (const file of await productFiles()) {
    const source = await readFile(join(root, file), "utf8");
    edges.set(
      file,
      importsOf(source).map((spec) =>
        relative(root, join(root, dirname(file), spec)).replaceAll("\\", "/")
      ),
    );
  }
  return edges;
}

test("the import parser sees static, type-only, re-export and dynamic imports", () => {
  const seen = importsOf([
    `import { a } from "./a.ts";`,
    `import type {\n  B,\n} from "../core/b.ts";`,
    `export { c } from "./_c.ts";`,
    `const d = await import("../backends/_d.ts");`,
    `// import { e } from "./e.ts";`,
    `import { f } from "node:fs";`,
  ].join("\n"));
  assert.deepEqual(seen.sort(), ["../backends/_d.ts", "../core/b.ts", "./_c.ts", "./a.ts"]);
});

test("every relative import resolves to a product file", async () => {
  const edges = await graph();
  const missing = [...edges].flatMap(([file, targets]) =>
    targets.filter((t) => !edges.has(t)).map((t) => `${file} -> ${t}`)
  );
  assert.deepEqual(missing, []);
});

test("no file imports another folder's _private module (core's contracts aside)", async () => {
  const bad: string[] = [];
  for (const [file, targets] of await graph()) {
    for (const target of targets) {
      const base = target.slice(target.lastIndexOf("/") + 1);
      if (!base.startsWith("_") || CORE_CONTRACTS.has(target)) continue;
      // A subfolder (backends/worker/) belongs to its parent folder.
      if (folderOf(target) !== folderOf(file)) bad.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("layers import only from their own layer or layers to their left", async () => {
  const bad: string[] = [];
  for (const [file, targets] of await graph()) {
    for (const target of targets) {
      if (LAYERS[folderOf(target)] > LAYERS[folderOf(file)]) bad.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("server/ and cli/ use public entry points only", async () => {
  const bad: string[] = [];
  for (const [file, targets] of await graph()) {
    const from = folderOf(file);
    if (from !== "server" && from !== "cli") continue;
    for (const target of targets) {
      const to = folderOf(target);
      if (to !== from && !target.endsWith("mod.ts")) bad.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("there are no import cycles", async () => {
  const edges = await graph();
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const target of edges.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, "done");
  };
  for (const file of edges.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});
