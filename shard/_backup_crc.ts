/**
 * The CRC-32 (IEEE 802.3) of the backup format: node:zlib's native `crc32`, which Deno, Bun and
 * Node all provide (no hand-written table).
 *
 * @module
 */
import { crc32 } from "node:zlib";

export { crc32 };

/** `n` as 8 lowercase hex digits. */
export function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
