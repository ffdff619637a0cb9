/**
 * The counter format of `incr`/`decr`: an 8-byte big-endian signed int64 (the seed's format).
 *
 * @module
 */
import { NotACounterError } from "./errors.ts";
import { describe } from "./validate.ts";

/**
 * Reads a counter value written by `incr`/`decr`.
 * Throws `NotACounterError` unless `bytes` has 8 bytes, and `RangeError` when the
 * int64 is outside the safe-integer range.
 *
 * @example
 * ```ts
 * import { decodeCounter, openStore } from "@shardkv/shardkv";
 * const store = await openStore("", { backend: "memory" });
 * await store.incr("hits", 5);
 * decodeCounter((await store.get("hits"))!); // 5
 * ```
 */
export function decodeCounter(bytes: Uint8Array): number {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== 8) {
    throw new NotACounterError(
      `A counter is 8 bytes, received ${
        bytes instanceof Uint8Array ? `${bytes.byteLength} bytes` : describe(bytes)
      }`,
    );
  }
  const big = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0);
  const n = Number(big);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(
      `Counter ${big} is outside the safe-integer range`,
    );
  }
  return n;
}

/**
 * Encodes `n` (a safe integer) in the counter format.
 *
 * @example
 * ```ts
 * import { decodeCounter, encodeCounter } from "@shardkv/shardkv";
 * decodeCounter(encodeCounter(-2)); // -2
 * ```
 */
export function encodeCounter(n: number): Uint8Array {
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`Counter must be a safe integer, received ${describe(n)}`);
  }
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, BigInt(n));
  return bytes;
}

/** The next counter value: `current` (missing counts as 0) plus `by`; throws without side effects. */
export function nextCounter(
  key: string,
  current: Uint8Array | undefined,
  by: number,
): number {
  let n = 0;
  if (current !== undefined) {
    try {
      n = decodeCounter(current);
    } catch (e) {
      if (e instanceof NotACounterError) {
        throw new NotACounterError(
          `Key ${JSON.stringify(key)} holds ${current.byteLength} bytes, not an 8-byte counter`,
          { cause: e },
        );
      }
      throw e;
    }
  }
  const next = n + by;
  if (!Number.isSafeInteger(next)) {
    throw new RangeError(
      `Counter ${JSON.stringify(key)} would leave the safe-integer range: ${n} + ${by}`,
    );
  }
  return next;
}
