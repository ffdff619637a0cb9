// Optional npm packages (ioredis, @deno/kv) are optional peer dependencies, loaded only by the
// backend that needs them. The specifier is computed at run time so that `deno publish` does not
// turn it into a dependency every JSR user downloads; Deno then loads it as `npm:name@range`.
import { runtimeName } from "../core/runtime.ts";

/** Imports the optional npm package `name` (semver `range` on Deno); says how to install it. */
export async function importOptional<T>(name: string, range: string, usedBy: string): Promise<T> {
  const specifier = runtimeName() === "deno" ? `npm:${name}@${range}` : name;
  try {
    return (await import(specifier)) as T;
  } catch (e) {
    throw new Error(
      `${usedBy} needs the npm package ${name} (${range}), which could not be loaded: ` +
        `install it (npm install ${name}, bun add ${name}, deno add npm:${name})`,
      { cause: e },
    );
  }
}
