/**
 * The embedded log store (the default backend): one SQLite database in the data
 * folder, through `node:sqlite`. WAL mode with `synchronous=FULL`, so an append
 * that has been acknowledged is on disk. Appends received in the same event-loop
 * iteration share one transaction and one fsync (group commit). Records appended by another process (the
 * CLI) are noticed by polling `PRAGMA data_version`.
 *
 * @example
 * ```ts
 * const store = openEmbedded({ dataDir: "./data" });
 * await store.create("edu.berkeley.demo.temp");
 * const log = await store.open("edu.berkeley.demo.temp");
 * await log.append(new TextEncoder().encode("21.5"));
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDED_POLL_MS } from "../../config.ts";
import { GdpError } from "../../core/errors.ts";
import { checkLogname, internalName, isInternalName } from "../../core/names.ts";
import type { RecordTemplate } from "../../wire/events.ts";
import { LogThrottle } from "../../ops/throttle.ts";
import { type EventStatements, prepareEvents, readEvents } from "./event_sql.ts";
import type {
  Backend,
  BackendState,
  EncodedRecords,
  ListPage,
  LogHandle,
  LogInfo,
  LogRecord,
  Timestamp,
  Unfollow,
} from "../backend.ts";

export interface EmbeddedOptions {
  /** Folder holding `gdp-ws.sqlite`; created when missing. */
  dataDir: string;
  /** How often to look for records written by other processes, in ms. */
  pollMs?: number;
  /** How long appends wait for another process's write lock before failing with 503, in ms. */
  lockWaitMs?: number;
}

const log = getLogger(["gdp-ws", "embedded"]);

/** Records delivered to one follower per turn while it catches up. */
const CATCH_UP_CHUNK = 128;

/** The database file inside the data folder. */
export const DB_FILE = "gdp-ws.sqlite";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS logs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,      -- internal name, 43 base64url characters
  human TEXT,                     -- human name, when created by one
  created_sec INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
  log INTEGER NOT NULL REFERENCES logs(id),
  recno INTEGER NOT NULL,
  ts_sec INTEGER NOT NULL,
  ts_nsec INTEGER NOT NULL,
  ts_accuracy REAL NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (log, recno)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logs_by_label ON logs (coalesce(human, name));`;

interface LogRow {
  id: number;
  name: string;
  human: string | null;
}

interface RecordRow {
  recno: number;
  ts_sec: number;
  ts_nsec: number;
  ts_accuracy: number;
  data: Uint8Array;
}

interface Follower {
  /** Row id of the followed log. */
  logId: number;
  next: number;
  onRecord: (record: LogRecord) => void;
}

interface PendingAppend {
  logId: number;
  data: Uint8Array;
  resolve: (record: LogRecord) => void;
  reject: (error: unknown) => void;
}

/** Opens (creating if needed) the store in `options.dataDir`. */
export function openEmbedded(options: EmbeddedOptions): EmbeddedBackend {
  mkdirSync(options.dataDir, { recursive: true });
  return new EmbeddedBackend(
    join(options.dataDir, DB_FILE),
    options.pollMs ?? EMBEDDED_POLL_MS,
    options.lockWaitMs ?? 10_000,
  );
}

/** The current time with the best resolution the runtime gives (microseconds). */
export function now(): Timestamp {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
  return { sec, nsec, accuracy: 0 };
}

export class EmbeddedBackend implements Backend {
  readonly kind = "embedded";
  readonly #db: DatabaseSync;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #eventSql: EventStatements;
  readonly #followers = new Map<number, Set<Follower>>();
  readonly #lagging = new Set<Follower>();
  readonly #counts = { commits: 0, appends: 0 };
  #pending: PendingAppend[] = [];
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #dataVersion = 0;
  readonly #pollMs: number;
  readonly #lockWaitMs: number;
  /** When appends first found another process holding the write lock (0: they did not). */
  #lockedSince = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** The next turn of lagging followers' catch-up; cleared on close. */
  #behindTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #failures = new LogThrottle(10_000);
  #closing = false;
  #closed = false;

  constructor(path: string, pollMs: number, lockWaitMs: number) {
    this.#db = new DatabaseSync(path);
    // Waiting for a lock while opening is fine: nothing is served yet.
    this.#db.exec("PRAGMA busy_timeout=10000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    this.#db.exec(SCHEMA);
    // From here on SQLite must never wait inside the event loop: a lock held by
    // another process (the CLI) fails at once and the append retries on a timer.
    this.#db.exec("PRAGMA busy_timeout=0");
    this.#sql = prepare(this.#db);
    this.#eventSql = prepareEvents(this.#db);
    this.#pollMs = pollMs;
    this.#lockWaitMs = lockWaitMs;
  }

  open(logname: string): Promise<LogHandle> {
    const row = this.#resolve(logname);
    if (!row) return Promise.reject(GdpError.noRoute());
    return Promise.resolve(new EmbeddedLog(this, row));
  }

  info(logname: string): Promise<LogInfo> {
    const row = this.#resolve(logname);
    return row ? Promise.resolve(this.#info(row)) : Promise.reject(GdpError.noRoute());
  }

  /** Logs in label order, a page at a time (all of them without `page`). */
  list(page?: ListPage): Promise<LogInfo[]> {
    const rows =
      (page
        ? this.#sql.listPage.all(page.after ?? "", page.limit)
        : this.#sql.listLogs.all()) as unknown as LogRow[];
    return Promise.resolve(rows.map((row) => this.#info(row)));
  }

  async create(logname: string): Promise<LogInfo> {
    checkLogname(logname, Number.MAX_SAFE_INTEGER);
    const internal = isInternalName(logname);
    const name = internal ? logname : internalName(logname);
    const started = performance.now();
    for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
      try {
        this.#sql.createLog.run(name, internal ? null : logname, Math.floor(Date.now() / 1000));
        return await this.info(name);
      } catch (error) {
        if (!isLocked(error) || performance.now() - started > this.#lockWaitMs) {
          throw storeError(error);
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Caps the database at `pages` pages, as a full disk would (for tests). */
  limitPages(pages: number): void {
    this.#db.exec(`PRAGMA max_page_count=${Math.floor(pages)}`);
  }

  /** Transactions committed and records appended by this process. */
  counters(): { commits: number; appends: number } {
    return { ...this.#counts };
  }

  state(): BackendState {
    return this.#closed ? { ready: false, state: "closed" } : { ready: true, state: "ok" };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#behindTimer);
    this.#lagging.clear();
    this.#flush();
    this.#closed = true;
    this.#followers.clear();
    this.#stopPolling();
    await Promise.resolve();
    this.#db.close();
  }

  /** The last recno of the log with row id `logId`, 0 when empty. */
  lastRecnoOf(logId: number): number {
    const row = this.#sql.last.get(logId) as { last: number | null } | undefined;
    return row?.last ?? 0;
  }

  /** Records `from` .. `from + count - 1` of the log with row id `logId`. */
  readRange(logId: number, from: number, count: number): LogRecord[] {
    const rows = this.#sql.range.all(logId, from, from + count - 1) as unknown as RecordRow[];
    return rows.map(toRecord);
  }

  /**
   * Records of the log with row id `logId` from `from` on, at most `count`,
   * as DATA events built by SQLite from `template` (see event_sql.ts).
   */
  readEvents(
    logId: number,
    from: number,
    count: number,
    template: RecordTemplate,
    options: { joined: boolean; budget: number },
  ): EncodedRecords | undefined {
    return readEvents(this.#eventSql, { logId, from, count, template, ...options });
  }

  /**
   * Queues an append to the log with row id `logId`; every append queued in
   * this turn commits in one transaction.
   */
  appendTo(logId: number, data: Uint8Array): Promise<LogRecord> {
    if (this.#closed) return Promise.reject(GdpError.of(503, "the store is closed"));
    return new Promise((resolve, reject) => {
      if (this.#pending.push({ logId, data, resolve, reject }) === 1 && this.#lockedSince === 0) {
        // setImmediate, not a microtask: frames and requests arrive one task each,
        // and it runs after the tasks already received, so they join this commit
        // (a zero-delay timer would too, but costs a timer tick of latency).
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Follows the log with row id `logId` from `from` on (see {@linkcode LogHandle.follow}). */
  addFollower(logId: number, from: number, onRecord: (r: LogRecord) => void): Unfollow {
    const follower: Follower = { logId, next: Math.max(1, from), onRecord };
    let set = this.#followers.get(logId);
    if (!set) this.#followers.set(logId, set = new Set());
    set.add(follower);
    this.#startPolling();
    this.#catchUp(follower);
    return () => {
      set.delete(follower);
      if (set.size === 0 && this.#followers.get(logId) === set) this.#followers.delete(logId);
      if (this.#followers.size === 0) this.#stopPolling();
    };
  }

  #resolve(logname: string): LogRow | undefined {
    if (isInternalName(logname)) {
      const row = this.#sql.byName.get(logname) as LogRow | undefined;
      if (row) return row;
    }
    return this.#sql.byName.get(internalName(logname)) as LogRow | undefined;
  }

  #info(row: LogRow): LogInfo {
    const info: LogInfo = { name: row.name, count: this.lastRecnoOf(row.id) };
    if (row.human !== null) info.human = row.human;
    if (info.count > 0) {
      info.first = toRecord(this.#sql.one.get(row.id, 1) as unknown as RecordRow).ts;
      info.last = toRecord(this.#sql.one.get(row.id, info.count) as unknown as RecordRow).ts;
    }
    return info;
  }

  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let records: LogRecord[];
    try {
      records = this.#commit(batch);
    } catch (error) {
      if (isLocked(error) && !this.#closing && this.#waitForLock(batch)) return;
      this.#lockedSince = 0;
      const failure = storeError(error);
      const suppressed = this.#failures.due(failure.message);
      if (suppressed !== undefined) {
        log.error("Appends failing: {reason} ({suppressed} more failures not logged)", {
          reason: failure.message,
          suppressed,
        });
      }
      for (const p of batch) p.reject(failure);
      return;
    }
    this.#lockedSince = 0;
    batch.forEach((p, i) => p.resolve(records[i]!));
    for (const [i, p] of batch.entries()) this.#notify(p.logId, records[i]!);
  }

  /**
   * Another process holds the write lock: puts `batch` back and retries on a
   * timer. False once the lock has been held longer than `lockWaitMs`.
   */
  #waitForLock(batch: PendingAppend[]): boolean {
    const now = performance.now();
    if (this.#lockedSince === 0) this.#lockedSince = now;
    const waited = now - this.#lockedSince;
    if (waited > this.#lockWaitMs) return false;
    this.#pending = batch.concat(this.#pending);
    const delay = Math.min(50, 1 + waited / 10);
    this.#retry = setTimeout(() => this.#flush(), delay);
    return true;
  }

  #commit(batch: PendingAppend[]): LogRecord[] {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const records = batch.map((p) => {
        const ts = now();
        const row = this.#sql.append.get(
          p.logId,
          ts.sec,
          ts.nsec,
          ts.accuracy,
          p.data,
          p.logId,
        ) as {
          recno: number;
        };
        return { recno: row.recno, ts, data: p.data };
      });
      this.#db.exec("COMMIT");
      this.#counts.commits++;
      this.#counts.appends += records.length;
      return records;
    } catch (error) {
      // SQLite has already rolled back after some errors (a full disk): a
      // second ROLLBACK would fail and hide the real cause.
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  #notify(logId: number, record: LogRecord): void {
    for (const f of this.#followers.get(logId) ?? []) {
      if (record.recno === f.next) {
        f.next++;
        f.onRecord(record);
      } else if (record.recno > f.next) {
        this.#catchUp(f);
      }
    }
  }

  /**
   * Delivers stored records from `f.next` on, one chunk per event-loop turn:
   * a burst written by another process must not stall every other client.
   */
  #catchUp(f: Follower): void {
    const set = this.#followers.get(f.logId);
    const records = this.readRange(f.logId, f.next, CATCH_UP_CHUNK);
    for (const record of records) {
      if (!set?.has(f)) return;
      f.next++;
      f.onRecord(record);
    }
    if (records.length === CATCH_UP_CHUNK) this.#behind(f);
  }

  /** Continues `f`'s catch-up on a later turn. */
  #behind(f: Follower): void {
    this.#lagging.add(f);
    if (this.#lagging.size > 1) return;
    this.#behindTimer = setTimeout(() => {
      this.#behindTimer = undefined;
      const lagging = [...this.#lagging];
      this.#lagging.clear();
      if (!this.#closed) { for (const follower of lagging) this.#catchUp(follower); }
    }, 0);
  }

  #startPolling(): void {
    if (this.#pollTimer !== undefined) return;
    this.#dataVersion = this.#readDataVersion();
    const timer = setInterval(() => this.#poll(), this.#pollMs);
    Deno.unrefTimer(timer);
    this.#pollTimer = timer;
  }

  #stopPolling(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /** Another process committed: deliver what it appended to every follower. */
  #poll(): void {
    const version = this.#readDataVersion();
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    for (const set of [...this.#followers.values()]) {
      for (const f of [...set]) this.#catchUp(f);
    }
  }

  #readDataVersion(): number {
    return (this.#sql.dataVersion.get() as { data_version: number }).data_version;
  }
}

/** A log of the embedded store; cheap, so every open gets its own. */
class EmbeddedLog implements LogHandle {
  readonly name: string;
  readonly #store: EmbeddedBackend;
  readonly #id: number;

  constructor(store: EmbeddedBackend, row: LogRow) {
    this.#store = store;
    this.#id = row.id;
    this.name = row.name;
  }

  last(): Promise<number> {
    return Promise.resolve(this.#store.lastRecnoOf(this.#id));
  }

  async *read(from: number, count: number): AsyncIterable<LogRecord> {
    yield* this.#store.readRange(this.#id, Math.max(1, from), count);
  }

  readEvents(
    from: number,
    count: number,
    template: RecordTemplate,
    options: { joined: boolean; budget: number },
  ): EncodedRecords | undefined {
    return this.#store.readEvents(this.#id, from, count, template, options);
  }

  follow(from: number, onRecord: (record: LogRecord) => void): Unfollow {
    return this.#store.addFollower(this.#id, from, onRecord);
  }

  append(data: Uint8Array): Promise<LogRecord> {
    return this.#store.appendTo(this.#id, data);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function prepare(db: DatabaseSync) {
  const q = (sql: string): StatementSync => db.prepare(sql);
  return {
    byName: q("SELECT id, name, human FROM logs WHERE name = ?"),
    listLogs: q("SELECT id, name, human FROM logs ORDER BY coalesce(human, name)"),
    listPage: q(
      "SELECT id, name, human FROM logs WHERE coalesce(human, name) > ? " +
        "ORDER BY coalesce(human, name) LIMIT ?",
    ),
    createLog: q(
      "INSERT INTO logs (name, human, created_sec) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    ),
    last: q("SELECT max(recno) AS last FROM records WHERE log = ?"),
    one: q(
      "SELECT recno, ts_sec, ts_nsec, ts_accuracy, data FROM records WHERE log = ? AND recno = ?",
    ),
    range: q(
      "SELECT recno, ts_sec, ts_nsec, ts_accuracy, data FROM records " +
        "WHERE log = ? AND recno BETWEEN ? AND ? ORDER BY recno",
    ),
    append: q(
      "INSERT INTO records (log, recno, ts_sec, ts_nsec, ts_accuracy, data) " +
        "SELECT ?, coalesce(max(recno), 0) + 1, ?, ?, ?, ? FROM records WHERE log = ? RETURNING recno",
    ),
    dataVersion: q("PRAGMA data_version"),
  };
}

/** SQLite could not take a lock another connection holds (SQLITE_BUSY). */
function isLocked(error: unknown): boolean {
  return error instanceof Error &&
    /database is locked|database table is locked/.test(error.message);
}

/** A store failure as the client should see it: a full disk says so (507). */
function storeError(error: unknown): GdpError {
  if (error instanceof GdpError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/database or disk is full|disk I\/O error/.test(message)) {
    return GdpError.of(507, `the store could not write: ${message}`, { cause: error });
  }
  if (isLocked(error)) {
    return GdpError.of(503, "the store is locked by another process; try again", { cause: error });
  }
  return GdpError.from(error);
}

function toRecord(row: RecordRow): LogRecord {
  return {
    recno: row.recno,
    ts: { sec: row.ts_sec, nsec: row.ts_nsec, accuracy: row.ts_accuracy },
    data: row.data,
  };
}
