/**
 * W1 on lmdb-js for bench/peers.ts: 64 async writers each awaiting `db.put(key, value)` of unique
 * keys with 1 KiB values (binary encoding, so the bytes are stored as they are), through the
 * same driver as bench/throughput.ts. lmdb-js batches the puts of a turn into one transaction;
 * by default it syncs each commit to disk, `--no-sync` opens with `noSync: true`.
 * Prints one JSON line.
 *
 *   bun bench/peers/lmdb_w1.ts --dir DIR [--no-sync] [--seconds 5]
 *
 * @module
 */
import { open } from "lmdb";
import { args, driveWorkers } from "../_common.ts";

const opt = args();
const db = open<Uint8Array, string>({
  path: `${opt.get("dir")}/lmdb`,
  encoding: "binary",
  noSync: opt.has("no-sync"),
});
const value = new Uint8Array(1024).fill(7);
const r = await driveWorkers(
  64,
  Number(opt.get("seconds") ?? 5) * 1000,
  (w, n) => db.put(`key_${w}_${n}`, value),
);
await db.close();
console.log(JSON.stringify(r));
