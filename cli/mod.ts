/**
 * The `shardkv` command line: read and write keys, inspect, back up, restore and reshard a store
 * directory, or serve it over the Redis protocol.
 *
 * ```sh
 * deno run -A jsr:@shardkv/shardkv/cli set greeting hello --dir ./data
 * npx shardkv get greeting --dir ./data
 * bunx shardkv serve --dir ./data --port 6380
 * ```
 *
 * Exit codes: 0 success, 1 error (including a missing key for `get`), 2 bad usage. Errors and
 * progress go to stderr; data goes to stdout.
 *
 * @example
 * ```ts
 * import { main } from "@shardkv/shardkv/cli";
 * const code = await main(["stats", "--dir", "./data"]);
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  type BackendDescriptor,
  BackendMismatchError,
  type BackendName,
  exportStore,
  importStore,
  openStore,
  reshard,
  type ReshardOptions,
  sqlite,
  type Store,
  verifyStore,
} from "../mod.ts";

/** Bad command-line usage: exit code 2. */
class UsageError extends Error {
  override readonly name = "UsageError";
}

interface Parsed {
  positionals: string[];
  options: Map<string, string | true>;
}

/** The built-in backends `--backend` accepts. */
const BACKENDS: readonly BackendName[] = ["sqlite", "memory", "deno-kv", "redis"];
/** The file that marks a store directory (the store's manifest). */
const MANIFEST_FILE = "shardkv.json";

interface CommandSpec {
  usage: string;
  summary: string;
  /** Options taking a value (besides the global ones). */
  valued?: string[];
  /** Options without a value. */
  flags?: string[];
  /** Positional arguments: [required count, maximum count]. */
  args: [number, number];
  /** The store must already exist (nothing is created by a read). */
  existing?: boolean;
  /** Usage checks beyond the argument count, run before the store is looked at. */
  check?(store: StoreArgs): void;
  run(store: StoreArgs, p: Parsed): Promise<number>;
}

/** What every command gets: the store directory and how to open it. */
interface StoreArgs {
  dir: string;
  shards: number | undefined;
  backend: BackendName | undefined;
  open(): Promise<Store>;
}

/** Backends `reshard` can build a new layout on (see shard/reshard.ts). */
const RESHARD_BACKENDS: readonly string[] = [
  "sqlite",
  "deno-kv",
] satisfies ReshardOptions["backend"][];

/** Live keys of `store`, counted a page at a time so memory stays bounded. */
async function countKeys(store: Store): Promise<number> {
  const PAGE = 10_000;
  let n = 0;
  let after: string | undefined;
  for (;;) {
    const page = await store.scanKeys("", { limit: PAGE, after });
    n += page.length;
    if (page.length < PAGE) return n;
    after = page[page.length - 1];
  }
}

const GLOBAL_VALUED = ["dir", "shards", "backend"];
const GLOBAL_HELP = `Global options:
  --dir DIR         store directory (required; or the SHARDKV_DIR environment variable)
  --shards N        shard count of a new store (an existing store keeps its own)
  --backend NAME    ${BACKENDS.join(", ")} (default: sqlite)
  -h, --help        show help`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function stdout(bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(bytes, (e) => (e ? reject(e) : resolve()))
  );
}

function stderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Reports progress on stderr at most twice a second. */
function progress(label: string): { update: (n: number) => void; done: (n: number) => void } {
  let last = Date.now();
  return {
    update(n) {
      const now = Date.now();
      if (now - last < 500) return;
      last = now;
      stderr(`shardkv: ${label} ${n} records...`);
    },
    done(n) {
      stderr(`shardkv: ${label} ${n} records`);
    },
  };
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function readableOf(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const r = await it.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** A WritableStream over a Node writable (a file or stdout). */
function writableOf(out: NodeJS.WritableStream, end: boolean): WritableStream<Uint8Array> {
  return new WritableStream({
    write: (chunk) =>
      new Promise((resolve, reject) => out.write(chunk, (e) => (e ? reject(e) : resolve()))),
    close: () => (end ? new Promise((resolve) => out.end(resolve)) : Promise.resolve()),
  });
}

function positiveInt(name: string, value: string | true | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value === true || !Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`--${name} needs a non-negative integer, received ${String(value)}`);
  }
  return n;
}

/** Runs `fn` on the opened store and closes it afterwards. */
async function withStore(s: StoreArgs, fn: (store: Store) => Promise<number>): Promise<number> {
  const store = await s.open();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const COMMANDS: Record<string, CommandSpec> = {
  get: {
    usage: "shardkv get KEY --dir DIR",
    summary: "print the value of KEY (raw bytes; exit 1 when missing)",
    args: [1, 1],
    existing: true,
    run: (s, p) =>
      withStore(s, async (store) => {
        const value = await store.get(p.positionals[0]);
        if (value === undefined) {
          stderr(`shardkv: key ${JSON.stringify(p.positionals[0])} not found`);
          return 1;
        }
        await stdout(value);
        // A newline only for people: piped output stays byte-exact.
        if (process.stdout.isTTY) await stdout("\n");
        return 0;
      }),
  },
  set: {
    usage: "shardkv set KEY [VALUE] [--ttl MS] --dir DIR",
    summary: "store VALUE (or stdin when VALUE is omitted) under KEY",
    valued: ["ttl"],
    args: [1, 2],
    run: async (s, p) => {
      const ttl = positiveInt("ttl", p.options.get("ttl"));
      const value = p.positionals.length === 2
        ? encoder.encode(p.positionals[1])
        : await readAll(process.stdin);
      return await withStore(s, async (store) => {
        await store.set(p.positionals[0], value, { ttl });
        return 0;
      });
    },
  },
  del: {
    usage: "shardkv del KEY... --dir DIR",
    summary: "delete keys and print how many existed",
    args: [1, Infinity],
    existing: true,
    run: (s, p) =>
      withStore(s, async (store) => {
        await stdout(`${await store.batchDelete(p.positionals)}\n`);
        return 0;
      }),
  },
  scan: {
    usage: "shardkv scan [PREFIX] [--limit N] [--values] --dir DIR",
    summary: "list keys starting with PREFIX, one per line (--values: KEY<TAB>VALUE as text)",
    valued: ["limit"],
    flags: ["values"],
    args: [0, 1],
    existing: true,
    run: (s, p) =>
      withStore(s, async (store) => {
        const limit = positiveInt("limit", p.options.get("limit")) || undefined;
        const values = p.options.has("values");
        const lines: string[] = [];
        for await (const [key, value] of store.entries(p.positionals[0] ?? "", { limit })) {
          lines.push(values ? `${key}\t${decoder.decode(value)}\n` : `${key}\n`);
          if (lines.length === 1000) await stdout(lines.splice(0).join(""));
        }
        await stdout(lines.join(""));
        return 0;
      }),
  },
  stats: {
    usage: "shardkv stats --dir DIR",
    summary: "print the store's layout and key count as JSON",
    args: [0, 0],
    existing: true,
    run: (s) =>
      withStore(s, async (store) => {
        const stats = {
          path: store.path,
          backend: store.backend,
          shards: store.shards,
          keys: await countKeys(store),
        };
        await stdout(`${JSON.stringify(stats, null, 2)}\n`);
        return 0;
      }),
  },
  export: {
    usage: "shardkv export [--out FILE] --dir DIR",
    summary: "write every live record as a verified NDJSON backup to FILE or stdout",
    valued: ["out"],
    args: [0, 0],
    existing: true,
    run: async (s, p) => {
      const file = p.options.get("out");
      const writable = typeof file === "string"
        ? writableOf(createWriteStream(file), true)
        : writableOf(process.stdout, false);
      const report = progress("exported");
      const { records } = await exportStore(s.dir, writable, { onProgress: report.update });
      report.done(records);
      return 0;
    },
  },
  import: {
    usage: "shardkv import [--in FILE] --dir DIR [--shards N] [--backend NAME]",
    summary: "load a backup written by export (from FILE or stdin) into a new store",
    valued: ["in"],
    args: [0, 0],
    run: async (s, p) => {
      const file = p.options.get("in");
      const source = typeof file === "string" ? createReadStream(file) : process.stdin;
      const report = progress("imported");
      const { records } = await importStore(s.dir, readableOf(source), {
        shards: s.shards,
        backend: s.backend,
        onProgress: report.update,
      });
      report.done(records);
      return 0;
    },
  },
  verify: {
    usage: "shardkv verify --dir DIR",
    summary:
      "check every shard file, WAL, B-tree and value checksum without changing the store; print the report as JSON (exit 1 when damaged)",
    args: [0, 0],
    run: async (s) => {
      const report = await verifyStore(s.dir, {
        onProgress: (p) => {
          if (p.done) stderr(`shardkv: shard ${p.shard + 1}/${p.shards}: ${p.rows} rows checked`);
        },
      });
      await stdout(`${JSON.stringify(report, null, 2)}\n`);
      const damaged = report.shards.filter((r) => !r.ok);
      for (const r of damaged) {
        stderr(
          `shardkv: shard ${r.shard} (${r.path}) damaged: ${
            [
              ...r.problems,
              ...r.keys.map((k) => `key ${JSON.stringify(k)} fails its checksum`),
            ].join("; ")
          }`,
        );
      }
      return damaged.length === 0 ? 0 : 1;
    },
  },
  reshard: {
    usage: "shardkv reshard --shards N [--backend sqlite|deno-kv] --dir DIR",
    summary: "move the store to N shards (crash-safe; the store must not be open elsewhere)",
    args: [0, 0],
    existing: true,
    check(s) {
      if (s.shards === undefined) throw new UsageError("reshard needs --shards N");
      if (s.backend !== undefined && !RESHARD_BACKENDS.includes(s.backend)) {
        throw new UsageError(`reshard can move a store to sqlite or deno-kv, not ${s.backend}`);
      }
    },
    run: async (s) => {
      const report = progress("moved");
      let moved = 0;
      await reshard(s.dir, {
        shards: s.shards!,
        backend: s.backend as ReshardOptions["backend"],
        onProgress: (n) => report.update(moved = n),
      });
      report.done(moved);
      return 0;
    },
  },
  serve: {
    usage: "shardkv serve --dir DIR [--port N] [--host ADDR] [--cache ENTRIES] " +
      "[--requirepass PASSWORD] [--protected-mode yes|no] [--timeout SECONDS] " +
      "[--maxclients N] [--proto-max-bulk-len BYTES] [--client-query-buffer-limit BYTES] " +
      "[--client-output-buffer-limit 'HARD SOFT SECONDS'] [--page-size BYTES]",
    summary: "serve the store over the Redis protocol (default 127.0.0.1:6379) until SIGINT",
    valued: [
      "port",
      "host",
      "cache",
      "requirepass",
      "protected-mode",
      "timeout",
      "maxclients",
      "proto-max-bulk-len",
      "client-query-buffer-limit",
      "client-output-buffer-limit",
      "page-size",
    ],
    args: [0, 0],
    run: async (s, p) => {
      const pageSize = positiveInt("page-size", p.options.get("page-size"));
      const backend = serveBackend(s, pageSize);
      const port = positiveInt("port", p.options.get("port")) ?? 6379;
      const cacheEntries = positiveInt("cache", p.options.get("cache"));
      const host = p.options.get("host");
      if (host === true) throw new UsageError("--host needs an address");
      const requirepass = p.options.get("requirepass");
      if (requirepass === true) throw new UsageError("--requirepass needs a password");
      const protectedMode = p.options.get("protected-mode") ?? "yes";
      if (protectedMode !== "yes" && protectedMode !== "no") {
        throw new UsageError(`--protected-mode takes yes or no, received ${protectedMode}`);
      }
      const output = p.options.get("client-output-buffer-limit");
      const limits = typeof output === "string" ? output.trim().split(/\s+/) : [];
      if (output === true || limits.length !== 3 || !limits.every((w) => /^\d+$/.test(w))) {
        if (output !== undefined) {
          throw new UsageError(
            `--client-output-buffer-limit takes "HARD SOFT SECONDS" (bytes, bytes, seconds), ` +
              `received ${String(output)}`,
          );
        }
      }
      const [hard, soft, softSeconds] = limits.map(Number);
      const limitOptions = {
        timeout: positiveInt("timeout", p.options.get("timeout")),
        maxClients: positiveInt("maxclients", p.options.get("maxclients")),
        maxBulkLength: positiveInt("proto-max-bulk-len", p.options.get("proto-max-bulk-len")),
        maxQueryBuffer: positiveInt(
          "client-query-buffer-limit",
          p.options.get("client-query-buffer-limit"),
        ),
        outputBufferLimit: output === undefined ? undefined : { hard, soft, softSeconds },
      };
      const { serveResp } = await import("../server/mod.ts");
      const store = await openStore(s.dir, {
        shards: s.shards,
        backend,
        cache: cacheEntries ? { maxEntries: cacheEntries } : false,
      }).catch((e) => {
        // Without --backend, --page-size alone asked for sqlite: name the flag, not a mismatch.
        if (
          pageSize !== undefined && s.backend === undefined && e instanceof BackendMismatchError
        ) {
          throw new UsageError(
            `--page-size is for the sqlite backend, not ${e.expected} (the backend of the ` +
              `store at ${s.dir})`,
          );
        }
        throw e;
      });
      const server = await serveResp(store, {
        hostname: host,
        port,
        requirepass,
        protectedMode: protectedMode === "yes",
        ...limitOptions,
      }).catch(async (e) => {
        await store.close();
        throw e;
      });
      stderr(
        `shardkv: serving ${s.dir} (${store.backend}, ${store.shards} shards) on ` +
          `redis://${server.hostname}:${server.port}`,
      );
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      stderr("shardkv: shutting down");
      await server.close();
      await store.close();
      stderr("shardkv: stopped");
      return 0;
    },
  },
};

function globalUsage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `Usage: shardkv COMMAND [ARGS] --dir DIR [OPTIONS]

Commands:
${lines.join("\n")}

${GLOBAL_HELP}

Run "shardkv COMMAND --help" for a command's options.`;
}

function commandUsage(name: string): string {
  const c = COMMANDS[name];
  return `Usage: ${c.usage}\n\n${c.summary[0].toUpperCase()}${
    c.summary.slice(1)
  }.\n\n${GLOBAL_HELP}`;
}

/** Parses a command's arguments with node:util parseArgs; its errors become usage errors. */
function parse(argv: readonly string[], spec: CommandSpec | undefined): Parsed {
  type OptionSpec = { type: "string" | "boolean"; short?: string };
  const options: Record<string, OptionSpec> = { help: { type: "boolean", short: "h" } };
  for (const name of [...GLOBAL_VALUED, ...(spec?.valued ?? [])]) {
    options[name] = { type: "string" };
  }
  for (const name of spec?.flags ?? []) options[name] = { type: "boolean" };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(parseArgsMessage(e));
  }
  const values = new Map<string, string | true>();
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === "string") values.set(name, value);
    else if (value === true) values.set(name, true);
  }
  return { positionals: parsed.positionals, options: values };
}

/** A short message for a parseArgs error (its own messages differ a little between runtimes). */
function parseArgsMessage(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const message = String(err?.message ?? e);
  const option = message.match(/'(-[^' ]+)/)?.[1];
  if (err?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) return `unknown option ${option}`;
  if (err?.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option) {
    return /argument missing/.test(message)
      ? `${option} needs a value`
      : `${option} takes no value`;
  }
  return message;
}

/** The backend `serve` opens: `--backend`, or SQLite with `--page-size` for new files. */
function serveBackend(
  s: StoreArgs,
  pageSize: number | undefined,
): BackendName | BackendDescriptor | undefined {
  if (pageSize === undefined) return s.backend;
  if (s.backend !== undefined && s.backend !== "sqlite") {
    throw new UsageError(`--page-size is for the sqlite backend, not ${s.backend}`);
  }
  try {
    return sqlite({ pageSize });
  } catch {
    throw new UsageError(
      `--page-size takes a power of two from 512 to 65536 (bytes), received ${pageSize}`,
    );
  }
}

function storeArgs(p: Parsed, spec: CommandSpec): StoreArgs {
  const dir = p.options.get("dir") ?? process.env.SHARDKV_DIR;
  if (typeof dir !== "string" || dir === "") throw new UsageError("--dir DIR is required");
  const shards = positiveInt("shards", p.options.get("shards"));
  const backend = p.options.get("backend");
  if (backend !== undefined && !BACKENDS.includes(backend as BackendName)) {
    throw new UsageError(
      `--backend must be one of ${BACKENDS.join(", ")}, received ${String(backend)}`,
    );
  }
  const args: StoreArgs = {
    dir,
    shards,
    backend: backend as BackendName | undefined,
    open: () => openStore(dir, { shards: args.shards, backend: args.backend }),
  };
  spec.check?.(args);
  if (spec.existing && backend !== "memory" && !existsSync(join(dir, MANIFEST_FILE))) {
    throw new Error(`no shardkv store at ${dir} (no ${MANIFEST_FILE})`);
  }
  return args;
}

/**
 * Runs the CLI with `argv` (the arguments after the program name) and resolves with the exit
 * code: 0 success, 1 error, 2 bad usage. Output goes to the process's stdout and stderr.
 *
 * @example
 * ```ts
 * import { main } from "@shardkv/shardkv/cli";
 * await main(["--help"]); // 0, prints the usage
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  const name = argv[0];
  const spec = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  try {
    if (spec === undefined) {
      const help = name === undefined || name === "--help" || name === "-h" || name === "help";
      if (name === undefined) {
        stderr(globalUsage());
        return 2;
      }
      if (help) {
        await stdout(`${globalUsage()}\n`);
        return 0;
      }
      throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    }
    const p = parse(argv.slice(1), spec);
    if (p.options.has("help")) {
      await stdout(`${commandUsage(name)}\n`);
      return 0;
    }
    const [min, max] = spec.args;
    if (p.positionals.length < min || p.positionals.length > max) {
      throw new UsageError(
        `${name} takes ${
          min === max ? min : `${min} to ${max}`
        } argument(s), received ${p.positionals.length}`,
      );
    }
    return await spec.run(storeArgs(p, spec), p);
  } catch (e) {
    if (e instanceof UsageError) {
      stderr(`shardkv: ${e.message}`);
      stderr(`Run "shardkv ${spec ? `${name} ` : ""}--help" for usage.`);
      return 2;
    }
    stderr(`shardkv: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
