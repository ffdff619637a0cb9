/**
 * Drivers that can be hosted in worker threads. A factory function cannot cross a thread
 * boundary, so a driver a worker opens is described by data: a built-in name with its options,
 * or a module URL, the name of the function it exports and serializable options
 * ({@linkcode hosted}). The worker imports the module and calls the function per shard.
 *
 * @module
 */
import { type Driver, isDriver } from "../core/driver.ts";
import type { Durability } from "../core/types.ts";
import { describe } from "../core/validate.ts";
import { BUILTIN_DRIVERS, type SqliteTuning } from "./builtin.ts";

/** What the exported function of a {@linkcode hosted} module receives besides the shard path. */
export interface HostedDriverInit<O = unknown> {
  /** The shard's index in the store. */
  shard: number;
  /** `false`: the store already exists, so the shard's storage must too. */
  create: boolean;
  /** The store's clock in ms (in a worker: the caller's clock as of the current call). */
  now: () => number;
  /** The options given to {@linkcode hosted}, as structured-cloned into the thread. */
  options: O;
}

/** The function a {@linkcode hosted} module exports: opens the driver of one shard. */
export type HostedDriverOpener<O = unknown> = (
  shardPath: string,
  init: HostedDriverInit<O>,
) => Promise<Driver>;

/** A custom driver described by its module, as made by {@linkcode hosted}. */
export interface HostedDriver {
  /** The `file:` (or `data:`) URL of the module, as a string. */
  readonly module: string;
  /** The name of the {@linkcode HostedDriverOpener} the module exports. */
  readonly export: string;
  /** Options passed to it (structured-cloneable). */
  readonly options: unknown;
}

/** How a worker builds the driver of a shard: plain data, posted to the thread. */
export type DriverSpec =
  | {
    kind: "builtin";
    name: "sqlite" | "deno-kv";
    durability: Durability;
    sqlite: SqliteTuning;
  }
  | { kind: "module"; module: string; export: string; options: unknown };

const HOSTED: unique symbol = Symbol("shardkv.hostedDriver");

/**
 * A custom driver given as a module and the name of the function it exports (a
 * {@linkcode HostedDriverOpener}), so that `openStore`'s `workers` option can open it inside
 * worker threads; without `workers` it is opened in the calling thread. `options` must survive
 * `structuredClone` (no functions).
 *
 * @example
 * ```ts
 * import { hosted, openStore } from "@shardkv/shardkv";
 * const store = await openStore("./data", {
 *   backend: hosted(new URL("./my_driver.ts", import.meta.url), "openMyDriver", { size: 8 }),
 *   workers: 2,
 * });
 * await store.close();
 * ```
 */
export function hosted(module: URL | string, exportName: string, options?: unknown): HostedDriver {
  let url: URL;
  try {
    url = new URL(module);
  } catch {
    throw new TypeError(`hosted() needs the module's URL, received ${describe(module)}`);
  }
  if (url.protocol !== "file:" && url.protocol !== "data:") {
    throw new TypeError(
      `hosted() needs a file: or data: module URL (worker threads load no other), received ${url.href}`,
    );
  }
  if (typeof exportName !== "string" || exportName === "") {
    throw new TypeError(
      `hosted() needs the exported function's name, received ${describe(exportName)}`,
    );
  }
  try {
    structuredClone(options);
  } catch (e) {
    throw new TypeError(`hosted() options must be structured-cloneable: ${(e as Error).message}`);
  }
  return Object.freeze({ module: url.href, export: exportName, options, [HOSTED]: true });
}

/** Whether `x` was made by {@linkcode hosted}. */
export function isHosted(x: unknown): x is HostedDriver {
  return typeof x === "object" && x !== null && HOSTED in x;
}

/** The spec of a hosted custom driver. */
export function specOf(h: HostedDriver): DriverSpec {
  return { kind: "module", module: h.module, export: h.export, options: h.options };
}

/** Opens the driver of one shard from its spec (in a worker or in the calling thread). */
export async function openFromSpec(
  spec: DriverSpec,
  shardPath: string,
  init: { shard: number; create: boolean; now: () => number },
): Promise<Driver> {
  if (spec.kind === "builtin") {
    return await BUILTIN_DRIVERS[spec.name](shardPath, {
      ...init,
      durability: spec.durability,
      sqlite: spec.sqlite,
    });
  }
  const mod = await import(spec.module) as Record<string, unknown>;
  const open = mod[spec.export];
  if (typeof open !== "function") {
    throw new TypeError(
      `${spec.module} does not export a function ${JSON.stringify(spec.export)}, found ${
        describe(open)
      }`,
    );
  }
  const driver = await (open as HostedDriverOpener)(shardPath, { ...init, options: spec.options });
  if (!isDriver(driver)) {
    throw new TypeError(
      `${spec.export} of ${spec.module} must resolve a Driver, received ${describe(driver)}`,
    );
  }
  return driver;
}
