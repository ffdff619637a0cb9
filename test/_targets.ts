// Conformance targets: a backend through openStore with 1 and 16 shards, with the cache on,
// and (where it has one) the bare backend.
import { openStore, type StoreOptions } from "../mod.ts";
import { conformance, type ConformanceOptions, type OpenTarget } from "./conformance.ts";
import { tempDir } from "./_helpers.ts";

export function storeTarget(
  backend: StoreOptions["backend"],
  shards: number,
  workers = 0,
): OpenTarget {
  return async ({ now, cache }) => {
    const { dir, dispose } = await tempDir(`conf-${shards}`);
    const store = await openStore(`${dir}/store`, {
      backend,
      shards,
      workers,
      now,
      cache: cache ?? false,
    });
    return { store, dispose };
  };
}

/** Registers the suite for `backend` with 1 and 16 shards and with the cache on. */
export function conformanceForBackend(
  name: string,
  backend: StoreOptions["backend"],
  options: Omit<ConformanceOptions, "shards"> = {},
): void {
  conformance(`${name} 1 shard`, storeTarget(backend, 1), { ...options, shards: 1 });
  conformance(`${name} 16 shards`, storeTarget(backend, 16), {
    ...options,
    shards: 16,
    cache: true,
  });
}
