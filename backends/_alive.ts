// Whether a process of this machine runs: lock and journal records carry their writer's pid, so
// a record whose process is gone (killed) is known to be stale at once. Signal 0 checks without
// sending anything; EPERM means the process exists but belongs to another user.
import process from "node:process";

export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}
