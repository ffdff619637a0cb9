/**
 * Argument checks shared by every backend. Each throws before anything is written.
 *
 * @module
 */
import { InvalidKeyError, InvalidValueError, ValueTooLargeError } from "./errors.ts";
import type { BatchEntries, ScanOptions, SetOptions } from "./types.ts";

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 2048;
/** Largest value every backend accepts, in bytes (16 MiB). */
export const MAX_VALUE_BYTES: number = 16 * 1024 * 1024;

/** Short, safe description of a received argument for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") {
    return value.length > 40
      ? `string ${JSON.stringify(value.slice(0, 40))}… (${value.length} chars)`
      : `string ${JSON.stringify(value)}`;
  }
  if (typeof value === "object") {
    return `${(value as object).constructor?.name ?? "Object"} object`;
  }
  return `${typeof value} ${String(value)}`;
}

/** UTF-8 length of a well-formed string, without allocating. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Throws `InvalidKeyError` unless `key` is a non-empty well-formed string of ≤ 2048 UTF-8 bytes. */
export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw new InvalidKeyError(`Key must be a string, received ${describe(key)}`);
  }
  if (key.length === 0) {
    throw new InvalidKeyError("Key must not be empty, received an empty string");
  }
  assertWellFormed(key, "Key");
  // Up to 3 bytes per UTF-16 unit, so only long keys need counting.
  if (key.length * 3 > MAX_KEY_BYTES) {
    const bytes = utf8Length(key);
    if (bytes > MAX_KEY_BYTES) {
      throw new InvalidKeyError(
        `Key must be at most ${MAX_KEY_BYTES} UTF-8 bytes, received ${bytes} bytes`,
      );
    }
  }
}

/** Throws `InvalidKeyError` unless `prefix` is a well-formed string (it may be empty). */
export function assertPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== "string") {
    throw new InvalidKeyError(
      `Prefix must be a string, received ${describe(prefix)}`,
    );
  }
  assertWellFormed(prefix, "Prefix");
}

function assertWellFormed(s: string, what: string): void {
  if (!s.isWellFormed()) {
    throw new InvalidKeyError(
      `${what} must be well-formed UTF-16 (no lone surrogates), received ${describe(s)}`,
    );
  }
}

/** Throws unless `value` is a `Uint8Array` of at most 16 MiB. */
export function assertValue(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidValueError(
      `Value must be a Uint8Array, received ${describe(value)}`,
    );
  }
  if (value.byteLength > MAX_VALUE_BYTES) {
    throw new ValueTooLargeError(
      `Value must be at most ${MAX_VALUE_BYTES} bytes, received ${value.byteLength} bytes`,
    );
  }
}

/**
 * The expiry time (ms since 1970) `ttl` ms after `now`. Past 2^53 - 1 ms (the year 287,396) it
 * is a RangeError: JavaScript numbers are no longer exact there, and node:sqlite refuses to read
 * such an integer back, which would leave the key unreadable.
 */
export function expiryAfter(now: number, ttl: number): number {
  const at = now + ttl;
  if (at > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `ttl must end by 2^53 - 1 ms since 1970 (${Number.MAX_SAFE_INTEGER}), received ${ttl}`,
    );
  }
  return at;
}

/** Checks `options.ttl` and returns the absolute expiry time, or `null` for none. */
export function expiresAtOf(
  options: SetOptions | undefined,
  now: () => number,
): number | null {
  if (options === undefined) return null;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Set options must be an object, received ${describe(options)}`,
    );
  }
  const ttl = options.ttl;
  if (ttl === undefined) return null;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) {
    throw new RangeError(
      `ttl must be a finite number of ms >= 0, received ${describe(ttl)}`,
    );
  }
  return ttl === 0 ? null : expiryAfter(now(), ttl);
}

/** Checks the `by` of incr/decr. */
export function assertBy(by: unknown): asserts by is number {
  if (!Number.isSafeInteger(by)) {
    throw new RangeError(`by must be a safe integer, received ${describe(by)}`);
  }
}

/** Checks scan options; returns them normalised. */
export function checkScanOptions(
  options: ScanOptions | undefined,
): { limit: number; after: string | undefined; reverse: boolean } {
  if (options === undefined) {
    return { limit: Infinity, after: undefined, reverse: false };
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Scan options must be an object, received ${describe(options)}`,
    );
  }
  const { limit, after, reverse } = options;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new RangeError(
      `limit must be a positive integer, received ${describe(limit)}`,
    );
  }
  if (after !== undefined) assertPrefix(after);
  if (reverse !== undefined && typeof reverse !== "boolean") {
    throw new TypeError(
      `reverse must be a boolean, received ${describe(reverse)}`,
    );
  }
  return { limit: limit ?? Infinity, after, reverse: reverse ?? false };
}

/** Validates every entry of a batch and returns them as pairs (duplicates kept, in order). */
export function checkEntries(
  entries: BatchEntries,
): Array<readonly [string, Uint8Array]> {
  if (typeof entries !== "object" || entries === null) {
    throw new TypeError(
      `Entries must be an iterable of [key, value] pairs or a record, received ${
        describe(entries)
      }`,
    );
  }
  const pairs: Array<readonly [string, Uint8Array]> = Symbol.iterator in entries
    ? Array.from(entries as Iterable<readonly [string, Uint8Array]>)
    : Object.entries(entries);
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new TypeError(
        `Each entry must be a [key, value] pair, received ${describe(pair)}`,
      );
    }
    assertKey(pair[0]);
    assertValue(pair[1]);
  }
  return pairs;
}

/** Validates every key of a batch and returns them as an array. */
export function checkKeys(keys: Iterable<string>): string[] {
  if (
    typeof keys !== "object" || keys === null || !(Symbol.iterator in keys)
  ) {
    throw new TypeError(
      `Keys must be an iterable of strings, received ${describe(keys)}`,
    );
  }
  const list = Array.from(keys);
  for (const key of list) assertKey(key);
  return list;
}
