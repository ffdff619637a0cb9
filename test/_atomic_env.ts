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
 * Runs children to their end, each with its arguments, and resolves their output lines; rejects
 * when one exits with an error. They start together: each gets a line on stdin once all of
 * them have opened the store (an open rolls back interrupted commits). Lines starting with
 * "E " are the children's own failed checks.
 */
export async function runChildren(argsOf: string[][]): Promise<string[][]> {
  let waiting = argsOf.length;
  const children = argsOf.map((args) => spawnChild("./_atomic_child.ts", args, { stdin: true }));
  return await Promise.all(children.map(async (child) => {
    const lines: string[] = [];
    await readLines(child, (line) => {
      lines.push(line);
      if (line === "READY" && --waiting === 0) { for (const c of children) c.stdin!.end("go\n"); }
    });
    return lines;
  }));
}
