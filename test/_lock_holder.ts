// A worker thread that holds an SQLite file's write lock on request, as another process would:
// "hold" (BEGIN IMMEDIATE, then "held"), "release" (COMMIT, then "released"), and "hold-for"
// (BEGIN IMMEDIATE, "held", COMMIT after `ms` by itself, then "released").
import { parentPort, workerData } from "node:worker_threads";
import { openSqliteDatabase } from "../backends/_sqlite_driver.ts";

const port = parentPort!;
const { db } = await openSqliteDatabase(workerData as string);
db.exec("PRAGMA busy_timeout = 5000");
port.on("message", (m: { op: string; ms?: number }) => {
  if (m.op === "hold" || m.op === "hold-for") {
    db.exec("BEGIN IMMEDIATE");
    port.postMessage("held");
    if (m.op === "hold-for") {
      setTimeout(() => {
        db.exec("COMMIT");
        port.postMessage("released");
      }, m.ms);
    }
  } else if (m.op === "release") {
    db.exec("COMMIT");
    port.postMessage("released");
  } else if (m.op === "close") {
    db.close();
    port.unref();
  }
});
port.postMessage("ready");
