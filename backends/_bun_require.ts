// Bun's synchronous `import.meta.require`. Going through it instead of `import()` keeps
// Bun-only and npm-only modules out of Deno's module graph (and out of `deno publish` checks).

interface BunImportMeta {
  require(id: string): unknown;
}

/** Loads `id` with Bun's module resolution; only call it on Bun. */
export function bunRequire<T>(id: string): T {
  return (import.meta as unknown as BunImportMeta).require(id) as T;
}
