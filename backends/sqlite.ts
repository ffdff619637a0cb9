/**
 * The `"sqlite"` backend: one WAL-mode SQLite file per shard, through `bun:sqlite` on Bun and
 * `node:sqlite` on Deno. Writes of one event-loop turn share one transaction (group commit).
 *
 * @module
 */
import { statSync } from "node:fs";
import { BaseDriver, type Update } from "../core/base_driver.ts";
import {
  type Checks,
  type Driver,
  type Entry,
  matches,
  type RangeQuery,
  type RangeResult,
  type ShardTxn,
  type WriteOp,
} from "../core/driver.ts";
import { Engine } from "../core/engine.ts";
import type { Durability, StorageBackend } from "../core/types.ts";
import { type CheckpointWatch, watchCheckpoints, WRITER_AUTOCHECKPOINT } from "./_checkpointer.ts";
import { CommitQueue, type Transactor } from "./_commit_queue.ts";
import { checksum, checkWal } from "./_sqlite_verify.ts";
import { CorruptStoreError, type StorageErrorInit } from "../core/errors.ts";
import {
  checkPageSize,
  checkSqliteFile,
  isSqliteError,
  openSqliteDatabase,
  type SqliteArrayStatement,
  type SqliteDatabase,
  type SqliteStatement,
  type SqlValue,
  storageErrorOf,
} from "./_sqlite_driver.ts";

/** Options of {@linkcode openSqliteBackend}. */
export interface SqliteBackendOptions {
  /** `synchronous` level: `"relaxed"` OFF, `"normal"` NORMAL (default), `"full"` FULL. */
  durability?: Durability;
  /** Clock in ms used for TTLs (default `Date.now`). */
  now?: () => number;
  /** How long a write waits for another process's lock, in ms (default 5000). */
  busyTimeout?: number;
  /**
   * Page size in bytes if the file is created now: a power of two from 512 to 65536 (default
   * 4096). An existing file keeps its own.
   */
  pageSize?: number;
  /**
   * `false`: the file must already be a shardkv shard (an existing store's); a missing, empty
   * or foreign file throws `CorruptStoreError` instead of starting an empty shard. Default
   * `true`: created when missing.
   */
  create?: boolean;
  /** The shard index that errors report (default 0). */
  shard?: number;
}

const SYNCHRONOUS: Record<Durability, string> = {
  relaxed: "OFF",
  normal: "NORMAL",
  full: "FULL",
};

/** A reset WAL file is truncated back to this size (bytes). */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;
/** Reads map the database file (address space only; pages load as they are touched). */
const MMAP_SIZE = 1024 * 1024 * 1024;
/** A BEGIN slower than this (ms) waited for another process's write lock. */
const CONTENDED_BEGIN_MS = 1;
/** How long (ms) after another process held the write lock commits keep polling for it. */
const CONTENDED_FOR_MS = 10_000;
/** Bytes counted per written row beyond its key and value (page and index overhead). */
const ROW_OVERHEAD = 48;

/**
 * The expiry column as read: versions before the 2^53 ms cap (core/validate.ts) could store
 * later expiry times (the server's `PXAT 9223372036854775`), which node:sqlite refuses to read
 * as a number; they read as the cap, still centuries after any clock. `min` keeps NULL.
 */
const EXPIRES_AT = `min(expires_at, ${Number.MAX_SAFE_INTEGER})`;

// A rowid table with a key index rather than WITHOUT ROWID: with 1 KiB values a WITHOUT ROWID
// B-tree holds ~3 rows a page, so random inserts split pages and rewrite far more of them
// (measured here: 3.5x the point reads and writes with the rowid layout).
const SCHEMA = `
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL,
  expires_at INTEGER,
  crc INTEGER,
  version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
COMMIT;
`;

/**
 * Opens (creating if needed) one SQLite shard file.
 *
 * @example
 * ```ts
 * import { openSqliteBackend } from "@shardkv/shardkv/sqlite";
 * const shard = await openSqliteBackend("./one-shard.sqlite", { durability: "normal" });
 * await shard.set("a", new Uint8Array([1]));
 * await shard.close();
 * ```
 */
export async function openSqliteBackend(
  path: string,
  options: SqliteBackendOptions = {},
): Promise<SqliteShard> {
  const driver = await openSqliteDriver(path, options);
  return new SqliteEngine(driver, options.now ?? Date.now);
}

/** Point reads between two looks at the file's size for a stale memory map (#remapIfGrown). */
const REMAP_CHECK_READS = 4096;
/** The least time (ms) between two remaps, so a file that keeps growing is not remapped often. */
const REMAP_EVERY_MS = 1000;

/** A bare SQLite shard: the engine over one driver, plus the driver's settings. */
class SqliteEngine extends Engine implements SqliteShard {
  #driver: SqliteDriver;
  constructor(driver: SqliteDriver, now: () => number) {
    super({ path: "", backend: "sqlite", drivers: [driver], now });
    this.#driver = driver;
  }
  settings(): SqliteSettings {
    return this.#driver.settings();
  }
}

/** The driver of one SQLite shard: a {@linkcode Driver} plus its settings. */
export interface SqliteDriver extends Driver {
  /** Reads the connection's journal mode, synchronous level and busy timeout back from SQLite. */
  settings(): SqliteSettings;
}

/**
 * Opens (creating if needed) the driver of one SQLite shard file, for `openStore`'s `backend`
 * factory or a wrapper around it.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { openSqliteDriver } from "@shardkv/shardkv/sqlite";
 * const store = await openStore("./wrapped", {
 *   backend: (shardPath) => openSqliteDriver(`${shardPath}.db`, { durability: "full" }),
 * });
 * ```
 */
export async function openSqliteDriver(
  path: string,
  options: SqliteBackendOptions = {},
): Promise<SqliteDriver> {
  const durability = options.durability ?? "normal";
  if (!(durability in SYNCHRONOUS)) {
    throw new RangeError(
      `durability must be "relaxed", "normal" or "full", received ${JSON.stringify(durability)}`,
    );
  }
  if (options.pageSize !== undefined) checkPageSize(options.pageSize);
  const where: StorageErrorInit = { shard: options.shard ?? 0, path };
  if (options.create === false) {
    await checkSqliteFile(path, where);
    await checkWal(where);
  }
  let opened;
  try {
    opened = await openSqliteDatabase(path);
  } catch (e) {
    throw storageErrorOf(e, where);
  }
  const { db, textKeepsNul } = opened;
  const busyTimeout = Math.trunc(options.busyTimeout ?? 5000);
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
    const existing = hasKvTable(db);
    if (options.create === false && !existing) {
      throw new CorruptStoreError("has no kv table: it is not a shardkv shard", where);
    }
    // Only an empty database takes a page size, and only before it enters WAL mode.
    if (!existing && options.pageSize !== undefined) {
      db.exec(`PRAGMA page_size = ${options.pageSize}`);
    }
    await retryWhileBusy(db, "PRAGMA journal_mode = WAL", busyTimeout);
    db.exec(`PRAGMA synchronous = ${SYNCHRONOUS[durability]}`);
    db.exec(`PRAGMA wal_autocheckpoint = ${WRITER_AUTOCHECKPOINT}`);
    db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
    db.exec(`PRAGMA mmap_size = ${MMAP_SIZE}`);
    // Only a new file takes the write lock here: another process's transaction on an existing
    // one does not hold its opening up.
    if (!existing) await retryWhileBusy(db, SCHEMA, busyTimeout);
    await addColumn(db, "crc INTEGER", busyTimeout);
    await addColumn(db, "version INTEGER NOT NULL DEFAULT 0", busyTimeout);
  } catch (e) {
    db.close();
    throw storageErrorOf(e, where, { busyTimeout });
  }
  const checkpoints = watchCheckpoints(path, SYNCHRONOUS[durability]);
  return new SqliteBackend(db, {
    now: options.now ?? Date.now,
    textKeepsNul,
    checkpoints,
    where,
    busyTimeout,
  });
}

/**
 * Files written before values carried checksums (`crc`) or versions (`version`) get the column
 * `declaration` names (a schema change only: SQLite rewrites no row). Their old rows read a NULL
 * checksum (read unchecked until rewritten; `verifyStore` counts them) and version 0.
 */
async function addColumn(db: SqliteDatabase, declaration: string, timeout: number): Promise<void> {
  const name = declaration.split(" ")[0];
  const has = () => {
    const stmt = db.prepare("SELECT 1 AS found FROM pragma_table_info('kv') WHERE name = ?");
    try {
      return stmt.get(name) != null;
    } finally {
      stmt.finalize?.();
    }
  };
  if (has()) return;
  try {
    await retryWhileBusy(
      db,
      `BEGIN IMMEDIATE; ALTER TABLE kv ADD COLUMN ${declaration}; COMMIT`,
      timeout,
    );
  } catch (e) {
    // Another process added it first.
    if (!has()) throw e;
  }
}

/** Whether the open database has shardkv's table (the schema is read, so damage shows here). */
function hasKvTable(db: SqliteDatabase): boolean {
  const stmt = db.prepare(
    "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'kv'",
  );
  try {
    return stmt.get() != null;
  } finally {
    stmt.finalize?.();
  }
}

/**
 * Runs `sql`, retrying for up to `timeout` ms while another connection holds the lock: while
 * several processes create the same file, switching it to WAL can fail with SQLITE_BUSY at
 * once, without SQLite's busy handler being consulted.
 */
async function retryWhileBusy(db: SqliteDatabase, sql: string, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
    try {
      db.exec(sql);
      return;
    } catch (e) {
      try {
        db.exec("ROLLBACK");
      } catch { /* no transaction was open */ }
      if (!isSqliteError(e, ["SQLITE_BUSY"]) || Date.now() >= deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** What a shard's connection is actually running with, read back from SQLite. */
export interface SqliteSettings {
  /** `"wal"` for every shard. */
  journalMode: string;
  /** The `durability` that the connection's `synchronous` level gives. */
  durability: Durability;
  /** Ms a write waits for another process's lock. */
  busyTimeout: number;
  /** The file's page size in bytes. */
  pageSize: number;
}

/**
 * One SQLite shard: the `StorageBackend` plus its settings.
 *
 * @example
 * ```ts
 * import { openSqliteBackend } from "@shardkv/shardkv/sqlite";
 * const shard = await openSqliteBackend("./one.sqlite", { durability: "full" });
 * shard.settings().durability; // "full"
 * await shard.close();
 * ```
 */
export interface SqliteShard extends StorageBackend {
  /** Reads the connection's journal mode, synchronous level and busy timeout back from SQLite. */
  settings(): SqliteSettings;
}

const DURABILITY_OF_LEVEL: Record<number, Durability> = { 0: "relaxed", 1: "normal", 2: "full" };

class SqliteBackend extends BaseDriver implements SqliteDriver {
  /** Reads and writes run through one queue, in the order they are called. */
  readonly ordered = true;
  #db: SqliteDatabase;
  #queue: CommitQueue;
  /** How the queue (and `begin()`) starts and ends the write transactions of #db. */
  #tx: Transactor;
  /** Statements built on demand (pragmas), prepared once each. */
  #bySql = new Map<string, SqliteStatement>();
  /** Scan shapes built on demand, prepared once each. */
  #scans = new Map<string, SqliteArrayStatement>();
  /** `[value, expires_at, crc, version]` of a key. */
  #get: SqliteArrayStatement;
  #put: SqliteStatement;
  #del: SqliteStatement;
  #purge: SqliteStatement;
  #sweep: SqliteStatement;
  #checkpoints: CheckpointWatch;
  /** Every statement prepared on #db, finalized before it closes. */
  #statements: { finalize?(): void }[] = [];
  /** Bytes written by the transaction in progress, reported to the checkpointer on commit. */
  #written = 0;
  /** Whether the commit queue's write transaction is open. */
  #inWrite = false;
  #dataVersion: SqliteStatement;
  /** `PRAGMA data_version` as last read: it moves when another connection commits. */
  #lastDataVersion: number;
  /** What `changes()` returns: counts this connection's commits and others' seen. */
  #changes = 0;

  /** The scanned key column: TEXT where the driver returns it whole, else its UTF-8 bytes. */
  #keyColumn: string;
  /** This shard and its file, named by the errors it throws. */
  #where: StorageErrorInit;
  /** Ms a write waits for another connection's lock. */
  #busyTimeout: number;
  /** Until when (ms) commits poll for the write lock: another process wrote lately. */
  #contendedUntil = 0;
  /** Set once the shard is found damaged: every later write is refused. */
  #corrupt: CorruptStoreError | undefined;
  /** Point reads left before #remapIfGrown looks at the file's size again. */
  #readsToCheck = REMAP_CHECK_READS;
  /** The file's size when this connection last (re)mapped it, as far as we know. */
  #mappedBytes: number;
  /** When (ms) #remapIfGrown last remapped the file. */
  #remappedAt = 0;

  constructor(
    db: SqliteDatabase,
    init: {
      now: () => number;
      textKeepsNul: boolean;
      checkpoints: CheckpointWatch;
      where: StorageErrorInit;
      busyTimeout: number;
    },
  ) {
    super(init.now);
    this.#db = db;
    this.#where = init.where;
    this.#busyTimeout = init.busyTimeout;
    this.#checkpoints = init.checkpoints;
    this.#keyColumn = init.textKeepsNul ? "key" : "CAST(key AS BLOB) AS key";
    this.#mappedBytes = this.#fileSize();
    this.#get = this.#prepareArrays(
      `SELECT value, ${EXPIRES_AT}, crc, version FROM kv WHERE key = ?`,
    );
    // An upsert rather than INSERT OR REPLACE: the version of a replaced row is still at hand.
    this.#put = this.#prepare(
      `INSERT INTO kv (key, value, expires_at, crc, version) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
       crc = excluded.crc, version = max(excluded.version, kv.version + 1)`,
    );
    this.#del = this.#prepare(`DELETE FROM kv WHERE key = ? RETURNING ${EXPIRES_AT} AS expires_at`);
    this.#purge = this.#prepare("DELETE FROM kv WHERE key = ? AND expires_at <= ?");
    this.#sweep = this.#prepare(
      "DELETE FROM kv WHERE key IN (SELECT key FROM kv WHERE expires_at <= ? LIMIT ?)",
    );
    const begin = this.#prepare("BEGIN IMMEDIATE");
    const commit = this.#prepare("COMMIT");
    const rollback = this.#prepare("ROLLBACK");
    const beginRead = this.#prepare("BEGIN DEFERRED");
    this.#dataVersion = this.#prepare("PRAGMA data_version");
    this.#lastDataVersion = this.#readDataVersion();
    // Another process's write lock is polled by the commit queue rather than waited for in
    // SQLite's busy handler, which sleeps the whole thread (see _commit_queue.ts). SQLite runs
    // `PRAGMA busy_timeout = N` while it prepares the statement, not when it steps it, so a
    // prepared one would set its timeout once: each switch is an exec.
    const noWait = { run: () => db.exec("PRAGMA busy_timeout = 0") };
    const wait = { run: () => db.exec(`PRAGMA busy_timeout = ${init.busyTimeout}`) };
    const refuseIfCorrupt = () => {
      if (this.#corrupt !== undefined) {
        throw new CorruptStoreError(
          `refuses writes since it was found damaged (${this.#corrupt.message})`,
          this.#where,
          { cause: this.#corrupt },
        );
      }
    };
    this.#tx = {
      begin: () => {
        refuseIfCorrupt();
        this.#written = 0;
        begin.run();
        this.#inWrite = true;
      },
      tryBegin: (poll) => {
        refuseIfCorrupt();
        this.#written = 0;
        if (!poll && Date.now() >= this.#contendedUntil) {
          // No other writer seen lately: a plain BEGIN, without the two pragmas' cost. Should
          // it wait in SQLite's handler after all, the next commits poll instead.
          const t0 = performance.now();
          try {
            begin.run();
          } catch (e) {
            if (!isSqliteError(e, ["SQLITE_BUSY"])) throw e;
            this.#contended();
            return false;
          }
          this.#inWrite = true;
          if (performance.now() - t0 > CONTENDED_BEGIN_MS) this.#contended();
          return true;
        }
        noWait.run();
        try {
          begin.run();
          this.#inWrite = true;
          return true;
        } catch (e) {
          if (!isSqliteError(e, ["SQLITE_BUSY"])) throw e;
          this.#contended();
          return false;
        } finally {
          wait.run();
        }
      },
      lockWait: init.busyTimeout,
      commit: () => {
        commit.run();
        this.#inWrite = false;
        this.#changes++;
        this.#checkpoints.wrote(this.#written);
      },
      rollback: () => {
        this.#inWrite = false;
        // SQLite may already have rolled back on its own (e.g. on a full disk).
        try {
          rollback.run();
        } catch { /* no transaction left to roll back */ }
      },
      beginRead: () => beginRead.run(),
      endRead: () => {
        try {
          commit.run();
        } catch {
          // An error may have ended it already; else no read transaction may stay open.
          this.#tx.rollback();
        }
      },
      mapError: (e) => this.#mapError(e),
    };
    this.#queue = new CommitQueue(this.#tx);
  }

  /** The error a caller sees for `e`; a damaged file refuses every later write. */
  #mapError(e: unknown): unknown {
    const mapped = storageErrorOf(e, this.#where, { busyTimeout: this.#busyTimeout });
    if (mapped instanceof CorruptStoreError) this.#corrupt ??= mapped;
    return mapped;
  }

  #contended(): void {
    this.#contendedUntil = Date.now() + CONTENDED_FOR_MS;
  }

  #cached(sql: string): SqliteStatement {
    let stmt = this.#bySql.get(sql);
    if (stmt === undefined) this.#bySql.set(sql, stmt = this.#prepare(sql));
    return stmt;
  }

  #prepare(sql: string): SqliteStatement {
    const stmt = this.#db.prepare(sql);
    this.#statements.push(stmt);
    return stmt;
  }

  #prepareArrays(sql: string): SqliteArrayStatement {
    const stmt = this.#db.prepareArrays(sql);
    this.#statements.push(stmt);
    return stmt;
  }

  /** Throws `CorruptStoreError` naming `key` when its value does not match its checksum. */
  #check(key: string, value: Uint8Array, crc: SqlValue): void {
    if (crc === null || checksum(key, value) === Number(crc)) return;
    throw new CorruptStoreError(
      `stored value (${value.length} bytes) does not match its checksum`,
      { ...this.#where, key },
    );
  }

  /** The stored row of `key` regardless of expiry. */
  #row(key: string): Entry | undefined {
    const row = this.#get.get(key);
    if (row === undefined) return undefined;
    const value = row[0] as Uint8Array;
    this.#check(key, value, row[2]);
    return { value, expiresAt: toExpiry(row[1]), version: Number(row[3]) };
  }

  /**
   * Writes `key`, inside the open write transaction, with version `max(version, previous + 1)`
   * (`previous`: the version of the row it replaces; a new row gets at least 1).
   */
  #set(key: string, value: Uint8Array, expiresAt: number | null, version = 1): void {
    this.#put.run(key, value, expiresAt, checksum(key, value), version > 1 ? version : 1);
    this.#written += key.length + value.length + ROW_OVERHEAD;
  }

  /** Applies `ops` in order inside the open write transaction. */
  #write(ops: readonly WriteOp[]): void {
    for (const op of ops) {
      if (op.value === undefined) this.#del.get(op.key);
      else this.#set(op.key, op.value, op.expiresAt ?? null, op.version);
    }
  }

  #readDataVersion(): number {
    return Number(Object.values(this.#dataVersion.get() ?? {})[0]);
  }

  /** The live entry of `key`; an expired row is purged in the background. */
  #live(key: string, now: number): Entry | undefined {
    const e = this.#row(key);
    if (e === undefined || e.expiresAt === null || now < e.expiresAt) return e;
    this.#queue.write(() => this.#purge.run(key, now)).catch(() => {});
    return undefined;
  }

  settings(): SqliteSettings {
    this.check("settings");
    const pragma = (name: string) => Object.values(this.#cached(`PRAGMA ${name}`).get() ?? {})[0];
    return {
      journalMode: String(pragma("journal_mode")),
      durability: DURABILITY_OF_LEVEL[Number(pragma("synchronous"))],
      busyTimeout: Number(pragma("busy_timeout")),
      pageSize: Number(pragma("page_size")),
    };
  }

  getEntry(key: string): Promise<Entry | undefined> {
    if (--this.#readsToCheck <= 0) this.#remapIfGrown();
    return this.#queue.read(() => this.#live(key, this.now()));
  }

  /**
   * SQLite maps the file as large as it was when this connection last mapped it: again only
   * when the connection itself grows the file or sees another connection's commit. Pages the
   * checkpoint worker's connection then copies in past that end are read with pread(2) while
   * nothing is written: after a bulk load, 2 us more a W2 read on Deno with 4 shards (8.2
   * against 6.2 us of CPU, until the store was reopened). So every REMAP_CHECK_READS reads
   * the file's size is looked at, and a grown file is mapped again (at most every
   * REMAP_EVERY_MS: each remap faults the touched pages in anew).
   */
  #remapIfGrown(): void {
    this.#readsToCheck = REMAP_CHECK_READS;
    if (this.#inWrite || Date.now() - this.#remappedAt < REMAP_EVERY_MS) return;
    const size = this.#fileSize();
    if (size <= this.#mappedBytes) return;
    try {
      // A changed limit unmaps the file; the next read maps it at its present size.
      this.#db.exec(`PRAGMA mmap_size = 0; PRAGMA mmap_size = ${MMAP_SIZE}`);
    } catch {
      return; // Reads go on with the old map (pread past its end), as before.
    }
    this.#mappedBytes = size;
    this.#remappedAt = Date.now();
  }

  #fileSize(): number {
    try {
      return statSync(this.#where.path).size;
    } catch {
      return 0;
    }
  }

  getEntries(keys: readonly string[]): Promise<Map<string, Entry>> {
    if ((this.#readsToCheck -= keys.length) <= 0) this.#remapIfGrown();
    // Several keys come from one snapshot even while other processes commit: the queue runs
    // the read inside a transaction (its group's, the turn's reads', or one of its own).
    return this.#queue.read(() => {
      const now = this.now();
      const out = new Map<string, Entry>();
      for (const key of keys) {
        const e = this.#live(key, now);
        if (e !== undefined) out.set(key, e);
      }
      return out;
    }, { snapshot: keys.length > 1 });
  }

  apply(ops: readonly WriteOp[], checks?: Checks): Promise<boolean> {
    this.check("write");
    return this.#queue.write(() => {
      // Inside the write transaction (BEGIN IMMEDIATE holds the file's write lock), so no other
      // process can change a checked key between this check and the writes.
      if (checks !== undefined) {
        const now = this.now();
        for (const [key, expected] of checks) {
          if (!matches(liveAt(this.#row(key), now), expected)) return false;
        }
      }
      this.#write(ops);
      return true;
    });
  }

  protected update<R>(key: string, fn: (current: Entry | undefined) => Update<R>): Promise<R> {
    return this.#queue.write(() => {
      const { next, result } = fn(liveAt(this.#row(key), this.now()));
      if (next === null) this.#del.get(key);
      else if (next !== undefined) this.#set(key, next.value, next.expiresAt, next.version);
      return result;
    });
  }

  remove(keys: readonly string[]): Promise<number> {
    return this.#queue.write(() => {
      const now = this.now();
      let live = 0;
      for (const key of keys) {
        const row = this.#del.get(key);
        if (row == null) continue;
        const expiresAt = toExpiry(row.expires_at);
        if (expiresAt === null || now < expiresAt) live++;
      }
      return live;
    });
  }

  range(q: RangeQuery): Promise<RangeResult> {
    return this.#queue.read(() => {
      const params: SqlValue[] = [];
      let where = "(expires_at IS NULL OR expires_at > ?)";
      params.push(this.now());
      if (q.lo !== undefined) {
        where += q.loExclusive ? " AND key > ?" : " AND key >= ?";
        params.push(q.lo);
      }
      if (q.hi !== undefined) {
        where += " AND key < ?";
        params.push(q.hi);
      }
      params.push(q.limit === Infinity ? -1 : q.limit);
      // Rows are [key, value, crc, expires_at], as many of them as the query asks for.
      const sql = `SELECT ${this.#keyColumn}${
        q.keysOnly ? "" : q.withExpiry ? `, value, crc, ${EXPIRES_AT}` : ", value, crc"
      } FROM kv WHERE ${where} ORDER BY kv.key${q.reverse ? " DESC" : ""} LIMIT ?`;
      let stmt = this.#scans.get(sql);
      if (stmt === undefined) this.#scans.set(sql, stmt = this.#prepareArrays(sql));
      const rows = stmt.all(...params);
      const keys = new Array<string>(rows.length);
      const values: Uint8Array[] = q.keysOnly ? [] : new Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        const key = row[0] as string | Uint8Array;
        keys[i] = typeof key === "string" ? key : utf8.decode(key);
        if (!q.keysOnly) {
          values[i] = row[1] as Uint8Array;
          this.#check(keys[i], values[i], row[2]);
        }
      }
      if (q.keysOnly || !q.withExpiry) return { keys, values };
      return { keys, values, expiresAt: rows.map((row) => toExpiry(row[3])) };
    });
  }

  changes(): Promise<number> {
    return this.#queue.read(() => {
      const version = this.#readDataVersion();
      if (version !== this.#lastDataVersion) {
        this.#lastDataVersion = version;
        this.#changes++;
      }
      return this.#changes;
    });
  }

  async begin(keys: readonly string[]): Promise<ShardTxn> {
    this.check("write");
    // Commits what is queued, then BEGIN IMMEDIATE (polling another process's lock like
    // group commits do); later queued writes wait until the transaction ends.
    await this.#queue.exclusive();
    const entries = new Map<string, Entry>();
    try {
      const now = this.now();
      for (const key of keys) {
        const e = liveAt(this.#row(key), now);
        if (e !== undefined) entries.set(key, e);
      }
    } catch (e) {
      this.#tx.rollback();
      this.#queue.end();
      throw this.#mapError(e);
    }
    let open = true;
    const end = (how: "commit" | "release", run: () => void): Promise<void> => {
      if (!open) return Promise.reject(new Error(`${how}() after the transaction ended`));
      open = false;
      try {
        run();
        return Promise.resolve();
      } catch (e) {
        this.#tx.rollback();
        return Promise.reject(this.#mapError(e));
      } finally {
        this.#queue.end();
      }
    };
    return {
      entries,
      // Written and committed in one synchronous call: no other job of this connection runs
      // while the transaction holds uncommitted writes.
      commit: (ops) =>
        end("commit", () => {
          this.#write(ops);
          this.#tx.commit();
        }),
      release: () => end("release", () => this.#tx.rollback()),
    };
  }

  sweep(max: number): Promise<number> {
    this.check("sweep");
    return this.#queue.write(() => Number(this.#sweep.run(this.now(), max).changes));
  }

  protected async closeBackend(): Promise<void> {
    this.#queue.flush({ wait: true });
    // The checkpoint connection goes first, so this last one checkpoints and removes the WAL.
    await this.#checkpoints.close();
    for (const stmt of this.#statements) stmt.finalize?.();
    this.#db.close();
  }
}

const utf8 = new TextDecoder();

/** `e` when it is live at `now`, else `undefined`. */
function liveAt(e: Entry | undefined, now: number): Entry | undefined {
  return e === undefined || e.expiresAt === null || now < e.expiresAt ? e : undefined;
}

function toExpiry(v: SqlValue): number | null {
  return v === null ? null : Number(v);
}
