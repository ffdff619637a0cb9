// The journal of a store directory: one file per multi-shard atomic commit in flight, under
// `commits/`, removed once every shard has it. A record ends with the CRC-32 of its bytes, so
// one a crash cut short while it was written (no shard had been touched yet) is dropped.
// Files reach the page cache at once, which survives a killed process; with durability "full"
// they are fsynced (and their directory after each change) to survive a power loss too.
// A record's name carries its writer's pid: one whose writer still runs is a commit in flight,
// not an interrupted one, and list() leaves it out (any process may open the store meanwhile).
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type { Journal } from "../core/driver.ts";
import { crc32 } from "./_backup_crc.ts";
import { isAlive } from "../backends/builtin.ts";
import { fsyncDir, fsyncPath } from "./manifest.ts";

const SUFFIX = ".commit";

/** Names of the records this process is writing (shared by its store objects: ids are unique). */
const inFlight = new Set<string>();

/** The writer's pid in a record's name (`<id>.<pid>`), `undefined` for a name without one. */
function writerOf(name: string): number | undefined {
  const m = /\.(\d+)$/.exec(name);
  return m === null ? undefined : Number(m[1]);
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
    async list() {
      const out = new Map<string, Uint8Array>();
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith(SUFFIX)).sort()) {
        const base = name.slice(0, -SUFFIX.length);
        const writer = writerOf(base);
        // Still being written: this process's commit in flight, or a live process's.
        if (inFlight.has(base)) continue;
        if (writer !== undefined && writer !== process.pid && isAlive(writer)) continue;
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
  };
}
