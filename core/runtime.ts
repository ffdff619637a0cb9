// The one runtime-detection module: which runtime runs shardkv, and its global API object for
// the adapter that uses it. Found by globalThis lookups, typed by the caller's own small
// interface, so nothing here depends on Deno's, Bun's or Node's type declarations. Drivers'
// adapters (backends/) use it; server/ (which imports public entry points only) keeps its own
// one check, in server/mod.ts, which picks its listener.

/** The JavaScript runtime running the code. */
export type RuntimeName = "deno" | "bun" | "node";

/**
 * The runtime's own global API object (`Deno` or `Bun`), seen through the caller's interface
 * `T` (partial: a runtime version may lack a member); `undefined` on any other runtime.
 */
export function runtimeApi<T>(name: "Deno" | "Bun"): Partial<T> | undefined {
  return (globalThis as Record<string, unknown>)[name] as Partial<T> | undefined;
}

/** Which runtime runs the code: Bun and Deno by their globals, anything else counts as Node. */
export function runtimeName(): RuntimeName {
  if (runtimeApi("Bun") !== undefined) return "bun";
  if (runtimeApi("Deno") !== undefined) return "deno";
  return "node";
}
