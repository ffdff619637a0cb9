/**
 * W1 on shardkv for bench/peers.ts: 64 async writers of unique keys with 1 KiB values on a new
 * sqlite store, through the same driver as bench/throughput.ts. Prints one JSON line.
 *
 *   bun bench/peers/shardkv_w1.ts --dir DIR [--shards 1] [--durability relaxed] [--workers 0]
 *     [--seconds 5]
 *
 * @module
 */
import { openStore, type StoreOptions } from "../../mod.ts";
import { args, driveWorkers } from "../_common.ts";

const opt = args();
const workers = Number(opt.get("workers") ?? 0);
const store = await openStore(`${opt.get("dir")}/store`, {
  shards: Number(opt.get("shards") ?? 1),
  durability: (opt.get("durability") ?? "relaxed") as StoreOptions["durability"],
  ...(workers > 0 ? { workers } : {}),
} as StoreOptions);
const value = new Uint8Array(1024).fill(7);
const r = await driveWorkers(
  64,
  Number(opt.get("seconds") ?? 5) * 1000,
  (w, n) => store.set(`key_${w}_${n}`, value),
);
await store.close();
console.log(JSON.stringify(r));
