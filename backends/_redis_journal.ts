// The journal of a redis store's multi-shard atomic commits (core/driver.ts `Journal`): one
// Redis hash next to the store's manifest, `{shardkv:<store>}:commits`, field = record name,
// value = record bytes. One key, so one hash slot: a cluster keeps the whole journal on one
// node. A write resolves once Redis acknowledged the HSET, so a record is as durable as the
// server makes acknowledged writes (its appendfsync setting, and replication if any).
//
// A record's name is `<commit id>@<host>/<pid>/<ms>`: its writer's host name, process id and
// wall-clock time. list() leaves out commits still in flight, which an open must not roll
// back: this process's own, those of a live process on this host, and those of another host
// younger than FOREIGN_LEASE (whether a process of another host still runs cannot be asked).
//
// Readers of several shards ask state() (see Journal.state): one script call reads the
// generation, a counter `<hash>:generation` that write() bumps in the script that stores the
// record, and the names of the records; in flight are those list() would leave out.
import { hostname } from "node:os";
import process from "node:process";
import type { Buffer } from "node:buffer";
import type { Journal, JournalState } from "../core/driver.ts";
import { describe } from "../core/validate.ts";
import { asArg, type RedisLink } from "./_redis_client.ts";
import { isAlive } from "./_alive.ts";

/** How long a record of another host counts as in flight, in ms: far above a commit's time. */
const FOREIGN_LEASE = 60_000;

const HOST = hostname();

/** Names of the records this process is writing, by commit id (shared by its store objects). */
const inFlight = new Map<string, string>();

function checkId(id: unknown): void {
  if (typeof id !== "string" || id === "") {
    throw new TypeError(`A journal record id must be a non-empty string, received ${describe(id)}`);
  }
}

/** The writer of a record name, `undefined` for a name without one (written before writers). */
function writerOf(name: string): { host: string; pid: number; at: number } | undefined {
  const m = /@([^@/]*)\/(\d+)\/(\d+)$/.exec(name);
  return m === null ? undefined : { host: m[1], pid: Number(m[2]), at: Number(m[3]) };
}

/**
 * Whether a record name belongs to a commit that may still be in flight: this process's own,
 * or another's that list() must leave out (a live process here, a recent one of another host).
 */
function inFlightTest(): (name: string) => boolean {
  const own = new Set(inFlight.values());
  const now = Date.now();
  return (name) => {
    if (own.has(name)) return true;
    const writer = writerOf(name);
    if (writer === undefined) return false;
    if (writer.host !== HOST) return now - writer.at < FOREIGN_LEASE;
    return writer.pid !== process.pid && isAlive(writer.pid);
  };
}

/** The journal in the hash at `key`, over `link` (usable while the link is open). */
export class RedisJournal implements Journal {
  readonly #link: RedisLink;
  readonly #key: string;
  readonly #keys: [string, string];

  constructor(link: RedisLink, key: string) {
    this.#link = link;
    this.#key = key;
    this.#keys = [key, generationKey(key)];
  }

  async write(id: string, record: Uint8Array): Promise<void> {
    checkId(id);
    if (!(record instanceof Uint8Array)) {
      throw new TypeError(`A journal record must be a Uint8Array, received ${describe(record)}`);
    }
    const name = inFlight.get(id) ?? `${id}@${HOST}/${process.pid}/${Date.now()}`;
    inFlight.set(id, name);
    await this.#link.run("skvJournalWrite", this.#keys, [name, asArg(record)]);
  }

  async release(id: string): Promise<void> {
    checkId(id);
    const name = inFlight.get(id);
    if (name === undefined) return;
    // Without a writer in its name, every process takes it for an interrupted commit.
    await this.#link.run("skvJournalRelease", this.#keys, [name, id]);
    inFlight.delete(id);
  }

  async state(): Promise<JournalState> {
    const [generation, ...names] =
      (await this.#link.run("skvJournalState", this.#keys, []) as Buffer[]).map((b) =>
        b.toString("utf8")
      );
    const inFlightNow = inFlightTest();
    let busy = false;
    let stale = false;
    for (const name of names) {
      // What list() leaves out is in flight, what it returns is stale.
      if (inFlightNow(name)) busy = true;
      else stale = true;
    }
    return { generation, busy, stale };
  }

  async remove(id: string): Promise<void> {
    checkId(id);
    // `id` is one this process wrote, or a name list() returned.
    const name = inFlight.get(id) ?? id;
    // HDEL of the last field deletes the hash: an empty journal leaves no key behind. The record
    // stays in flight until it is gone, so an open meanwhile does not roll the commit back.
    await this.#link.hdel(this.#key, name);
    inFlight.delete(id);
  }

  async list(): Promise<Map<string, Uint8Array>> {
    const all = await this.#link.hgetall(this.#key);
    const inFlightNow = inFlightTest();
    const out = new Map<string, Uint8Array>();
    for (const name of Object.keys(all).sort()) {
      if (inFlightNow(name)) continue;
      out.set(name, new Uint8Array(all[name]));
    }
    return out;
  }
}

/** The key of the generation counter of the journal hash at `key` (same hash tag). */
export function generationKey(key: string): string {
  return `${key}:generation`;
}
