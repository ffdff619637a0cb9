// Generic key commands (Redis 7.0's generic group): deletion, TTLs, renames, type, scans.
import {
  CommandError,
  int32,
  int64,
  INT64_MAX,
  INT64_MIN,
  latin1,
  NOT_INTEGER,
  SYNTAX,
  upper,
} from "./_cmd_args.ts";
import {
  ALL_KEYS,
  type Call,
  type CommandSpec,
  NO_KEYS,
  specsOf,
  TWO_KEYS,
} from "./_cmd_context.ts";
import { DATABASES, Glob, keysOf, rangesOf, redisKey, storeKey } from "./_cmd_keyspace.ts";
import { OK, type Reply, SimpleReply } from "./resp.ts";

const STRING = new SimpleReply("string");
const NONE = new SimpleReply("none");

/** EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: Redis's expireGenericCommand. */
async function expire(call: Call, name: string, seconds: boolean, relative: boolean) {
  const { args, ops, now } = call;
  let nx = false, xx = false, gt = false, lt = false;
  for (let j = 2; j < args.length; j++) {
    const opt = upper(args[j]);
    if (opt === "NX") nx = true;
    else if (opt === "XX") xx = true;
    else if (opt === "GT") gt = true;
    else if (opt === "LT") lt = true;
    else {
      const shown = latin1(args[j].subarray(0, 128)).split("\0")[0].replace(/[\r\n]/g, " ");
      throw new CommandError(`ERR Unsupported option ${shown}`);
    }
  }
  if (nx && (xx || gt || lt)) {
    throw new CommandError("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) {
    throw new CommandError("ERR GT and LT options at the same time are not compatible");
  }
  let when = int64(args[1]);
  const bad = new CommandError(`ERR invalid expire time in '${name}' command`);
  if (seconds) {
    if (when > INT64_MAX / 1000n || when < INT64_MIN / 1000n) throw bad;
    when *= 1000n;
  }
  const base = relative ? BigInt(now) : 0n;
  if (when > INT64_MAX - base) throw bad;
  when += base;
  const key = call.keys[0];
  const value = await ops.get(key);
  if (value === undefined) return 0;
  if (nx || xx || gt || lt) {
    const left = await ops.ttl(key);
    const current = left === undefined || left === Infinity ? -1n : BigInt(now + left);
    if (nx && current !== -1n) return 0;
    if (xx && current === -1n) return 0;
    if (gt && (when <= current || current === -1n)) return 0;
    if (lt && current !== -1n && when >= current) return 0;
  }
  if (when <= BigInt(now)) await ops.delete(key);
  else await ops.set(key, value, Number(when) - now);
  return 1;
}

/** TTL, PTTL, EXPIRETIME, PEXPIRETIME. */
function ttlCommand(ms: boolean, absolute: boolean) {
  return async (call: Call): Promise<Reply> => {
    const left = await call.ops.ttl(call.keys[0]);
    if (left === undefined) return -2;
    if (left === Infinity) return -1;
    const t = absolute ? call.now + left : left;
    return ms ? Math.round(t) : Math.floor((Math.round(t) + 500) / 1000);
  };
}

async function rename(call: Call, nx: boolean): Promise<Reply> {
  const [from, to] = call.keys;
  const value = await call.ops.get(from);
  if (value === undefined) throw new CommandError("ERR no such key");
  if (from === to) return nx ? 0 : OK;
  if (nx && (await call.ops.get(to)) !== undefined) return 0;
  const ttl = await call.ops.ttl(from);
  await call.ops.set(to, value, ttl);
  await call.ops.delete(from);
  return nx ? 1 : OK;
}

/** COPY's options: the destination database and REPLACE. */
function copyOptions(args: Uint8Array[], db: number): { db: number; replace: boolean } {
  let replace = false;
  let dst = db;
  for (let j = 2; j < args.length; j++) {
    const opt = upper(args[j]);
    if (opt === "REPLACE") replace = true;
    else if (opt === "DB" && j + 1 < args.length) {
      const n = int32(args[++j]);
      if (n < 0 || n >= DATABASES) throw new CommandError("ERR DB index is out of range");
      dst = n;
    } else throw new CommandError(SYNTAX);
  }
  return { db: dst, replace };
}

async function copy(call: Call): Promise<Reply> {
  const { replace } = copyOptions(call.args, call.client.db);
  const [from, to] = call.keys;
  if (from === to) throw new CommandError("ERR source and destination objects are the same");
  const value = await call.ops.get(from);
  if (value === undefined) return 0;
  if (!replace && (await call.ops.get(to)) !== undefined) return 0;
  await call.ops.set(to, value, await call.ops.ttl(from));
  return 1;
}

/**
 * A SCAN cursor read as Redis's parseScanCursorOrReply does (strtoul, base 10): it stops at a
 * NUL byte, takes a sign ("-1" wraps to 2^64 - 1) and leading zeros, reads "" as 0, and refuses
 * a leading space, anything after the digits and values past 2^64 - 1.
 */
function cursorOf(arg: Uint8Array): string {
  const nul = arg.indexOf(0);
  const text = latin1(nul < 0 ? arg : arg.subarray(0, nul));
  const m = /^([+-]?)0*(\d*)$/.exec(text);
  if (text === "") return "0";
  if (m === null || (m[2] === "" && !/\d/.test(text)) || m[2].length > 20) {
    throw new CommandError("ERR invalid cursor");
  }
  const max = 2n ** 64n;
  const n = BigInt(m[2] === "" ? "0" : m[2]);
  if (n >= max) throw new CommandError("ERR invalid cursor");
  return String(m[1] === "-" ? (max - n) % max : n);
}

/** SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. */
async function scan(call: Call): Promise<Reply> {
  const { ctx, args } = call;
  const cursor = cursorOf(args[0]);
  let pattern: Uint8Array | null = null;
  let count = 10;
  let type: string | undefined;
  for (let i = 1; i < args.length;) {
    const opt = upper(args[i]);
    const more = args.length - i >= 2;
    if (opt === "COUNT" && more) {
      const n = int64(args[i + 1]);
      if (n < INT64_MIN || n > INT64_MAX) throw new CommandError(NOT_INTEGER);
      if (n < 1n) throw new CommandError(SYNTAX);
      count = Number(n > 100_000n ? 100_000n : n);
    } else if (opt === "MATCH" && more) {
      pattern = args[i + 1].length === 1 && args[i + 1][0] === 0x2a ? null : args[i + 1];
    } else if (opt === "TYPE" && more) {
      type = latin1(args[i + 1]).toLowerCase();
    } else throw new CommandError(SYNTAX);
    i += 2;
  }
  // The cursor names a position: the index of the range of this db, then the last key seen.
  const saved = ctx.cursors.resume(cursor);
  let rangeIndex = 0;
  let after: string | undefined;
  if (saved !== undefined) {
    const cut = saved.indexOf(":");
    rangeIndex = Number(saved.slice(0, cut));
    after = saved.slice(cut + 1);
  }
  const glob = pattern === null ? null : new Glob(pattern);
  const ranges = rangesOf(call.client.db, glob?.prefix ?? new Uint8Array(0));
  const found: Uint8Array[] = [];
  while (rangeIndex < ranges.length) {
    const range = ranges[rangeIndex];
    const page = await ctx.store.scanKeys(range.prefix, {
      limit: count,
      after: after ?? range.after,
    });
    for (const key of page) {
      const bytes = redisKey(key);
      if (glob === null || glob.matches(bytes)) found.push(bytes);
    }
    if (page.length === count) {
      const next = ctx.cursors.save(`${rangeIndex}:${page[page.length - 1]}`);
      return [next, type === undefined || type === "string" ? found : []];
    }
    rangeIndex++;
    after = undefined;
  }
  return ["0", type === undefined || type === "string" ? found : []];
}

async function keys(call: Call): Promise<Reply> {
  const pattern = call.args[0].length === 1 && call.args[0][0] === 0x2a ? null : call.args[0];
  const out: Uint8Array[] = [];
  for await (const key of keysOf(call.ctx.store, call.client.db, pattern)) out.push(redisKey(key));
  return out;
}

/** A random key of the db: the first key after a random point of its ranges, or null. */
async function randomkey(call: Call): Promise<Reply> {
  const { store } = call.ctx;
  const ranges = rangesOf(call.client.db, new Uint8Array(0));
  const start = Math.floor(Math.random() * ranges.length);
  for (let k = 0; k < ranges.length * 2; k++) {
    const range = ranges[(start + k) % ranges.length];
    // A random point inside the range on the first pass, then its start.
    const point = k < ranges.length
      ? range.prefix + String.fromCharCode(32 + Math.floor(Math.random() * 95))
      : range.after;
    const [key] = await store.scanKeys(range.prefix, { limit: 1, after: point });
    if (key !== undefined) return redisKey(key);
  }
  return null;
}

const spec = specsOf("generic");

/** DEL/UNLINK (`del`) or EXISTS/TOUCH: how many of the keys existed (EXISTS counts repeats). */
async function countLive(call: Call, del: boolean): Promise<number> {
  if (del) return await call.ops.deleteMany(call.keys);
  let n = 0;
  for (const value of await call.ops.getMany(call.keys)) if (value !== undefined) n++;
  return n;
}

const W = ["write", "fast"];
const R = ["readonly", "fast"];

/** The generic key commands, by lowercase name. */
export const KEY_COMMANDS: Record<string, CommandSpec> = {
  del: spec(-2, ["write"], "Delete a key", "1.0.0", (c) => countLive(c, true), ALL_KEYS),
  unlink: spec(
    -2,
    W,
    "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
    "4.0.0",
    (c) => countLive(c, true),
    ALL_KEYS,
  ),
  exists: spec(-2, R, "Determine if a key exists", "1.0.0", (c) => countLive(c, false), ALL_KEYS),
  touch: spec(
    -2,
    R,
    "Alters the last access time of a key(s). Returns the number of existing keys specified.",
    "3.2.1",
    (c) => countLive(c, false),
    ALL_KEYS,
  ),
  type: spec(2, R, "Determine the type stored at key", "1.0.0", async (c) => {
    return (await c.ops.get(c.keys[0])) === undefined ? NONE : STRING;
  }),
  expire: spec(
    -3,
    W,
    "Set a key's time to live in seconds",
    "1.0.0",
    (c) => expire(c, "expire", true, true),
  ),
  pexpire: spec(
    -3,
    W,
    "Set a key's time to live in milliseconds",
    "2.6.0",
    (c) => expire(c, "pexpire", false, true),
  ),
  expireat: spec(
    -3,
    W,
    "Set the expiration for a key as a UNIX timestamp",
    "1.2.0",
    (c) => expire(c, "expireat", true, false),
  ),
  pexpireat: spec(
    -3,
    W,
    "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    "2.6.0",
    (c) => expire(c, "pexpireat", false, false),
  ),
  ttl: spec(2, R, "Get the time to live for a key in seconds", "1.0.0", ttlCommand(false, false)),
  pttl: spec(
    2,
    R,
    "Get the time to live for a key in milliseconds",
    "2.6.0",
    ttlCommand(true, false),
  ),
  expiretime: spec(
    2,
    R,
    "Get the expiration Unix timestamp for a key",
    "7.0.0",
    ttlCommand(false, true),
  ),
  pexpiretime: spec(
    2,
    R,
    "Get the expiration Unix timestamp for a key in milliseconds",
    "7.0.0",
    ttlCommand(true, true),
  ),
  persist: spec(2, W, "Remove the expiration from a key", "2.2.0", async (c) => {
    const key = c.keys[0];
    const value = await c.ops.get(key);
    if (value === undefined || (await c.ops.ttl(key)) === Infinity) return 0;
    await c.ops.set(key, value);
    return 1;
  }),
  rename: spec(3, ["write"], "Rename a key", "1.0.0", (c) => rename(c, false), TWO_KEYS),
  renamenx: spec(
    3,
    W,
    "Rename a key, only if the new key does not exist",
    "1.0.0",
    (c) => rename(c, true),
    TWO_KEYS,
  ),
  copy: {
    ...spec(-3, ["write", "denyoom"], "Copy a key", "6.2.0", copy, TWO_KEYS),
    keysOf: (args, db) => {
      // Bad options are COPY's error when it runs (in MULTI: at EXEC, as Redis).
      let dst = db;
      try {
        dst = copyOptions(args, db).db;
      } catch {
        // The key in the current database stands for it until then.
      }
      return [storeKey(db, args[0]), storeKey(dst, args[1])];
    },
  },
  keys: spec(2, ["readonly"], "Find all keys matching the given pattern", "1.0.0", keys, NO_KEYS),
  scan: spec(-2, ["readonly"], "Incrementally iterate the keys space", "2.8.0", scan, NO_KEYS),
  randomkey: spec(
    1,
    ["readonly"],
    "Return a random key from the keyspace",
    "1.0.0",
    randomkey,
    NO_KEYS,
  ),
};
