// Shared by the multi-process atomic, watch and kill tests: store locations on each shared
// backend, opening them, keys on distinct shards, and running a test/_atomic_child.ts child.
import { openStore, shardOf, type Store, type StoreOptions } from "../mod.ts";
import { dropRedisStore } from "../backends/redis.ts";
import { readLines, spawnChild, withTempDir } from "./_helpers.ts";
import { freshName, REDIS_URL } from "./_redis_env.ts";

export type Shared = "sqlite" | "deno-kv" | "redis";

/** Runs `fn` with a store location for `backend` (a temp dir, or a fresh Redis name). */
export async function withLocation(
  backend: Shared,
  fn: (where: string) => Promise<void>,
): Promise<void> {
  if (backend !== "redis") return await withTempDir((dir) => fn(`${dir}/store`));
  const name = freshName("atomic-mp");
  try {
    await fn(name);
  } finally {
    await dropRedisStore(name, { url: REDIS_URL });
  }
}

export function open(backend: Shared, where: string, options: StoreOptions = {}): Promise<Store> {
  return openStore(where, {
    backend,
    redis: backend === "redis" ? { url: REDIS_URL } : undefined,
    ...options,
  });
}

/** `count` keys named `<label>:<n>` that fall on `count` different shards of `shards`. */
export function keysOnShards(label: string, count: number, shards: number): string[] {
  const taken = new Set<number>();
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n++) {
    const key = `${label}:${n}`;
    const shard = shardOf(key, shards);
    if (taken.has(shard)) continue;
    taken.add(shard);
    keys.push(key);
  }
  return keys;
}

/** The arguments that open the store `where` of `backend` in a child. */
export function childArgs(mode: string, backend: Shared, where: string, rest: string[]): string[] {
  return [mode, where, backend, backend === "redis" ? REDIS_URL : "-", ...rest];
}

/**
 * Runs a child to its end, collecting its lines; rejects when it exits with an error. Lines
 * starting with "E " are the child's own failed checks.
 */
export async function runChild(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  await readLines(spawnChild("./_atomic_child.ts", args), (line) => lines.push(line));
  return lines;
}
