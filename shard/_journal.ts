// The journal of a store directory: one file per multi-shard atomic commit in flight, under
// `commits/`, removed once every shard has it. A record ends with the CRC-32 of its bytes, so
// one a crash cut short while it was written (no shard had been touched yet) is dropped.
// Files reach the page cache at once, which survives a killed process; with durability "full"
// they are fsynced (and their directory after each change) to survive a power loss too.
// A record's name carries its writer's pid: one whose writer still runs is a commit in flight,
// not an interrupted one, and list() leaves it out (any process may open the store meanwhile).
//
// Readers of several shards in other processes ask state() (see Journal.state): the generation
// is `commits/generation`, a file every write() appends one byte to (O_APPEND, atomic between
// processes) once its record is stored, read with one stat: its size is exact, where a
// directory's mtime only moves by clock ticks. Past GENERATION_RESET bytes a writer renames a
// fresh empty file over it, so the file stays small; the generation is inode and size, so the
// swap changes it too. In flight: a record in `commits/` whose writer is alive. Both are read
// with synchronous calls: a stat and a readdir of a (usually empty) directory cost a few µs,
// less than one round trip to the thread pool that the promise API takes.
import {
  closeSync,
  fstatSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type { Journal, JournalState } from "../core/driver.ts";
import { crc32 } from "./_backup_crc.ts";
import { isAlive } from "../backends/builtin.ts";
import { fsyncDir, fsyncPath } from "./manifest.ts";

const SUFFIX = ".commit";
const GENERATION = "generation";
/** Size at which the generation file is replaced by an empty one. */
const GENERATION_RESET = 1 << 20;
const ONE_BYTE = new Uint8Array(1);

/** Names of the records this process is writing (shared by its store objects: ids are unique). */
const inFlight = new Set<string>();

/** The writer's pid in a record's name (`<id>.<pid>`), `undefined` for a name without one. */
function writerOf(name: string): number | undefined {
  const m = /\.(\d+)$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** Whether the record `base` is still being written: this process's commit, or a live one's. */
function isInFlight(base: string): boolean {
  if (inFlight.has(base)) return true;
  const writer = writerOf(base);
  return writer !== undefined && writer !== process.pid && isAlive(writer);
}

export function fileJournal(path: string, options: { sync: boolean }): Journal {
  const dir = join(path, "commits");
  let made: Promise<unknown> | undefined;
  const sync = async (file?: string) => {
    if (!options.sync) return;
    if (file !== undefined) await fsyncPath(file);
    await fsyncDir(dir);
  };
  return {
    async write(id, record) {
      made ??= mkdir(dir, { recursive: true }).then(() => sync());
      await made;
      const framed = new Uint8Array(record.length + 4);
      framed.set(record);
      new DataView(framed.buffer).setUint32(record.length, crc32(record));
      const name = `${id}.${process.pid}`;
      const file = join(dir, name + SUFFIX);
      inFlight.add(name);
      await writeFile(file, framed);
      await sync(file);
      bump(join(dir, GENERATION));
    },
    async remove(id) {
      // `id` is one this process wrote, or a name list() returned.
      const own = `${id}.${process.pid}`;
      // Still in flight until the file is gone: an open in this process meanwhile must not
      // take the finished commit for an interrupted one and roll it back.
      await rm(join(dir, (inFlight.has(own) ? own : id) + SUFFIX), { force: true });
      inFlight.delete(own);
      await sync();
    },
    async release(id) {
      const own = `${id}.${process.pid}`;
      // Without a writer in its name, every process takes it for an interrupted commit.
      await rename(join(dir, own + SUFFIX), join(dir, id + SUFFIX));
      inFlight.delete(own);
      await sync();
    },
    async list() {
      const out = new Map<string, Uint8Array>();
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith(SUFFIX)).sort()) {
        const base = name.slice(0, -SUFFIX.length);
        if (isInFlight(base)) continue;
        // Gone since readdir: its commit finished (another process may be committing).
        const bytes = await readFile(join(dir, name)).catch((e) => {
          if ((e as { code?: string }).code === "ENOENT") return undefined;
          throw e;
        });
        if (bytes === undefined) continue;
        const body = bytes.subarray(0, Math.max(0, bytes.length - 4));
        const ok = bytes.length >= 4 &&
          new DataView(bytes.buffer, bytes.byteOffset).getUint32(body.length) === crc32(body);
        if (ok) out.set(base, new Uint8Array(body));
        else await rm(join(dir, name), { force: true });
      }
      return out;
    },
    state: () => Promise.resolve(stateOf(dir)),
  };
}

/** The generation and in-flight records of the journal directory `dir` (see Journal.state). */
function stateOf(dir: string): JournalState {
  let generation = "-";
  try {
    const st = statSync(join(dir, GENERATION));
    generation = `${st.ino}:${st.size}`;
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
  let busy = false;
  let stale = false;
  for (const name of names) {
    if (!name.endsWith(SUFFIX)) continue;
    // What list() leaves out is in flight, what it returns is stale.
    if (isInFlight(name.slice(0, -SUFFIX.length))) busy = true;
    else stale = true;
  }
  return { generation, busy, stale };
}

/**
 * Appends a byte to the generation file `file`; when it has grown past GENERATION_RESET, puts a
 * fresh empty file in its place. A byte appended to a file just replaced (by another writer)
 * would go unseen, so the append is repeated until it landed in the file at `file`.
 */
function bump(file: string): void {
  for (;;) {
    const fd = openSync(file, "a");
    let ino: number;
    let size: number;
    try {
      writeSync(fd, ONE_BYTE);
      ({ ino, size } = fstatSync(fd));
    } finally {
      closeSync(fd);
    }
    if (size >= GENERATION_RESET) {
      const fresh = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      writeFileSync(fresh, ONE_BYTE);
      renameSync(fresh, file);
      return;
    }
    try {
      if (statSync(file).ino === ino) return;
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
    }
  }
}
