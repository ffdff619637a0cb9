// A small tmpfs for tests with real full-disk faults. Mounting needs root (CI runs as root);
// when the mount fails the test fails, it is never skipped.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Runs `fn` in a fresh tmpfs of `size` (e.g. "2m"); unmounts and removes it afterwards. */
export async function inTmpfs(size: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "shardkv-tmpfs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
  } catch (e) {
    await rmdir(dir);
    const stderr = String((e as { stderr?: unknown }).stderr ?? "").trim();
    throw new Error(`Cannot mount a tmpfs at ${dir} (fault tests need root, as in CI): ${stderr}`, {
      cause: e,
    });
  }
  try {
    await fn(dir);
  } finally {
    try {
      execFileSync("umount", [dir], { stdio: "pipe" });
    } catch {
      // A failed test's store still holds a file open there: detach it anyway.
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
    }
    await rmdir(dir);
  }
}

/** The value of key `k${i}` in the full-disk tests: 4 KiB of one byte. */
export const diskValue = (i: number): Uint8Array => new Uint8Array(4096).fill(i & 0xff);

/** What the store has in common with `Store` for these helpers. */
interface BatchStore {
  batchSet(entries: (readonly [string, Uint8Array])[]): Promise<void>;
  batchGet(keys: string[]): Promise<Map<string, Uint8Array>>;
}

/**
 * Writes batches of 8 keys, three at a time, until the disk refuses 20 batches (or 10,000 keys
 * were tried). Resolves the indexes of the keys acknowledged and the errors of the refused.
 */
export async function fillDisk(
  store: BatchStore,
): Promise<{ acknowledged: number[]; errors: unknown[] }> {
  const acknowledged: number[] = [];
  const errors: unknown[] = [];
  for (let i = 0; errors.length < 20 && i < 10_000; i += 24) {
    const results = await Promise.allSettled([0, 8, 16].map((off) =>
      store.batchSet(
        Array.from({ length: 8 }, (_, j) => [`k${i + off + j}`, diskValue(i + off + j)] as const),
      )
    ));
    results.forEach((r, n) => {
      if (r.status === "rejected") errors.push(r.reason);
      else for (let j = 0; j < 8; j++) acknowledged.push(i + n * 8 + j);
    });
  }
  return { acknowledged, errors };
}

/** Asserts that every key of `indexes` holds its {@linkcode diskValue}: nothing acknowledged lost. */
export async function assertKept(store: BatchStore, indexes: number[]): Promise<void> {
  const found = await store.batchGet(indexes.map((i) => `k${i}`));
  assert.equal(found.size, indexes.length, `${indexes.length - found.size} acknowledged keys lost`);
  for (const i of indexes) assert.deepEqual(found.get(`k${i}`), diskValue(i));
}
