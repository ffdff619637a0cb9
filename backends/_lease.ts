// Renewing a held lock's lease, for the locks that other processes take over once a lease runs
// out (the deno-kv lock record, the redis lock key). A holder renews every third of a lease (a
// commit waiting for other shards' locks, or a slow one, keeps its lock) for at most
// RENEWED_LEASES leases: a holder that stopped (SIGSTOP, a frozen VM) stops renewing and loses
// the lock after one lease, and its commit then writes nothing.

/** Leases a holder renews its lock for at most (a live holder commits far sooner). */
const RENEWED_LEASES = 6;

/**
 * Calls `renew` every third of `leaseMs` until it answers `false` (the lock was lost) or throws,
 * or RENEWED_LEASES leases have passed. The returned function stops it and resolves once a
 * renewal under way has finished.
 */
export function renewLease(leaseMs: number, renew: () => Promise<boolean>): () => Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let left = RENEWED_LEASES * 3;
  const schedule = () => {
    if (left-- <= 0) return;
    timer = setTimeout(() => {
      running = renew().catch(() => false).then((kept) => {
        if (kept) schedule();
      });
    }, leaseMs / 3);
  };
  schedule();
  return async () => {
    left = 0;
    clearTimeout(timer);
    await running;
  };
}
