// A custom driver as a module export, for hosted(): the example map driver on the store's
// clock, with an option the test can check crossed the thread boundary.
import type { Driver, HostedDriverInit } from "../mod.ts";
import { openMapDriver } from "../examples/custom_driver.ts";

export function openHostedMap(
  _shardPath: string,
  init: HostedDriverInit<{ tag: string }>,
): Promise<Driver> {
  if (init.options?.tag !== "map") {
    return Promise.reject(
      new TypeError(`expected options { tag: "map" }, received ${init.options}`),
    );
  }
  return openMapDriver(init.now);
}

/** Not a driver opener: resolves something that is not a Driver. */
export function openNothing(): Promise<unknown> {
  return Promise.resolve({});
}
