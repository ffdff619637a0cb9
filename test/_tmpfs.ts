// A small tmpfs for tests with real full-disk faults. Mounting needs root (CI runs as root);
// when the mount fails the test fails, it is never skipped.
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
