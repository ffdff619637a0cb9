// The journal of a redis store's multi-shard atomic commits (core/driver.ts `Journal`): one
// Redis hash next to the store's manifest, `{shardkv:<store>}:commits`, field = commit id,
// value = record bytes. One key, so one hash slot: a cluster keeps the whole journal on one
// node. A write resolves once Redis acknowledged the HSET, so a record is as durable as the
// server makes acknowledged writes (its appendfsync setting, and replication if any).
import type { Journal } from "../core/driver.ts";
import { describe } from "../core/validate.ts";
import { asArg, type RedisLink } from "./_redis_client.ts";

function checkId(id: unknown): void {
  if (typeof id !== "string" || id === "") {
    throw new TypeError(`A journal record id must be a non-empty string, received ${describe(id)}`);
  }
}

/** The journal in the hash at `key`, over `link` (usable while the link is open). */
export class RedisJournal implements Journal {
  readonly #link: RedisLink;
  readonly #key: string;

  constructor(link: RedisLink, key: string) {
    this.#link = link;
    this.#key = key;
  }

  async write(id: string, record: Uint8Array): Promise<void> {
    checkId(id);
    if (!(record instanceof Uint8Array)) {
      throw new TypeError(`A journal record must be a Uint8Array, received ${describe(record)}`);
    }
    await this.#link.hset(this.#key, id, asArg(record));
  }

  async remove(id: string): Promise<void> {
    checkId(id);
    // HDEL of the last field deletes the hash: an empty journal leaves no key behind.
    await this.#link.hdel(this.#key, id);
  }

  async list(): Promise<Map<string, Uint8Array>> {
    const all = await this.#link.hgetall(this.#key);
    const out = new Map<string, Uint8Array>();
    for (const id of Object.keys(all).sort()) out.set(id, new Uint8Array(all[id]));
    return out;
  }
}
