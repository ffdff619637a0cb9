// The redis backend: each shard is one Redis hash slot. Its keys all start with the hash tag
// `{shardkv:<store>:<i>}`, put first so no `{...}` inside a user key can move them; a Redis
// Cluster spreads the shards over its nodes, and each script of a shard runs atomically on one.
import type { Buffer } from "node:buffer";
import { BaseDriver, type Update } from "../core/base_driver.ts";
import type {
  Checks,
  Entry,
  Journal,
  RangeQuery,
  RangeResult,
  ShardTxn,
  WriteOp,
} from "../core/driver.ts";
import { ShardCountMismatchError, StorageError } from "../core/errors.ts";
import { describe } from "../core/validate.ts";
import { FORMAT_VERSION, HASH_NAME } from "../core/format.ts";
import { type Arg, asArg, type RedisBackendOptions, RedisLink } from "./_redis_client.ts";
import { generationKey, RedisJournal } from "./_redis_journal.ts";
import { renewLease } from "./_lease.ts";
import type { ShardScript } from "./_redis_scripts.ts";

/** How a store's shards are opened. */
export interface RedisShardsInit {
  /** Shard count asked for; an existing store keeps its own. */
  shards: number | undefined;
  /** Shard count of a new store when `shards` is absent. */
  defaultShards: number;
  now: () => number;
  redis: RedisBackendOptions | undefined;
  /**
   * How long a shard's write lock (taken by `begin`) lasts, in ms, before a crashed holder's
   * lock goes away (default LOCK_LEASE, 10 s).
   */
  lease?: number;
}

/**
 * Default lease of a shard's write lock: far longer than a commit takes, short enough that a
 * store is writable again soon after a holder crashed.
 */
const LOCK_LEASE = 10_000;
// How long a write waits for another writer's lock, in leases: a live holder commits well
// within one, a crashed holder's lock is gone after one.
const LOCK_WAIT_LEASES = 3;

// Update attempts that may lose to writers in other processes before giving up.
const CAS_ATTEMPTS = 1000;
// Keys deleted per script call when a store is dropped.
const DROP_BATCH = 1000;

/** `name` with the characters that would end or confuse a hash tag escaped. */
function escapeName(name: string): string {
  return name.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function manifestKey(name: string): string {
  return `{shardkv:${escapeName(name)}}:manifest`;
}

function journalKey(name: string): string {
  return `{shardkv:${escapeName(name)}}:commits`;
}

function shardTag(name: string, i: number): string {
  return `{shardkv:${escapeName(name)}:${i}}`;
}

function checkName(name: string): void {
  if (typeof name !== "string" || name === "") {
    throw new TypeError(`A redis store needs a non-empty name, received ${describe(name)}`);
  }
}

/** A redis store opened by {@linkcode openRedisStore}. */
export interface RedisStoreParts {
  /** Its shards, in order. */
  drivers: RedisBackend[];
  /**
   * Its journal of multi-shard atomic commits, a Redis hash beside the manifest. It uses the
   * shards' connection: use it only while at least one of them is open.
   */
  journal: Journal;
}

/**
 * Opens every shard of the store `name`, creating its manifest (a Redis hash) when missing, and
 * its commit journal. The shards share one connection, closed with the last of them.
 */
export async function openRedisStore(
  name: string,
  init: RedisShardsInit,
): Promise<RedisStoreParts> {
  checkName(name);
  const link = (await RedisLink.open(init.redis ?? {})).acquire();
  try {
    const count = await shardCount(link, name, init);
    const drivers = Array.from(
      { length: count },
      (_, i) =>
        new RedisBackend(link.acquire(), shardTag(name, i), {
          now: init.now,
          shard: i,
          lease: init.lease ?? LOCK_LEASE,
        }),
    );
    return { drivers, journal: new RedisJournal(link, journalKey(name)) };
  } finally {
    await link.release();
  }
}

/** The shards of {@linkcode openRedisStore}, without the journal. */
export async function openRedisShards(
  name: string,
  init: RedisShardsInit,
): Promise<RedisBackend[]> {
  return (await openRedisStore(name, init)).drivers;
}

async function shardCount(link: RedisLink, name: string, init: RedisShardsInit): Promise<number> {
  const reply = await link.run("skvManifest", [manifestKey(name)], [
    String(FORMAT_VERSION),
    "redis",
    String(init.shards ?? init.defaultShards),
    HASH_NAME,
  ]) as Array<Buffer | null>;
  const [format, backend, shards, hash] = reply.map((b) => b?.toString());
  const count = Number(shards);
  if (
    format !== String(FORMAT_VERSION) || backend !== "redis" || hash !== HASH_NAME ||
    !Number.isInteger(count) || count < 1 || count > 256
  ) {
    throw new Error(
      `Redis key ${
        manifestKey(name)
      } is not a shardkv format ${FORMAT_VERSION} manifest, received ${
        JSON.stringify({ format, backend, shards, hash })
      }`,
    );
  }
  if (init.shards !== undefined && init.shards !== count) {
    throw new ShardCountMismatchError(name, { expected: count, received: init.shards });
  }
  return count;
}

/** Deletes every key of the store `name` (its shards and manifest). */
export async function dropRedisShards(
  name: string,
  redis: RedisBackendOptions | undefined,
): Promise<void> {
  checkName(name);
  const link = (await RedisLink.open(redis ?? {})).acquire();
  try {
    // A missing store reads as one empty shard (its manifest is made, then deleted below).
    const count = await shardCount(link, name, {
      shards: undefined,
      defaultShards: 1,
      now: Date.now,
      redis,
    });
    await Promise.all(Array.from({ length: count }, async (_, i) => {
      const keys = shardKeys(shardTag(name, i));
      const args = [String(Date.now()), keys.prefix, String(DROP_BATCH)];
      while (await link.run("skvDrop", keys.keys, args) !== 0) { /* next batch */ }
    }));
    await link.del(journalKey(name));
    await link.del(generationKey(journalKey(name)));
    await link.del(manifestKey(name));
  } finally {
    await link.release();
  }
}

type ShardKeys = [
  index: string,
  expiry: string,
  versions: string,
  changes: string,
  lock: string,
];

function shardKeys(tag: string): { keys: ShardKeys; prefix: string } {
  return {
    keys: [`${tag}:i`, `${tag}:x`, `${tag}:n`, `${tag}:c`, `${tag}:lock`],
    prefix: `${tag}:v:`,
  };
}

/** A short random wait before asking for a held lock again. */
function pause(attempt: number): Promise<void> {
  const ms = 1 + Math.random() * Math.min(20, 2 * attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function opArgs(ops: readonly WriteOp[], args: Arg[]): Arg[] {
  for (const op of ops) {
    if (op.value === undefined) args.push("d", op.key, "", "", "");
    else {
      args.push("s", op.key, asArg(op.value), expiryArg(op.expiresAt), versionArg(op.version));
    }
  }
  return args;
}

/** Entries from the value, expiry, version triples of a read script, for `keys`. */
function entriesOf(keys: readonly string[], reply: Array<Buffer | null>): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (let i = 0; i < keys.length; i++) {
    const value = reply[3 * i];
    if (value === null) continue;
    const expiry = reply[3 * i + 1];
    const version = reply[3 * i + 2];
    out.set(keys[i], {
      value: toBytes(value),
      expiresAt: expiry === null ? null : Number(expiry.toString()),
      version: version === null ? 0 : Number(version.toString()),
    });
  }
  return out;
}

function versionArg(version: number | undefined): string {
  return version === undefined ? "" : String(version);
}

function expiryArg(expiresAt: number | null | undefined): string {
  return expiresAt === null || expiresAt === undefined ? "" : String(expiresAt);
}

function toBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

/** One shard in Redis. */
export class RedisBackend extends BaseDriver {
  readonly #link: RedisLink;
  readonly #keys: ShardKeys;
  readonly #prefix: string;
  readonly #tag: string;
  readonly #shard: number;
  readonly #lease: number;
  // Updates of one key run one after another here, so only other clients make a CAS retry.
  readonly #updates = new Map<string, Promise<unknown>>();

  constructor(
    link: RedisLink,
    tag: string,
    options: { now: () => number; shard: number; lease: number },
  ) {
    super(options.now);
    this.#link = link;
    const { keys, prefix } = shardKeys(tag);
    this.#keys = keys;
    this.#prefix = prefix;
    this.#tag = tag;
    this.#shard = options.shard;
    this.#lease = options.lease;
  }

  #run(script: ShardScript, args: readonly Arg[]): Promise<unknown> {
    return this.#link.run(script, this.#keys, [String(this.now()), this.#prefix, ...args]);
  }

  /**
   * Runs a write script, waiting while another writer's transaction holds the shard (the
   * script answers -1 and writes nothing) for up to a few leases.
   */
  async #runWrite(script: ShardScript, args: readonly Arg[]): Promise<number> {
    return await this.#untilUnlocked(async () => {
      const reply = await this.#run(script, args) as number;
      return reply === -1 ? undefined : reply;
    });
  }

  /** Calls `attempt` until it resolves something other than `undefined` (the shard locked). */
  async #untilUnlocked<T>(attempt: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + LOCK_WAIT_LEASES * this.#lease;
    for (let n = 1;; n++) {
      const result = await attempt();
      if (result !== undefined) return result;
      if (Date.now() >= deadline) {
        throw new StorageError(
          `another writer's transaction held the shard's lock (${this.#keys[4]}) for over ${
            LOCK_WAIT_LEASES * this.#lease
          } ms`,
          { shard: this.#shard, path: this.#tag },
        );
      }
      await pause(n);
    }
  }

  async getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    if (keys.length === 0) return new Map();
    return entriesOf(keys, await this.#run("skvGet", keys) as Array<Buffer | null>);
  }

  /**
   * Takes the shard's write lock (a random token under `<tag>:lock`, with a lease so that a
   * crashed holder's lock expires), waiting while another writer holds it, and reads `keys`
   * under it, in one script call. Every other write script of every client refuses to write
   * while the lock is held, so the shard is this transaction's until commit or release.
   */
  async begin(keys: readonly string[]): Promise<ShardTxn> {
    this.check("write");
    const token = crypto.randomUUID();
    const entries = await this.#untilUnlocked(async () => {
      const reply = await this.#run("skvBegin", [token, String(this.#lease), ...keys]) as
        | Array<Buffer | null>
        | null;
      return reply === null ? undefined : entriesOf(keys, reply);
    });
    let open = true;
    const stopRenewing = this.#renew(token);
    const end = () => {
      if (!open) throw new Error(`The transaction on Redis shard ${this.#tag} already ended`);
      open = false;
      void stopRenewing();
    };
    return {
      entries,
      commit: async (ops) => {
        end();
        if (await this.#run("skvCommit", opArgs(ops, [token])) !== 1) {
          throw new StorageError(
            `the shard's write lock expired (lease ${this.#lease} ms) before the commit: ` +
              `nothing was written`,
            { shard: this.#shard, path: this.#tag },
          );
        }
      },
      release: async () => {
        if (!open) return;
        open = false;
        void stopRenewing();
        await this.#run("skvRelease", [token]);
      },
    };
  }

  /** Renews the lease of the lock held with `token` (./_lease.ts) until the result is called. */
  #renew(token: string): () => Promise<void> {
    // Lost (expired, taken by another writer): the commit will say so.
    return renewLease(
      this.#lease,
      async () => await this.#run("skvRenew", [token, String(this.#lease)]) === 1,
    );
  }

  /** One script call: the checks and the writes run atomically on the shard's node. */
  async apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    this.check("write");
    if (ops.length === 0 && (checks === undefined || checks.size === 0)) return true;
    return await this.#write(checks ?? new Map(), ops);
  }

  /** Writes `ops` if every key of `checks` still holds the entry (or absence) seen. */
  async #write(
    checks: Checks,
    ops: readonly WriteOp[],
  ): Promise<boolean> {
    const args: Arg[] = [String(checks.size)];
    for (const [key, e] of checks) {
      if (e === null) args.push(key, "0", "", "", "");
      else args.push(key, "1", asArg(e.value), expiryArg(e.expiresAt), versionArg(e.version));
    }
    return await this.#runWrite("skvWrite", opArgs(ops, args)) === 1;
  }

  protected update<R>(key: string, fn: (current: Entry | undefined) => Update<R>): Promise<R> {
    const run = (this.#updates.get(key) ?? Promise.resolve()).then(() => this.#cas(key, fn));
    const tail = run.then(() => {}, () => {});
    this.#updates.set(key, tail);
    void tail.then(() => {
      if (this.#updates.get(key) === tail) this.#updates.delete(key);
    });
    return run;
  }

  async #cas<R>(key: string, fn: (current: Entry | undefined) => Update<R>): Promise<R> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = (await this.getEntries([key])).get(key);
      const { next, result } = fn(current);
      if (next === undefined) return result;
      const op = next === null ? { key } : { key, ...next };
      if (await this.#write(new Map([[key, current ?? null]]), [op])) return result;
    }
    throw new Error(
      `Update of "${key}" lost to other Redis clients ${CAS_ATTEMPTS} times in a row`,
    );
  }

  async remove(keys: readonly string[]): Promise<number> {
    return await this.#runWrite("skvRemove", keys);
  }

  async range(q: RangeQuery): Promise<RangeResult> {
    const reply = await this.#run("skvRange", [
      q.lo === undefined ? "-" : `${q.loExclusive ? "(" : "["}${q.lo}`,
      q.hi === undefined ? "+" : `(${q.hi}`,
      q.reverse ? "1" : "0",
      String(Number.isFinite(q.limit) ? q.limit : 0),
      q.keysOnly ? "1" : "0",
      q.withExpiry && !q.keysOnly ? "1" : "0",
    ]) as Buffer[];
    const keys: string[] = [];
    const values: Uint8Array[] = [];
    const withExpiry = q.withExpiry === true && !q.keysOnly;
    const expiresAt: (number | null)[] = [];
    const step = q.keysOnly ? 1 : withExpiry ? 3 : 2;
    for (let i = 0; i < reply.length; i += step) {
      keys.push(reply[i].toString("utf8"));
      if (!q.keysOnly) values.push(toBytes(reply[i + 1]));
      if (withExpiry) {
        const x = reply[i + 2].toString("utf8");
        expiresAt.push(x === "" ? null : Number(x));
      }
    }
    return withExpiry ? { keys, values, expiresAt } : { keys, values };
  }

  /** The shard's change counter, bumped in every script that writes or deletes a key. */
  async changes(): Promise<number> {
    this.check("changes");
    return Number(await this.#link.get(this.#keys[3]) ?? 0);
  }

  async sweep(max: number): Promise<number> {
    return await this.#runWrite("skvSweep", [String(Number.isFinite(max) ? max : DROP_BATCH)]);
  }

  protected closeBackend(): Promise<void> {
    return this.#link.release();
  }
}
