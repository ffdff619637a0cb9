// Counting live keys, shared by DBSIZE/INFO and `shardkv stats`.
import type { StorageBackend } from "../mod.ts";

const PAGE = 10_000;

/** Number of live keys, counted a page at a time so memory stays bounded. */
export async function countKeys(store: StorageBackend): Promise<number> {
  let n = 0;
  let after: string | undefined;
  for (;;) {
    const page = await store.scanKeys("", { limit: PAGE, after });
    n += page.length;
    if (page.length < PAGE) return n;
    after = page[page.length - 1];
  }
}
