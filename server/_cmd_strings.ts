// String commands (Redis 7.0's string group), with Redis's argument order, replies and errors.
import { decodeCounter, encodeCounter, MAX_VALUE_BYTES } from "../mod.ts";
import {
  CommandError,
  encoder,
  int64,
  INT64_MAX,
  INT64_MIN,
  int64Of,
  latin1,
  NOT_FLOAT,
  SYNTAX,
  upper,
} from "./_cmd_args.ts";
import {
  addLongDouble,
  formatLongDouble,
  type LongDouble,
  parseLongDouble,
} from "./_cmd_long_double.ts";
import { type Call, type CommandSpec, specsOf, TWO_KEYS } from "./_cmd_context.ts";
import { OK, type Reply } from "./resp.ts";
import { mapReply } from "./_cmd_resp3.ts";

const TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
const EMPTY = new Uint8Array(0);
const ZERO: LongDouble = { negative: false, sig: 0n, exp: 0 };
/** LCS's dynamic-programming table limit: 16M cells, 64 MiB. */
const LCS_MAX_CELLS = 16 * 1024 * 1024;

/**
 * MSET and MSETNX take key-value pairs. Redis checks that when the command runs, not when it
 * is queued in MULTI (where its arity, at least 3, passes).
 */
function pairsArity(args: Uint8Array[], name: string): void {
  if (args.length % 2 !== 0) {
    throw new CommandError(`ERR wrong number of arguments for '${name}' command`);
  }
}

function checkLength(n: number): void {
  if (n > MAX_VALUE_BYTES) throw new CommandError(TOO_BIG);
}

/** The options of SET and GETEX, parsed as Redis's parseExtendedStringArgumentsOrReply does. */
interface StringOptions {
  nx: boolean;
  xx: boolean;
  get: boolean;
  keepTtl: boolean;
  persist: boolean;
  /** EX/PX/EXAT/PXAT's unit and argument, when given (see {@linkcode expireAt}). */
  unit?: string;
  expire?: Uint8Array;
}

function parseOptions(args: Uint8Array[], from: number, command: "set" | "getex"): StringOptions {
  const o: StringOptions = { nx: false, xx: false, get: false, keepTtl: false, persist: false };
  let unit: string | undefined;
  let expire: Uint8Array | undefined;
  const set = command === "set";
  for (let j = from; j < args.length; j++) {
    const opt = upper(args[j]);
    const hasNext = j + 1 < args.length;
    const noTtl = !o.keepTtl && !o.persist;
    if (opt === "NX" && !o.xx && set) o.nx = true;
    else if (opt === "XX" && !o.nx && set) o.xx = true;
    else if (opt === "GET" && set) o.get = true;
    else if (opt === "KEEPTTL" && !o.persist && unit === undefined && set) o.keepTtl = true;
    else if (opt === "PERSIST" && !set && unit === undefined && !o.keepTtl) o.persist = true;
    else if (
      (opt === "EX" || opt === "PX" || opt === "EXAT" || opt === "PXAT") && noTtl &&
      (unit === undefined || unit === opt) && hasNext
    ) {
      unit = opt;
      expire = args[++j];
    } else throw new CommandError(SYNTAX);
  }
  o.unit = unit;
  o.expire = expire;
  return o;
}

/** Redis's getExpireMillisecondsOrReply: the absolute expiry time in ms. */
function expireAt(arg: Uint8Array, unit: string, command: string, now: number): bigint {
  let ms = int64(arg);
  const bad = new CommandError(`ERR invalid expire time in '${command}' command`);
  const seconds = unit === "EX" || unit === "EXAT";
  if (ms <= 0n || (seconds && ms > INT64_MAX / 1000n)) throw bad;
  if (seconds) ms *= 1000n;
  if (unit === "EX" || unit === "PX") ms += BigInt(now);
  if (ms > INT64_MAX) throw bad;
  return ms;
}

/** The TTL in ms for an absolute expiry time (0: already expired). */
function ttlOf(at: bigint, now: number): number {
  const left = Number(at) - now;
  return left > 0 ? left : 0;
}

async function set(call: Call): Promise<Reply> {
  const { args, ops, now } = call;
  const key = call.keys[0];
  const value = args[1];
  const o = parseOptions(args, 2, "set");
  const at = o.unit === undefined ? undefined : expireAt(o.expire!, o.unit, "set", now);
  let old: Uint8Array | undefined;
  if (o.get || o.nx || o.xx || o.keepTtl) old = await ops.get(key);
  if ((o.nx && old !== undefined) || (o.xx && old === undefined)) return o.get ? old ?? null : null;
  let ttl: number | undefined;
  if (o.keepTtl) ttl = old === undefined ? undefined : await ops.ttl(key);
  else if (at !== undefined) ttl = ttlOf(at, now);
  await ops.set(key, value, ttl);
  return o.get ? old ?? null : OK;
}

async function setWithTtl(call: Call, command: string, seconds: boolean): Promise<Reply> {
  const { args, now } = call;
  const at = expireAt(args[1], seconds ? "EX" : "PX", command, now);
  await call.ops.set(call.keys[0], args[2], ttlOf(at, now));
  return OK;
}

async function getex(call: Call): Promise<Reply> {
  const { ops, now } = call;
  const key = call.keys[0];
  const o = parseOptions(call.args, 1, "getex");
  const value = await ops.get(key);
  if (value === undefined) return null;
  // Redis checks the expire value only once the key is found.
  if (o.unit !== undefined) {
    const ttl = ttlOf(expireAt(o.expire!, o.unit, "getex", now), now);
    if (ttl === 0) await ops.delete(key);
    else await ops.set(key, value, ttl);
  } else if (o.persist && (await ops.ttl(key)) !== Infinity) await ops.set(key, value);
  return value;
}

/** Replaces a key's value keeping its TTL. */
async function rewrite(call: Call, key: string, value: Uint8Array, existed: boolean) {
  const ttl = existed ? await call.ops.ttl(key) : undefined;
  await call.ops.set(key, value, ttl);
}

/** The integer a stored value holds: a decimal string, or an 8-byte counter of `store.incr`. */
function storedInteger(value: Uint8Array): { n: bigint; binary: boolean } {
  const dec = int64Of(value);
  if (dec !== undefined) return { n: dec, binary: false };
  if (value.byteLength === 8) return { n: BigInt(decodeCounter(value)), binary: true };
  throw new CommandError("ERR value is not an integer or out of range");
}

/**
 * INCRBY as Redis does it: a missing key counts as 0, the TTL is kept. A value that is not a
 * decimal string but has 8 bytes is a counter written by shardkv's `store.incr` and stays in that
 * format, so library code and Redis clients can share counters.
 */
async function incrBy(call: Call, by: bigint): Promise<Reply> {
  const key = call.keys[0];
  const old = await call.ops.get(key);
  const { n, binary } = old === undefined ? { n: 0n, binary: false } : storedInteger(old);
  if ((by < 0n && n < 0n && by < INT64_MIN - n) || (by > 0n && n > 0n && by > INT64_MAX - n)) {
    throw new CommandError("ERR increment or decrement would overflow");
  }
  const next = n + by;
  const safe = next <= BigInt(Number.MAX_SAFE_INTEGER) && next >= -BigInt(Number.MAX_SAFE_INTEGER);
  if (binary && !safe) throw new CommandError("ERR increment or decrement would overflow");
  const value = binary ? encodeCounter(Number(next)) : encoder.encode(String(next));
  await rewrite(call, key, value, old !== undefined);
  return next;
}

/** A stored value or argument as Redis's string2ld reads it, or "ERR value is not a valid float". */
function longDoubleOf(bytes: Uint8Array): LongDouble | "inf" | "-inf" {
  const v = parseLongDouble(latin1(bytes));
  if (v === undefined) throw new CommandError(NOT_FLOAT);
  return v;
}

async function incrByFloat(call: Call): Promise<Reply> {
  const key = call.keys[0];
  const old = await call.ops.get(key);
  const n = old === undefined ? ZERO : longDoubleOf(old);
  const by = longDoubleOf(call.args[1]);
  const next = typeof n === "string" || typeof by === "string" ? undefined : addLongDouble(n, by);
  if (next === undefined) throw new CommandError("ERR increment would produce NaN or Infinity");
  const value = encoder.encode(formatLongDouble(next));
  await rewrite(call, key, value, old !== undefined);
  return value;
}

function concat(a: Uint8Array, b: Uint8Array, at: number): Uint8Array {
  const out = new Uint8Array(Math.max(a.length, at + b.length));
  out.set(a);
  out.set(b, at);
  return out;
}

async function append(call: Call): Promise<Reply> {
  const key = call.keys[0];
  const old = await call.ops.get(key);
  const add = call.args[1];
  if (old === undefined) {
    await call.ops.set(key, add);
    return add.length;
  }
  checkLength(old.length + add.length);
  const value = concat(old, add, old.length);
  await rewrite(call, key, value, true);
  return value.length;
}

/** Clamps Redis's start/end (negative: from the end) into a byte range, as GETRANGE does. */
function range(startArg: bigint, endArg: bigint, len: number): [number, number] | undefined {
  if (startArg < 0n && endArg < 0n && startArg > endArg) return undefined;
  let start = startArg < 0n ? BigInt(len) + startArg : startArg;
  let end = endArg < 0n ? BigInt(len) + endArg : endArg;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= BigInt(len)) end = BigInt(len) - 1n;
  if (start > end || len === 0) return undefined;
  return [Number(start), Number(end)];
}

async function getrange(call: Call): Promise<Reply> {
  const start = int64(call.args[1]);
  const end = int64(call.args[2]);
  const value = (await call.ops.get(call.keys[0])) ?? EMPTY;
  const r = range(start, end, value.length);
  return r === undefined ? EMPTY : value.subarray(r[0], r[1] + 1);
}

async function setrange(call: Call): Promise<Reply> {
  const key = call.keys[0];
  const offset = int64(call.args[1]);
  if (offset < 0n) throw new CommandError("ERR offset is out of range");
  const add = call.args[2];
  const old = await call.ops.get(key);
  if (add.length === 0) return old?.length ?? 0;
  if (offset + BigInt(add.length) > BigInt(MAX_VALUE_BYTES)) throw new CommandError(TOO_BIG);
  const value = concat(old ?? EMPTY, add, Number(offset));
  await rewrite(call, key, value, old !== undefined);
  return value.length;
}

const BIT_OFFSET = "ERR bit offset is not an integer or out of range";

function bitOffset(arg: Uint8Array): number {
  const n = int64Of(arg);
  if (n === undefined || n < 0n || n >> 3n >= 512n * 1024n * 1024n) {
    throw new CommandError(BIT_OFFSET);
  }
  return Number(n);
}

async function getbit(call: Call): Promise<Reply> {
  const offset = bitOffset(call.args[1]);
  const value = await call.ops.get(call.keys[0]);
  const byte = offset >> 3;
  if (value === undefined || byte >= value.length) return 0;
  return (value[byte] >> (7 - (offset & 7))) & 1;
}

async function setbit(call: Call): Promise<Reply> {
  const key = call.keys[0];
  const offset = bitOffset(call.args[1]);
  const bitErr = "ERR bit is not an integer or out of range";
  const on = int64(call.args[2], bitErr);
  if (on !== 0n && on !== 1n) throw new CommandError(bitErr);
  const byte = offset >> 3;
  checkLength(byte + 1);
  const old = await call.ops.get(key);
  const value = concat(old ?? EMPTY, EMPTY, byte + 1);
  const mask = 1 << (7 - (offset & 7));
  const was = value[byte] & mask ? 1 : 0;
  // Redis 7.0 writes (and so marks WATCHers) only a new or longer value, or a changed bit.
  if (old !== undefined && byte < old.length && BigInt(was) === on) return was;
  value[byte] = on === 1n ? value[byte] | mask : value[byte] & ~mask;
  await rewrite(call, key, value, old !== undefined);
  return was;
}

function popcount(b: number): number {
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return (b + (b >> 4)) & 0x0f;
}

async function bitcount(call: Call): Promise<Reply> {
  const { args } = call;
  // Redis 7.0 looks the key up first: a missing key counts 0 whatever the other arguments.
  const value = await call.ops.get(call.keys[0]);
  if (value === undefined) return 0;
  let start = 0n;
  let end = 0n;
  let isBit = false;
  if (args.length === 3 || args.length === 4) {
    start = int64(args[1]);
    end = int64(args[2]);
    // Redis answers 0 here, before it looks at BIT/BYTE.
    if (start < 0n && end < 0n && start > end) return 0;
    if (args.length === 4) {
      const unit = upper(args[3]);
      if (unit === "BIT") isBit = true;
      else if (unit !== "BYTE") throw new CommandError(SYNTAX);
    }
  } else if (args.length !== 1) throw new CommandError(SYNTAX);
  if (args.length === 1) {
    start = 0n;
    end = BigInt(value.length) - 1n;
  }
  const total = BigInt(value.length) * (isBit ? 8n : 1n);
  if (args.length > 1) {
    if (start < 0n) start += total;
    if (end < 0n) end += total;
    if (start < 0n) start = 0n;
    if (end < 0n) end = 0n;
    if (end >= total) end = total - 1n;
  }
  if (start > end) return 0;
  let firstMask = 0;
  let lastMask = 0;
  let s = Number(start);
  let e = Number(end);
  if (isBit) {
    firstMask = ~((1 << (8 - (s & 7))) - 1) & 0xff;
    lastMask = (1 << (7 - (e & 7))) - 1;
    s >>= 3;
    e >>= 3;
  }
  let n = 0;
  for (let i = s; i <= e; i++) n += popcount(value[i]);
  if (firstMask) n -= popcount(value[s] & firstMask);
  if (lastMask) n -= popcount(value[e] & lastMask);
  return n;
}

async function lcs(call: Call): Promise<Reply> {
  const { args, client } = call;
  const a = (await call.ops.get(call.keys[0])) ?? EMPTY;
  const b = (await call.ops.get(call.keys[1])) ?? EMPTY;
  let getIdx = false;
  let getLen = false;
  let withLen = false;
  let minLen = 0n;
  for (let j = 2; j < args.length; j++) {
    const opt = upper(args[j]);
    if (opt === "IDX") getIdx = true;
    else if (opt === "LEN") getLen = true;
    else if (opt === "WITHMATCHLEN") withLen = true;
    else if (opt === "MINMATCHLEN" && j + 1 < args.length) {
      minLen = int64(args[++j]);
      if (minLen < 0n) minLen = 0n;
    } else throw new CommandError(SYNTAX);
  }
  if (getIdx && getLen) {
    throw new CommandError("ERR If you want both the length and indexes, please just use IDX.");
  }
  // The table has (a+1)*(b+1) 4-byte cells: bounded so one request cannot take the memory.
  if ((a.length + 1) * (b.length + 1) > LCS_MAX_CELLS) {
    throw new CommandError(
      `ERR LCS needs (len1+1)*(len2+1) <= ${LCS_MAX_CELLS} in shardkv, received ${a.length} and ${b.length} bytes`,
    );
  }
  const w = b.length + 1;
  const dp = new Uint32Array((a.length + 1) * w);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i * w + j] = a[i - 1] === b[j - 1]
        ? dp[(i - 1) * w + j - 1] + 1
        : Math.max(dp[(i - 1) * w + j], dp[i * w + j - 1]);
    }
  }
  const total = dp[a.length * w + b.length];
  if (getLen) return total;
  const result = new Uint8Array(total);
  const matches: Reply[] = [];
  let idx = total;
  let i = a.length;
  let j = b.length;
  let aStart = a.length;
  let aEnd = 0;
  let bStart = 0;
  let bEnd = 0;
  while (i > 0 && j > 0) {
    let emit = false;
    if (a[i - 1] === b[j - 1]) {
      result[idx - 1] = a[i - 1];
      if (aStart === a.length) {
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else emit = true;
      if (aStart === 0 || bStart === 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      if (dp[(i - 1) * w + j] > dp[i * w + j - 1]) i--;
      else j--;
      if (aStart !== a.length) emit = true;
    }
    if (emit) {
      const len = aEnd - aStart + 1;
      if (minLen === 0n || BigInt(len) >= minLen) {
        const m: Reply[] = [[aStart, aEnd], [bStart, bEnd]];
        if (withLen) m.push(len);
        matches.push(m);
      }
      aStart = a.length;
    }
  }
  if (getIdx) return mapReply(client, [["matches", matches], ["len", total]]);
  return result;
}

const READ = ["readonly", "fast"];
const WRITE = ["write", "denyoom"];
const WRITE_FAST = ["write", "denyoom", "fast"];

const spec = specsOf("string");

/** The string commands, by lowercase name. */
export const STRING_COMMANDS: Record<string, CommandSpec> = {
  get: spec(2, READ, "Get the value of a key", "1.0.0", async (c) => {
    return (await c.ops.get(c.keys[0])) ?? null;
  }),
  set: spec(-3, WRITE, "Set the string value of a key", "1.0.0", set),
  setnx: spec(
    3,
    WRITE_FAST,
    "Set the value of a key, only if the key does not exist",
    "1.0.0",
    async (c) => {
      if ((await c.ops.get(c.keys[0])) !== undefined) return 0;
      await c.ops.set(c.keys[0], c.args[1]);
      return 1;
    },
  ),
  setex: spec(
    4,
    WRITE,
    "Set the value and expiration of a key",
    "2.0.0",
    (c) => setWithTtl(c, "setex", true),
  ),
  psetex: spec(
    4,
    WRITE,
    "Set the value and expiration in milliseconds of a key",
    "2.6.0",
    (c) => setWithTtl(c, "psetex", false),
  ),
  getset: spec(
    3,
    WRITE_FAST,
    "Set the string value of a key and return its old value",
    "1.0.0",
    async (c) => {
      const old = await c.ops.get(c.keys[0]);
      await c.ops.set(c.keys[0], c.args[1]);
      return old ?? null;
    },
  ),
  getdel: spec(
    2,
    ["write", "fast"],
    "Get the value of a key and delete the key",
    "6.2.0",
    async (c) => {
      const old = await c.ops.get(c.keys[0]);
      if (old !== undefined) await c.ops.delete(c.keys[0]);
      return old ?? null;
    },
  ),
  getex: spec(
    -2,
    ["write", "fast"],
    "Get the value of a key and optionally set its expiration",
    "6.2.0",
    getex,
  ),
  mget: spec(-2, READ, "Get the values of all the given keys", "1.0.0", async (c) => {
    return (await c.ops.getMany(c.keys)).map((v) => v ?? null);
  }, [1, -1, 1]),
  mset: spec(-3, WRITE, "Set multiple keys to multiple values", "1.0.1", async (c) => {
    pairsArity(c.args, "mset");
    await c.ops.setMany(c.keys.map((key, i) => [key, c.args[2 * i + 1]]));
    return OK;
  }, [1, -1, 2]),
  msetnx: spec(
    -3,
    WRITE,
    "Set multiple keys to multiple values, only if none of the keys exist",
    "1.0.1",
    async (c) => {
      pairsArity(c.args, "msetnx");
      if ((await c.ops.getMany(c.keys)).some((v) => v !== undefined)) return 0;
      await c.ops.setMany(c.keys.map((key, i) => [key, c.args[2 * i + 1]]));
      return 1;
    },
    [1, -1, 2],
  ),
  append: spec(3, WRITE_FAST, "Append a value to a key", "2.0.0", append),
  strlen: spec(2, READ, "Get the length of the value stored in a key", "2.2.0", async (c) => {
    return (await c.ops.get(c.keys[0]))?.length ?? 0;
  }),
  getrange: spec(
    4,
    ["readonly"],
    "Get a substring of the string stored at a key",
    "2.4.0",
    getrange,
  ),
  substr: spec(4, ["readonly"], "Get a substring of the string stored at a key", "1.0.0", getrange),
  setrange: spec(
    4,
    WRITE,
    "Overwrite part of a string at key starting at the specified offset",
    "2.2.0",
    setrange,
  ),
  // Redis files the bit commands under the bitmap group.
  getbit: {
    ...spec(
      3,
      READ,
      "Returns the bit value at offset in the string value stored at key",
      "2.2.0",
      getbit,
    ),
    group: "bitmap",
  },
  setbit: {
    ...spec(
      4,
      WRITE,
      "Sets or clears the bit at offset in the string value stored at key",
      "2.2.0",
      setbit,
    ),
    group: "bitmap",
  },
  bitcount: {
    ...spec(-2, ["readonly"], "Count set bits in a string", "2.6.0", bitcount),
    group: "bitmap",
  },
  incr: spec(
    2,
    WRITE_FAST,
    "Increment the integer value of a key by one",
    "1.0.0",
    (c) => incrBy(c, 1n),
  ),
  decr: spec(
    2,
    WRITE_FAST,
    "Decrement the integer value of a key by one",
    "1.0.0",
    (c) => incrBy(c, -1n),
  ),
  incrby: spec(
    3,
    WRITE_FAST,
    "Increment the integer value of a key by the given amount",
    "1.0.0",
    (c) => incrBy(c, int64(c.args[1])),
  ),
  decrby: spec(
    3,
    WRITE_FAST,
    "Decrement the integer value of a key by the given number",
    "1.0.0",
    (c) => {
      const by = int64(c.args[1]);
      if (by === INT64_MIN) throw new CommandError("ERR decrement would overflow");
      return incrBy(c, -by);
    },
  ),
  incrbyfloat: spec(
    3,
    WRITE_FAST,
    "Increment the float value of a key by the given amount",
    "2.6.0",
    incrByFloat,
  ),
  lcs: spec(-3, ["readonly"], "Find longest common substring", "7.0.0", lcs, TWO_KEYS),
};
