/**
 * W1 (64 writers, unique keys, 1 KiB values) on shardkv and on its peers in ONE run, so the
 * ratios compare numbers measured minutes apart on the same machine:
 *
 * - shardkv sqlite, durability relaxed / normal / full, for each --shards and --workers
 * - Go Badger v2 (bench/peers/badger_w1.go: 64 goroutines, one db.Update per write),
 *   SyncWrites false and true; built here from Debian's packages `golang-go` and
 *   `golang-github-dgraph-io-badger-dev` in GOPATH mode (no network)
 * - lmdb-js `put()` (bench/peers/lmdb_w1.ts), its default synced commits and `noSync`
 *
 * Each probe runs in its own process on a fresh directory; with --rounds N every probe runs N
 * times, interleaved, and the median counts. Prints a table and the ratios; writes
 * bench/results/peers-<runtime>.json.
 *
 *   bun bench/peers.ts [--duration 5] [--rounds 1] [--shards 1,16] [--workers 0]
 *     [--durability relaxed,normal,full] [--skip badger,lmdb]
 *   deno run -A bench/peers.ts [same flags]
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { args, benchDir, load1, round, runtimeName, writeResults } from "./_common.ts";

interface Probe {
  system: "shardkv" | "badger" | "lmdb";
  config: string;
  /** What durability class it belongs to: compared with shardkv's level of the same name. */
  durability: "relaxed" | "normal" | "full";
  run(dir: string): string[];
}

/** One probe's result: the median over the rounds. */
export interface PeerRow {
  system: string;
  config: string;
  durability: string;
  opsPerSec: number;
  rounds: number[];
  errors: number;
  note?: string;
}

const opt = args();
const seconds = Number(opt.get("duration") ?? (opt.has("quick") ? 0.5 : 5));
const rounds = Number(opt.get("rounds") ?? 1);
const shardCounts = (opt.get("shards") ?? "1,16").split(",").map(Number);
const workerCounts = (opt.get("workers") ?? "0").split(",").map(Number);
const durabilities = (opt.get("durability") ?? "relaxed,normal,full").split(",") as Probe[
  "durability"
][];
const skip = new Set((opt.get("skip") ?? "").split(","));
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/** This runtime running `file` with `extra` arguments. */
function self(file: string, extra: string[]): string[] {
  return runtimeName() === "deno"
    ? [process.execPath, "run", "-A", "--no-check", file, ...extra]
    : [process.execPath, file, ...extra];
}

/**
 * Builds the Badger probe with Debian's Go packages: GOPATH mode against /usr/share/gocode
 * (Debian installs Go libraries' sources there; GO111MODULE=off resolves imports from it with
 * no module download). Returns the binary, or why it could not be built.
 */
function buildBadger(): { binary?: string; reason?: string } {
  const gopath = "/usr/share/gocode";
  if (!existsSync(`${gopath}/src/github.com/dgraph-io/badger`)) {
    return { reason: "apt-get install golang-go golang-github-dgraph-io-badger-dev" };
  }
  const binary = join(tmpdir(), `shardkv-badger-w1-${process.pid}`);
  const r = spawnSync("go", ["build", "-o", binary, here("./peers/badger_w1.go")], {
    encoding: "utf8",
    env: { ...process.env, GO111MODULE: "off", GOPATH: gopath, GOFLAGS: "" },
  });
  if (r.error !== undefined) return { reason: `go: ${r.error.message}` };
  if (r.status !== 0) return { reason: `go build failed: ${r.stderr.slice(-500)}` };
  return { binary };
}

function probes(badger: string | undefined): Probe[] {
  const out: Probe[] = [];
  for (const durability of durabilities) {
    for (const shards of shardCounts) {
      for (const workers of workerCounts) {
        if (workers > shards) continue;
        out.push({
          system: "shardkv",
          config: `${durability}, ${shards} shard(s)${workers > 0 ? `, ${workers} workers` : ""}`,
          durability,
          run: (dir) =>
            self(here("./peers/shardkv_w1.ts"), [
              "--dir",
              dir,
              "--shards",
              String(shards),
              "--durability",
              durability,
              "--workers",
              String(workers),
              "--seconds",
              String(seconds),
            ]),
        });
      }
    }
  }
  if (badger !== undefined) {
    for (const sync of [false, true]) {
      out.push({
        system: "badger",
        config: `SyncWrites=${sync}`,
        durability: sync ? "full" : "relaxed",
        run: (dir) => [badger, "-dir", dir, "-seconds", String(seconds), `-sync=${sync}`],
      });
    }
  }
  if (!skip.has("lmdb")) {
    for (const noSync of [false, true]) {
      out.push({
        system: "lmdb",
        config: noSync ? "noSync" : "default (synced commits)",
        durability: noSync ? "relaxed" : "full",
        run: (dir) =>
          self(here("./peers/lmdb_w1.ts"), [
            "--dir",
            dir,
            "--seconds",
            String(seconds),
            ...(noSync ? ["--no-sync"] : []),
          ]),
      });
    }
  }
  return out;
}

async function runProbe(probe: Probe): Promise<{ opsPerSec: number; errors: number }> {
  const { dir, dispose } = await benchDir(`peer-${probe.system}`);
  try {
    const [cmd, ...argv] = probe.run(dir);
    const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: (seconds + 60) * 1000 });
    const line = r.stdout?.trim().split("\n").at(-1) ?? "";
    try {
      return JSON.parse(line) as { opsPerSec: number; errors: number };
    } catch {
      throw new Error(
        `${probe.system} ${probe.config} printed no result (exit ${r.status}): ${
          (r.stderr ?? "").slice(-1000)
        }`,
      );
    }
  } finally {
    await dispose();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1
    ? s[(s.length - 1) / 2]
    : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};
const k = (n: number): string => n >= 1e4 ? `${Math.round(n / 1e3)}K` : String(n);

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const loadStart = load1();
  const built = skip.has("badger") ? { reason: "skipped (--skip badger)" } : buildBadger();
  const list = probes(built.binary);
  const results = list.map(() => ({ rounds: [] as number[], errors: 0 }));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < list.length; i++) {
      const r = await runProbe(list[i]);
      results[i].rounds.push(r.opsPerSec);
      results[i].errors += r.errors;
      console.error(
        `round ${round + 1}/${rounds} ${list[i].system.padEnd(7)} ${list[i].config.padEnd(28)} ` +
          `${String(r.opsPerSec).padStart(8)} writes/s${r.errors ? ` errors=${r.errors}` : ""}`,
      );
    }
  }
  const rows: PeerRow[] = list.map((p, i) => ({
    system: p.system,
    config: p.config,
    durability: p.durability,
    opsPerSec: median(results[i].rounds),
    rounds: results[i].rounds,
    errors: results[i].errors,
  }));
  if (built.binary === undefined) {
    rows.push({
      system: "badger",
      config: "not run",
      durability: "",
      opsPerSec: 0,
      rounds: [],
      errors: 0,
      note: built.reason,
    });
  }

  const bestShardkv = (durability: string): PeerRow | undefined =>
    rows.filter((r) => r.system === "shardkv" && r.durability === durability)
      .sort((a, b) => b.opsPerSec - a.opsPerSec)[0];
  const peer = (system: string, config: string): PeerRow | undefined =>
    rows.find((r) => r.system === system && r.config === config && r.opsPerSec > 0);
  const ratios: { label: string; ratio: number; shardkv: string; peer: string }[] = [];
  const compare = (durability: string, system: string, config: string): void => {
    const ours = bestShardkv(durability);
    const theirs = peer(system, config);
    if (ours === undefined || theirs === undefined) return;
    ratios.push({
      label: `shardkv W1 ${durability} (best: ${ours.config}) vs ${system} ${config}`,
      ratio: round(ours.opsPerSec / theirs.opsPerSec, 2),
      shardkv: k(ours.opsPerSec),
      peer: k(theirs.opsPerSec),
    });
  };
  compare("relaxed", "badger", "SyncWrites=false");
  compare("relaxed", "lmdb", "noSync");
  compare("normal", "badger", "SyncWrites=false");
  compare("full", "badger", "SyncWrites=true");
  compare("full", "lmdb", "default (synced commits)");

  console.log(
    `\nW1, 64 writers, 1 KiB values, ${seconds} s a probe, ${rounds} round(s), ${runtimeName()}`,
  );
  console.log("\n| system | configuration | writes/s (median) | rounds |");
  console.log("|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.system} | ${r.config} | ${r.note ?? k(r.opsPerSec)} | ${r.rounds.map(k).join(", ")} |`,
    );
  }
  console.log("\n| comparison | shardkv | peer | ratio |");
  console.log("|---|---|---|---|");
  for (const r of ratios) console.log(`| ${r.label} | ${r.shardkv} | ${r.peer} | ${r.ratio}× |`);

  if (built.binary !== undefined) rmSync(built.binary, { force: true });
  await writeResults(opt.get("out") ?? `peers-${runtimeName()}`, {
    bench: "peers",
    seconds,
    rounds,
    started,
    loadStart,
    rows,
    ratios,
  });
}

await main();
