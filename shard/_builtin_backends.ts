// The built-in backends by name. Each module is imported only when its backend is used, so a
// store on one backend never loads another's runtime-specific code.
import type { Durability, StorageBackend } from "../core/types.ts";

/** Names of the built-in backends. */
export type BackendName = "sqlite" | "deno-kv" | "memory";

/** What a built-in backend is opened with. */
export interface BuiltinInit {
  durability: Durability;
  now: () => number;
}

/** Opens the backend of one shard at `shardPath` (the path without an extension). */
export type BuiltinOpener = (shardPath: string, init: BuiltinInit) => Promise<StorageBackend>;

export const BUILTIN_BACKENDS: Record<BackendName, BuiltinOpener> = {
  sqlite: async (path, init) =>
    (await import("../backends/sqlite.ts")).openSqliteBackend(`${path}.sqlite`, init),
  "deno-kv": () => Promise.reject(new Error("deno-kv backend not available yet")),
  memory: async (_path, init) => (await import("../backends/memory.ts")).openMemoryBackend(init),
};

export function isBackendName(name: unknown): name is BackendName {
  return typeof name === "string" && Object.hasOwn(BUILTIN_BACKENDS, name);
}
