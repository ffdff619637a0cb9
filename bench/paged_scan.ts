/**
 * Paged scans (issue 12 item 5): the time to read every key of a store a page at a time with
 * `scanKeysWithValues(prefix, { limit, after })`, against one `entries()` pass over the same
 * keys, for each shard count. A page should cost about one page of rows.
 *
 *   bun bench/paged_scan.ts [--keys 1000000] [--page 1000] [--shards 1,16] [--value 64]
 *   deno run -A bench/paged_scan.ts [same flags]
 *
 * Writes bench/results/<runtime>-paged.json (or --out NAME).
 *
 * @module
 */
import process from "node:process";
import { openStore } from "../mod.ts";
import { args, benchDir, load1, round, runtimeName, writeResults } from "./_common.ts";

const opt = args();
const keys = Number(opt.get("keys") ?? 1_000_000);
const pageSize = Number(opt.get("page") ?? 1000);
const shardCounts = (opt.get("shards") ?? "1,16").split(",").map(Number);
const value = new Uint8Array(Number(opt.get("value") ?? 64)).fill(7);
const repeats = Number(opt.get("repeat") ?? 2);

const loadStart = load1();
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const rows: Record<string, unknown>[] = [];
for (const shards of shardCounts) {
  const { dir, dispose } = await benchDir("paged");
  const store = await openStore(`${dir}/store`, { shards, durability: "relaxed" });
  try {
    for (let i = 0; i < keys; i += 10_000) {
      const pairs: [string, Uint8Array][] = [];
      for (let j = i; j < Math.min(keys, i + 10_000); j++) {
        pairs.push([`k:${String(j).padStart(8, "0")}`, value]);
      }
      await store.batchSet(pairs);
    }
    for (let r = 0; r < repeats; r++) {
      // Alternated so load changes on this shared machine hit both alike.
      // CPU time too: on a loaded machine it varies far less than wall time.
      let t0 = performance.now();
      let c0 = cpuMs();
      let seen = 0;
      for await (const _ of store.entries("k:")) seen++;
      const entriesMs = performance.now() - t0;
      const entriesCpu = cpuMs() - c0;
      if (seen !== keys) throw new Error(`entries saw ${seen} keys`);
      t0 = performance.now();
      c0 = cpuMs();
      let after: string | undefined;
      let paged = 0;
      let pages = 0;
      for (;;) {
        const page = await store.scanKeysWithValues("k:", { limit: pageSize, after });
        paged += page.size;
        pages++;
        if (page.size < pageSize) break;
        after = Array.from(page.keys()).at(-1);
      }
      const pagedMs = performance.now() - t0;
      const pagedCpu = cpuMs() - c0;
      if (paged !== keys) throw new Error(`paging saw ${paged} keys`);
      const row = {
        shards,
        keys,
        pageSize,
        pages,
        entriesMs: round(entriesMs),
        pagedMs: round(pagedMs),
        ratio: round(pagedMs / entriesMs, 2),
        entriesCpuMs: round(entriesCpu),
        pagedCpuMs: round(pagedCpu),
        cpuRatio: round(pagedCpu / entriesCpu, 2),
      };
      rows.push(row);
      console.error(
        `shards=${shards} ${keys} keys: entries() ${row.entriesMs} ms, paged by ${pageSize} ` +
          `${row.pagedMs} ms (${row.ratio}x); CPU ${row.entriesCpuMs} vs ${row.pagedCpuMs} ms ` +
          `(${row.cpuRatio}x)`,
      );
    }
  } finally {
    await store.close();
    await dispose();
  }
}
await writeResults(opt.get("out") ?? `${runtimeName()}-paged`, {
  bench: "paged_scan",
  loadStart,
  rows,
});
