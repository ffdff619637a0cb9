// Argument parsing shared by the command files: Redis's exact rules for integers (string2ll),
// floats (string2ld) and options, and the error texts Redis answers with.

/** A command failed with this exact Redis error reply (code included, e.g. `"ERR ..."`). */
export class CommandError extends Error {
  /** Always `"CommandError"`. */
  override readonly name = "CommandError";
}

export const NOT_INTEGER = "ERR value is not an integer or out of range";
export const NOT_FLOAT = "ERR value is not a valid float";
export const SYNTAX = "ERR syntax error";
export const WRONG_TYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";

export const encoder = new TextEncoder();
const utf8Fatal = new TextDecoder("utf-8", { fatal: true });
const utf8Lossy = new TextDecoder("utf-8");

/** Bytes as a string of chars U+0000..U+00FF, one per byte (options, numbers, glob work). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  if (bytes.length <= 32) {
    // Short arguments (names, options, numbers): a loop beats spreading into fromCharCode.
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  }
  return s;
}

/** The inverse of {@linkcode latin1}. */
export function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The bytes as UTF-8 text, or `undefined` when they are not valid UTF-8. */
export function utf8(bytes: Uint8Array): string | undefined {
  // Short ASCII (most keys) without TextDecoder, whose call costs more than the loop.
  if (bytes.length <= 64) {
    let s = "";
    let i = 0;
    for (; i < bytes.length && bytes[i] < 0x80; i++) s += String.fromCharCode(bytes[i]);
    if (i === bytes.length) return s;
  }
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A command name lower-cased (ASCII letters only), "" when too long to be one. */
export function commandName(bytes: Uint8Array): string {
  if (bytes.length > 32) return "";
  let s = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    s += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  return s;
}

/** An argument upper-cased, for option names (short: options are a few bytes). */
export function upper(bytes: Uint8Array): string {
  return bytes.length > 32 ? "" : latin1(bytes).toUpperCase();
}

/** The bytes of `bytes` before its first NUL, at most `max` of them (C's `%.*s`). */
function cString(bytes: Uint8Array, max: number): Uint8Array {
  const head = bytes.subarray(0, max);
  const nul = head.indexOf(0);
  return nul < 0 ? head : head.subarray(0, nul);
}

/**
 * Redis 7.0's unknown-command error (server.c processCommand): the name as `'%.128s'`, then
 * arguments as `'%.*s' `, each cut to what is left of 128 bytes, while the list is shorter than
 * 128 bytes; line breaks become spaces. It looks at a few arguments whatever their count.
 */
export function unknownCommand(args: Uint8Array[]): string {
  const NAME_MAX = 128;
  const parts: Uint8Array[] = [];
  let length = 0;
  for (let i = 1; i < args.length && length < NAME_MAX; i++) {
    const shown = cString(args[i], NAME_MAX - length);
    parts.push(shown);
    length += shown.length + 3; // The quotes and the space.
  }
  const shown = parts.map((p) => `'${utf8Lossy.decode(p)}' `).join("");
  const name = utf8Lossy.decode(cString(args[0], NAME_MAX));
  return `ERR unknown command '${name}', with args beginning with: ${shown}`
    .replace(/[\r\n]/g, " ");
}

/** Redis's sanitising of arguments echoed in errors: at most 128 chars, no line breaks. */
export function echoArg(bytes: Uint8Array): string {
  return utf8Lossy.decode(bytes.subarray(0, 128)).replace(/[\r\n]/g, " ");
}

/** Redis integers are signed 64-bit. */
export const INT64_MAX: bigint = (1n << 63n) - 1n;
/** The smallest signed 64-bit integer. */
export const INT64_MIN: bigint = -(1n << 63n);

/** Redis's string2ll: a signed 64-bit decimal without sign '+', spaces or leading zeros. */
export function int64Of(bytes: Uint8Array): bigint | undefined {
  const n = bytes.length;
  if (n === 0 || n > 20) return undefined;
  let i = 0;
  if (bytes[0] === 0x2d) {
    if (n === 1) return undefined;
    i = 1;
  }
  if (bytes[i] === 0x30) return n === 1 ? 0n : undefined;
  for (let j = i; j < n; j++) if (bytes[j] < 0x30 || bytes[j] > 0x39) return undefined;
  const v = BigInt(latin1(bytes));
  return v > INT64_MAX || v < INT64_MIN ? undefined : v;
}

/** A 64-bit integer argument, or Redis's `value is not an integer` error. */
export function int64(bytes: Uint8Array, error = NOT_INTEGER): bigint {
  const v = int64Of(bytes);
  if (v === undefined) throw new CommandError(error);
  return v;
}

/**
 * Redis's getIntFromObjectOrReply: a 64-bit integer that must also fit a C `int`, with Redis's
 * second error text when it does not.
 */
export function int32(bytes: Uint8Array): number {
  const n = int64(bytes);
  if (n < -(2n ** 31n) || n >= 2n ** 31n) {
    throw new CommandError(
      "ERR value is out of range, value must between -2147483648 and 2147483647",
    );
  }
  return Number(n);
}

/** The integer a stored value holds (Redis's string2ll rules), or `undefined`. */
export function storedInt(value: Uint8Array): bigint | undefined {
  return int64Of(value);
}
