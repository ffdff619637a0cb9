/**
 * Turns bench/results/*.json into bench/RESULTS.md and bench/results/throughput.svg (drawn
 * here, no network). Run by `node bench/run.mjs` after the benchmarks; runs on Bun or Deno.
 *
 *   bun bench/report.ts
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { ThroughputRow } from "./throughput.ts";
import type { BackendRow } from "./backends_bench.ts";
import type { PeerRow } from "./peers.ts";
import { type Machine, round } from "./_common.ts";

interface Results<R> {
  bench: string;
  mode: string;
  started: string;
  runtime: string;
  machine: Machine;
  seconds?: number;
  preloadKeys?: number;
  /** 1-minute load average at the start and the end of the run. */
  load?: [number, number];
  rows: R[];
}

const RUNTIMES = ["bun", "deno"] as const;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

function load<R>(file: string): Results<R> | undefined {
  const path = here(`./results/${file}`);
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) as Results<R> : undefined;
}

/** The headline workloads, their targets (ops/s) and how a row is picked for them. */
const HEADLINE: { label: string; target: number; pick: (r: ThroughputRow) => boolean }[] = [
  {
    label: "W1 relaxed",
    target: 300_000,
    pick: (r) => r.workload === "W1" && r.durability === "relaxed",
  },
  {
    label: "W1 normal",
    target: 150_000,
    pick: (r) => r.workload === "W1" && r.durability === "normal",
  },
  { label: "W1 full", target: 0, pick: (r) => r.workload === "W1" && r.durability === "full" },
  { label: "W1r", target: 150_000, pick: (r) => r.workload === "W1r" },
  { label: "W2", target: 300_000, pick: (r) => r.workload === "W2" },
  { label: "W2h", target: 2_000_000, pick: (r) => r.workload === "W2h" },
  { label: "W3", target: 1_000, pick: (r) => r.workload === "W3" },
  { label: "W4", target: 400_000, pick: (r) => r.workload === "W4" },
];

const fmt = (n: number) =>
  n >= 1e6
    ? `${(n / 1e6).toFixed(2)}M`
    : n >= 1e4
    ? `${Math.round(n / 1e3)}K`
    : n >= 1e3
    ? `${(n / 1e3).toFixed(1)}K`
    : String(n);
const us = (n: number) =>
  Number.isNaN(n) || n == null ? "" : n >= 1000 ? `${(n / 1000).toFixed(1)} ms` : `${n} µs`;

/** Best sqlite row of a headline workload on one runtime (any shard count), for `shards` if given. */
function best(
  rows: ThroughputRow[],
  pick: (r: ThroughputRow) => boolean,
  shards?: number,
): ThroughputRow | undefined {
  return rows
    .filter((r) =>
      r.backend === "sqlite" && pick(r) && (shards === undefined || r.shards === shards)
    )
    .sort((a, b) => b.opsPerSec - a.opsPerSec)[0];
}

function headlineTable(data: Partial<Record<string, Results<ThroughputRow>>>): string {
  const lines = [
    "| workload | target | Bun (shards) | Bun p50 / p99 / p99.9 | Deno (shards) | Deno p50 / p99 / p99.9 |",
    "|---|---|---|---|---|---|",
  ];
  for (const h of HEADLINE) {
    const cells = RUNTIMES.map((rt) => {
      const r = data[rt] && best(data[rt]!.rows, h.pick);
      return r === undefined ? ["n/a", ""] : [
        `${fmt(r.opsPerSec)}/s (${r.shards}${r.workers ? `, ${r.workers} workers` : ""})`,
        `${us(r.p50)} / ${us(r.p99)} / ${us(r.p999)}`,
      ];
    });
    lines.push(
      `| ${h.label} | ${h.target ? `≥ ${fmt(h.target)}/s` : "report"} | ${cells[0][0]} | ${
        cells[0][1]
      } | ${cells[1][0]} | ${cells[1][1]} |`,
    );
  }
  const mem = RUNTIMES.map((rt) =>
    data[rt]?.rows.find((r) => r.workload === "memory" && r.backend === "sqlite")?.note ?? "n/a"
  );
  lines.push(`| memory, 64 idle shards | ≤ 80 MB, open ≤ 200 ms | ${mem[0]} | | ${mem[1]} | |`);
  return lines.join("\n");
}

function fullTable(rows: ThroughputRow[]): string {
  const lines = [
    "| workload | backend | shards | workers | durability | ops/s | p50 | p99 | p99.9 | note |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    if (r.workload === "memory" || r.workload === "all") {
      lines.push(
        `| ${r.workload} | ${r.backend} | ${r.shards || ""} | | | | | | | ${r.note ?? ""} |`,
      );
      continue;
    }
    lines.push(
      `| ${r.workload} | ${r.backend} | ${r.shards} | ${r.workers} | ${r.durability} | ${
        fmt(r.opsPerSec)
      } | ${us(r.p50)} | ${us(r.p99)} | ${us(r.p999)} | ${r.note ?? ""}${
        r.errors ? ` errors ${r.errors}` : ""
      } |`,
    );
  }
  return lines.join("\n");
}

/** W5 rows of one runtime: total and per-process throughput, fairness, and total vs 1 process. */
function w5Table(rows: ThroughputRow[]): string {
  const w5 = rows.filter((r) => r.workload === "W5");
  if (w5.length === 0) return "";
  const lines = [
    "| shards | workers | durability | processes | total ops/s | vs 1 process | per process | fairness (min/max) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of w5) {
    const one = w5.find((x) =>
      x.processes === 1 && x.shards === r.shards && x.workers === r.workers &&
      x.durability === r.durability
    );
    const vs = one ? `${round(r.opsPerSec / one.opsPerSec, 2)}×` : "";
    lines.push(
      `| ${r.shards} | ${r.workers} | ${r.durability} | ${r.processes} | ${
        fmt(r.opsPerSec)
      } | ${vs} | ${(r.perProcess ?? []).map(fmt).join(" / ")} | ${r.fairness} |`,
    );
  }
  return lines.join("\n");
}

interface PeerResults extends Results<PeerRow> {
  rounds: number;
  ratios: { label: string; ratio: number; shardkv: string; peer: string }[];
}

/** The peers run of one runtime: every probe, then the ratios. */
function peersSection(d: PeerResults): string {
  return [
    `### ${d.runtime}: ${d.seconds} s a probe, ${d.rounds} round(s) (median), load average ${
      d.load?.join(" → ") ?? "?"
    }`,
    "",
    "| system | configuration | writes/s | rounds |",
    "|---|---|---|---|",
    ...d.rows.map((r) =>
      `| ${r.system} | ${r.config} | ${r.note ?? fmt(r.opsPerSec)} | ${
        r.rounds.map(fmt).join(", ")
      } |`
    ),
    "",
    "| comparison | shardkv | peer | ratio |",
    "|---|---|---|---|",
    ...d.ratios.map((r) => `| ${r.label} | ${r.shardkv} | ${r.peer} | ${r.ratio}× |`),
    "",
  ].join("\n");
}

function backendsTable(data: Partial<Record<string, Results<BackendRow>>>): string {
  const lines: string[] = [];
  for (const rt of RUNTIMES) {
    const d = data[rt];
    if (d === undefined) continue;
    const ops = [...new Set(d.rows.map((r) => r.op))];
    const targets = [...new Set(d.rows.map((r) => r.target))];
    lines.push(
      `### ${d.runtime} (${d.mode})`,
      "",
      `| target | ${ops.join(" | ")} |`,
      `|---|${ops.map(() => "---").join("|")}|`,
    );
    for (const t of targets) {
      const cells = ops.map((op) => {
        const r = d.rows.find((x) => x.target === t && x.op === op);
        return r ? `${fmt(r.opsPerSec)}/s (p50 ${us(r.p50)})` : "";
      });
      lines.push(`| ${t} | ${cells.join(" | ")} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** Horizontal bars on a log scale: best sqlite ops/s per headline workload and runtime, with the target. */
function chart(data: Partial<Record<string, Results<ThroughputRow>>>): string {
  const W = 760, left = 110, right = 30, barH = 12, gap = 10, top = 40;
  const rowH = barH * RUNTIMES.length + gap;
  const H = top + HEADLINE.length * rowH + 40;
  const lo = 2, hi = 7; // 10^2 .. 10^7 ops/s
  const x = (v: number) =>
    left + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (W - left - right);
  const colors: Record<string, string> = { bun: "#f4a261", deno: "#2a9d8f" };
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">shardkv sqlite, 64 concurrent callers, W3 8 (log scale, ops/s; red = target)</text>`,
  ];
  for (let p = lo; p <= hi; p++) {
    out.push(
      `<line x1="${x(10 ** p)}" y1="${top - 6}" x2="${x(10 ** p)}" y2="${H - 30}" stroke="#ddd"/>`,
      `<text x="${x(10 ** p)}" y="${H - 16}" text-anchor="middle" fill="#555">${
        fmt(10 ** p)
      }</text>`,
    );
  }
  HEADLINE.forEach((h, i) => {
    const y0 = top + i * rowH;
    out.push(`<text x="${left - 6}" y="${y0 + barH + 3}" text-anchor="end">${h.label}</text>`);
    RUNTIMES.forEach((rt, j) => {
      const r = data[rt] && best(data[rt]!.rows, h.pick);
      if (r === undefined) return;
      const y = y0 + j * barH;
      out.push(
        `<rect x="${left}" y="${y}" width="${Math.max(1, x(r.opsPerSec) - left)}" height="${
          barH - 2
        }" fill="${colors[rt]}"/>`,
        `<text x="${x(r.opsPerSec) + 3}" y="${y + barH - 3}" fill="#333">${
          fmt(r.opsPerSec)
        }</text>`,
      );
    });
    if (h.target) {
      out.push(
        `<line x1="${x(h.target)}" y1="${y0 - 2}" x2="${x(h.target)}" y2="${
          y0 + barH * RUNTIMES.length
        }" stroke="#c00" stroke-width="2"/>`,
      );
    }
  });
  RUNTIMES.forEach((rt, j) => {
    out.push(
      `<rect x="${left + j * 80}" y="${H - 12}" width="10" height="10" fill="${colors[rt]}"/>`,
      `<text x="${left + j * 80 + 14}" y="${H - 3}">${rt}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

interface Series {
  name: string;
  color: string;
  dashed: boolean;
  values: (number | undefined)[];
}

/** One line-chart panel at (`x0`, `y0`): `series` over the categorical `xs`, linear y from 0. */
function panel(
  x0: number,
  y0: number,
  title: string,
  xTitle: string,
  xs: number[],
  series: Series[],
): string[] {
  const W = 300, H = 210, left = 48, bottom = 34, top = 24;
  const max = Math.max(
    1,
    ...series.flatMap((s) => s.values.filter((v) => v !== undefined) as number[]),
  );
  const px = (i: number) =>
    x0 + left + (xs.length === 1 ? 0.5 : i / (xs.length - 1)) * (W - left - 20);
  const py = (v: number) => y0 + H - bottom - (v / max) * (H - bottom - top);
  const out = [`<text x="${x0 + left}" y="${y0 + 14}" font-weight="bold">${title}</text>`];
  if (!series.some((s) => s.values.some((v) => v !== undefined))) {
    out.push(
      `<text x="${x0 + left}" y="${y0 + H / 2}" fill="#888">not measured in these results</text>`,
    );
    return out;
  }
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    out.push(
      `<line x1="${x0 + left}" y1="${py(v)}" x2="${x0 + W - 20}" y2="${py(v)}" stroke="#eee"/>`,
      `<text x="${x0 + left - 4}" y="${py(v) + 4}" text-anchor="end" fill="#555">${
        fmt(Math.round(v))
      }</text>`,
    );
  }
  xs.forEach((x, i) =>
    out.push(
      `<text x="${px(i)}" y="${y0 + H - bottom + 14}" text-anchor="middle" fill="#555">${x}</text>`,
    )
  );
  out.push(
    `<text x="${x0 + left + (W - left - 20) / 2}" y="${
      y0 + H - 6
    }" text-anchor="middle" fill="#555">${xTitle}</text>`,
  );
  for (const s of series) {
    const pts = s.values.map((v, i) => v === undefined ? undefined : `${px(i)},${py(v)}`).filter((
      p,
    ) => p !== undefined);
    if (pts.length === 0) continue;
    out.push(
      `<polyline points="${pts.join(" ")}" fill="none" stroke="${s.color}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="5,3"' : ""
      }/>`,
      ...pts.map((p) =>
        `<circle cx="${p!.split(",")[0]}" cy="${p!.split(",")[1]}" r="2.5" fill="${s.color}"/>`
      ),
    );
  }
  return out;
}

/**
 * Scaling chart: W1 relaxed and W2 against shards for each workers setting, and W5 (normal)
 * total against processes for each shard count; Bun solid, Deno dashed. Empty when the runs
 * have none of these rows.
 */
function scalingChart(data: Partial<Record<string, Results<ThroughputRow>>>): string | undefined {
  const rows = RUNTIMES.flatMap((rt) => (data[rt]?.rows ?? []).map((r) => ({ ...r, rt })))
    .filter((r) => r.backend === "sqlite");
  const palette = ["#264653", "#e76f51", "#2a9d8f", "#e9c46a", "#8ab17d", "#6d597a"];
  const shards = [
    ...new Set(rows.filter((r) => r.workload === "W1" || r.workload === "W2").map((r) => r.shards)),
  ].sort((a, b) => a - b);
  const workers = [
    ...new Set(
      rows.filter((r) => r.workload === "W1" || r.workload === "W2").map((r) => r.workers),
    ),
  ].sort((a, b) => a - b);
  const w5 = rows.filter((r) => r.workload === "W5" && r.durability === "normal");
  const procs = [...new Set(w5.map((r) => r.processes!))].sort((a, b) => a - b);
  const w5Shards = [...new Set(w5.map((r) => r.shards))].sort((a, b) => a - b);
  if (shards.length === 0 && procs.length === 0) return undefined;
  const bySharding = (pick: (r: ThroughputRow) => boolean): Series[] =>
    RUNTIMES.flatMap((rt, j) =>
      workers.map((w, i) => ({
        name: `${rt}, ${w === 0 ? "in-thread" : `${w} workers`}`,
        color: palette[i % palette.length],
        dashed: j === 1,
        values: shards.map((n) =>
          rows.find((r) => r.rt === rt && pick(r) && r.workers === w && r.shards === n)?.opsPerSec
        ),
      }))
    );
  const byProcesses: Series[] = RUNTIMES.flatMap((rt, j) =>
    w5Shards.map((n, i) => ({
      name: `${rt}, ${n} shard(s)`,
      color: palette[(i + 2) % palette.length],
      dashed: j === 1,
      values: procs.map((p) =>
        w5.find((r) => r.rt === rt && r.shards === n && r.processes === p)?.opsPerSec
      ),
    }))
  );
  const W = 940, H = 300;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...panel(
      0,
      0,
      "W1 relaxed, writes/s",
      "shards",
      shards,
      bySharding((r) => r.workload === "W1" && r.durability === "relaxed"),
    ),
    ...panel(310, 0, "W2, reads/s", "shards", shards, bySharding((r) => r.workload === "W2")),
    ...panel(
      620,
      0,
      "W5 normal, total writes/s",
      "processes (64 writers each)",
      procs,
      byProcesses,
    ),
  ];
  // Legends under each panel.
  const legend = (x0: number, series: Series[]) =>
    series.filter((s) => s.values.some((v) => v !== undefined)).map((s, i) =>
      `<line x1="${x0 + 48}" y1="${222 + i * 13}" x2="${x0 + 68}" y2="${
        222 + i * 13
      }" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ""}/>` +
      `<text x="${x0 + 72}" y="${226 + i * 13}">${s.name}</text>`
    );
  out.push(...legend(0, bySharding(() => true)), ...legend(620, byProcesses), "</svg>");
  return out.join("\n") + "\n";
}

async function main(): Promise<void> {
  const tp = Object.fromEntries(RUNTIMES.map((rt) => [rt, load<ThroughputRow>(`${rt}.json`)]));
  const bb = Object.fromEntries(
    RUNTIMES.map((rt) => [rt, load<BackendRow>(`${rt}-backends.json`)]),
  );
  const peers = RUNTIMES.map((rt) => load<PeerRow>(`peers-${rt}.json`) as PeerResults | undefined)
    .filter((d) => d !== undefined);
  const any = tp.bun ?? tp.deno ?? bb.bun ?? bb.deno;
  if (any === undefined) throw new Error("no results in bench/results/: run the benchmarks first");
  const m = any.machine;
  const md = [
    "# shardkv benchmark results",
    "",
    "Generated by `node bench/run.mjs` (see the README's Benchmarks section); do not edit by hand.",
    "",
    `- Date: ${any.started.slice(0, 10)}`,
    `- Machine: ${m.cpu}, ${m.cores} cores (nproc), ${m.memory} RAM, temp disk ${m.disk}`,
    ...RUNTIMES.map((rt) =>
      `- ${rt}: ${tp[rt]?.runtime ?? bb[rt]?.runtime ?? "not run"}${
        tp[rt]
          ? `, throughput ${tp[rt]!.mode} mode (${tp[rt]!.seconds} s a run, ${
            tp[rt]!.preloadKeys
          } preloaded keys, load average ${tp[rt]!.load?.join(" → ") ?? "?"})`
          : ""
      }`
    ),
    "- The load average counts every process on the machine; above the core count, other work",
    "  shared the CPUs with the benchmark and its numbers are lower than an idle machine gives.",
    '- Values are 1 KiB; durability "normal" unless stated; latency is measured per operation with `performance.now()`.',
    "",
    "## Headline (backend sqlite, best shard count and workers setting)",
    "",
    headlineTable(tp),
    "",
    "![throughput](results/throughput.svg)",
    "",
    ...(scalingChart(tp)
      ? ["![throughput against shards, workers and processes](results/scaling.svg)", ""]
      : []),
    "## Workloads",
    "",
    "- W1: 64 concurrent async writers, unique keys `key_<worker>_<n>`, successes counted.",
    "- W1r: the same with uniformly random 16-character keys.",
    "- W2: 64 concurrent readers, uniform over the preloaded keys, no cache.",
    "- W2h: the same with the LRU cache on and 10 000 hot keys (fits the cache).",
    "- W3: ordered prefix scan returning 1000 keys (spread over every shard), 8 concurrent scanners.",
    "- W4: 90% get / 10% set over the preloaded keys, 64 workers.",
    "- W5: P processes (1, 2, 4) open one store directory and each runs 64 writers of unique keys",
    "  for the duration, all starting together; total, per process, and fairness = min / max.",
    "- memory: RSS of a fresh process with 64 sqlite shards open and idle, and the open time.",
    "",
    ...RUNTIMES.flatMap((rt) =>
      tp[rt] && w5Table(tp[rt]!.rows)
        ? [`## W5, processes sharing one store: ${tp[rt]!.runtime}`, "", w5Table(tp[rt]!.rows), ""]
        : []
    ),
    ...(peers.length > 0
      ? [
        "## Peers in the same run (bench/peers.ts): W1, 64 writers, 1 KiB values",
        "",
        "Go Badger v2 (64 goroutines, one `db.Update` per write) and lmdb-js `put()` (binary values)",
        "measured in the same run as shardkv, each probe in its own process on a fresh directory.",
        "",
        ...peers.map(peersSection),
      ]
      : []),
    ...RUNTIMES.flatMap((rt) =>
      tp[rt] ? [`## All throughput rows: ${tp[rt]!.runtime}`, "", fullTable(tp[rt]!.rows), ""] : []
    ),
    "## Per operation, one caller at a time (tinybench)",
    "",
    "Each target preloads keys then runs get, set, batchSet of 100, scan of 100 and incr",
    "sequentially. Raw SQLite runs in autocommit with synchronous=NORMAL; lmdb commits (and syncs)",
    "asynchronously in batches; Deno KV is Deno.openKv on a local file.",
    "",
    backendsTable(bb),
  ].join("\n");
  await writeFile(here("./RESULTS.md"), md);
  await writeFile(here("./results/throughput.svg"), chart(tp));
  const scaling = scalingChart(tp);
  if (scaling !== undefined) await writeFile(here("./results/scaling.svg"), scaling);
  console.error(
    `wrote bench/RESULTS.md and bench/results/throughput.svg${scaling ? " and scaling.svg" : ""}`,
  );
}

await main();
