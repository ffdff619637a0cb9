// Stand-in package registries on 127.0.0.1 for the consumer tests (test/consumer_test.ts): the
// packages are published to it with the real clients and installed from it by name, as users
// get them from JSR and npm.
//
// JSR (JSR_URL=http://127.0.0.1:PORT/):
//   deno publish:  POST /api/scopes/S/packages/P/versions/V  (a gzipped tar of the files)
//                  GET  /api/publish_status/ID, and package/scope lookups under /api/
//   deno add/run:  GET  /@S/P/meta.json, /@S/P/V_meta.json (file list with sha256), /@S/P/V/FILE
// npm (registry=http://127.0.0.1:PORT/npm/):
//   npm publish:   PUT  /npm/NAME (the packument with the tarball base64 in _attachments)
//   npm/bun install: GET /npm/NAME (packument), GET /npm/NAME/-/FILE.tgz; any other package
//                  and tarball comes from the upstream registry (UPSTREAM, npm's configured one).
//
// Usage: node scripts/registry_standin.mjs [UPSTREAM]; prints "listening on http://127.0.0.1:N/"
// and serves until stdin closes or it is killed. Everything lives in memory.
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import process from "node:process";
import { gunzipSync } from "node:zlib";

const upstream = (process.argv[2] ?? "https://registry.npmjs.org/").replace(/\/?$/, "/");

/** JSR packages: "@scope/name" -> version -> path ("/mod.ts") -> bytes. */
const jsr = new Map();
/** Publishing tasks of JSR uploads: id -> { status, error }. */
const tasks = new Map();
/** npm packuments published here: name -> packument; tarballs: file name -> bytes. */
const npm = new Map();
const tarballs = new Map();

/** Reads the entries of a (decompressed) tar archive: regular files only. */
function untar(bytes) {
  const files = new Map();
  let at = 0;
  let longName;
  while (at + 512 <= bytes.length) {
    const header = bytes.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const text = (from, len) => {
      const raw = header.subarray(from, from + len);
      const end = raw.indexOf(0);
      return Buffer.from(end === -1 ? raw : raw.subarray(0, end)).toString("utf8");
    };
    const size = parseInt(text(124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = text(345, 155);
    const name = longName ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100));
    const data = bytes.subarray(at + 512, at + 512 + size);
    longName = undefined;
    if (type === "x") {
      // PAX extended header: "LEN path=NAME\n" records.
      const path = Buffer.from(data).toString("utf8").match(/\d+ path=([^\n]*)\n/);
      if (path) longName = path[1];
    } else if (type === "L") {
      longName = Buffer.from(data).toString("utf8").replace(/\0+$/, "");
    } else if (type === "0" || type === "\0") {
      files.set(`/${name.replace(/^\.?\//, "")}`, Buffer.from(data));
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function json(res, status, value) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

const MEDIA = { ".ts": "application/typescript", ".js": "application/javascript" };
function mediaType(path) {
  const ext = path.match(/\.[a-z]+$/)?.[0] ?? "";
  return MEDIA[ext] ?? (ext === ".json" ? "application/json" : "text/plain");
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The JSR management API, as much of it as deno publish uses. */
async function jsrApi(req, res, path) {
  let m = path.match(/^scopes\/([^/]+)\/packages\/([^/]+)\/versions\/([^/?]+)/);
  if (m && req.method === "POST") {
    const [, scope, name, version] = m;
    const files = untar(gunzipSync(await body(req)));
    const pkg = `@${scope}/${name}`;
    if (!jsr.has(pkg)) jsr.set(pkg, new Map());
    jsr.get(pkg).set(version, files);
    const id = String(tasks.size + 1);
    const task = {
      id,
      status: "success",
      error: null,
      packageScope: scope,
      packageName: name,
      packageVersion: version,
    };
    tasks.set(id, task);
    process.stderr.write(`jsr: published ${pkg}@${version} (${files.size} files)\n`);
    return json(res, 200, task);
  }
  m = path.match(/^publish_status\/([^/?]+)/);
  if (m) {
    return tasks.has(m[1]) ? json(res, 200, tasks.get(m[1])) : json(res, 404, { code: "notFound" });
  }
  m = path.match(/^scopes\/([^/]+)\/packages\/([^/?]+)$/);
  if (m) {
    return json(res, 200, { scope: m[1], name: m[2], description: "", githubRepository: null });
  }
  m = path.match(/^scopes\/([^/?]+)$/);
  if (m) return json(res, 200, { scope: m[1] });
  if (path.startsWith("user")) return json(res, 200, { id: "1", name: "ci" });
  json(res, 404, { code: "notFound", message: `stand-in JSR has no /api/${path}` });
}

/** The JSR registry API that Deno downloads modules with. */
function jsrRegistry(res, path) {
  let m = path.match(/^(@[^/]+\/[^/]+)\/meta\.json$/);
  if (m) {
    const versions = jsr.get(m[1]);
    if (!versions) return json(res, 404, {});
    const [scope, name] = m[1].slice(1).split("/");
    const list = [...versions.keys()];
    return json(res, 200, {
      scope,
      name,
      latest: list.at(-1),
      versions: Object.fromEntries(list.map((v) => [v, {}])),
    });
  }
  m = path.match(/^(@[^/]+\/[^/]+)\/([^/]+)_meta\.json$/);
  if (m) {
    const files = jsr.get(m[1])?.get(m[2]);
    if (!files) return json(res, 404, {});
    const config = JSON.parse(files.get("/deno.json") ?? files.get("/jsr.json") ?? "{}");
    const manifest = {};
    for (const [file, bytes] of files) {
      manifest[file] = {
        size: bytes.length,
        checksum: `sha256-${createHash("sha256").update(bytes).digest("hex")}`,
      };
    }
    const exports = typeof config.exports === "string" ? { ".": config.exports } : config.exports;
    return json(res, 200, { manifest, exports });
  }
  m = path.match(/^(@[^/]+\/[^/]+)\/([^/]+)(\/.*)$/);
  const bytes = m && jsr.get(m[1])?.get(m[2])?.get(decodeURIComponent(m[3]));
  if (!bytes) return json(res, 404, {});
  res.writeHead(200, { "content-type": mediaType(m[3]) });
  res.end(bytes);
}

/** The npm registry: packages published here, everything else from upstream. */
async function npmRegistry(req, res, path, base) {
  const name = decodeURIComponent(path.split("/-/")[0]);
  if (req.method === "PUT") {
    const doc = JSON.parse((await body(req)).toString("utf8"));
    const packument = npm.get(name) ?? { _id: name, name, "dist-tags": {}, versions: {} };
    for (const [file, attachment] of Object.entries(doc._attachments ?? {})) {
      const bytes = Buffer.from(attachment.data, "base64");
      tarballs.set(file.split("/").at(-1), bytes);
    }
    for (const [version, manifest] of Object.entries(doc.versions ?? {})) {
      const file = `${name.split("/").at(-1)}-${version}.tgz`;
      const bytes = tarballs.get(file);
      manifest.dist = {
        ...manifest.dist,
        tarball: `${base}npm/${name}/-/${file}`,
        shasum: createHash("sha1").update(bytes).digest("hex"),
        integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
      };
      packument.versions[version] = manifest;
    }
    Object.assign(packument["dist-tags"], doc["dist-tags"]);
    npm.set(name, packument);
    process.stderr.write(`npm: published ${name} ${Object.keys(doc.versions ?? {})}\n`);
    return json(res, 201, { ok: true });
  }
  const tarball = path.includes("/-/") ? tarballs.get(path.split("/").at(-1)) : undefined;
  if (tarball) {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    return res.end(tarball);
  }
  if (npm.has(name) && !path.includes("/-/")) return json(res, 200, npm.get(name));
  // Not published here: the upstream registry's answer (npm asks for upstream tarballs here
  // too, as it replaces the default registry's host in tarball URLs).
  const r = await fetch(`${upstream}${path}`, {
    headers: { accept: req.headers.accept ?? "application/json" },
  });
  res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" });
  res.end(Buffer.from(await r.arrayBuffer()));
}

const server = createServer(async (req, res) => {
  const base = `http://127.0.0.1:${server.address().port}/`;
  const raw = new URL(req.url, base).pathname.slice(1);
  const path = decodeURI(raw);
  try {
    if (path.startsWith("api/")) return await jsrApi(req, res, path.slice(4));
    if (raw.startsWith("npm/")) return await npmRegistry(req, res, raw.slice(4), base);
    if (path.startsWith("@")) return jsrRegistry(res, path);
    json(res, 404, {});
  } catch (e) {
    process.stderr.write(`registry stand-in: ${req.method} ${req.url}: ${e?.stack ?? e}\n`);
    if (!res.headersSent) json(res, 500, { message: String(e) });
    else res.end();
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/`);
});
// Stops with its parent: the test holds stdin open while it needs the registries.
process.stdin.resume();
process.stdin.on("end", () => server.close(() => process.exit(0)));
server.on("close", () => process.exit(0));
