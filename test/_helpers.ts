// Shared test helpers: temp dirs, a controllable clock, byte helpers.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

/** A manual clock for TTL tests. */
export class Clock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A fresh temp directory and its disposer. */
export async function tempDir(label: string): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `shardkv-${label}-`));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** UTF-8 byte comparison, the reference order for keys. */
export function byteOrder(a: string, b: string): number {
  const x = enc(a);
  const y = enc(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
