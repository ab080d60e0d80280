/**
 * The embedded log store (the default backend): one SQLite database in the data
 * folder, through `node:sqlite`. WAL mode with `synchronous=FULL`, so an append
 * that has been acknowledged is on disk. Appends received in the same event-loop
 * iteration share one transaction and one fsync (group commit). Records appended by another process (the
 * CLI) are noticed by polling `PRAGMA data_version` (followers.ts).
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
import type { DatabaseSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDED_POLL_MS, LOG_ROWS_KEPT, STORE_FULL_CHECK_BYTES } from "../../config.ts";
import { GdpError } from "../../core/errors.ts";
import { checkLogname, internalName, isInternalName } from "../../core/names.ts";
import type { BackendMetricName } from "../../ops/metrics.ts";
import { LogThrottle } from "../../ops/throttle.ts";
import { prepareEvents } from "./event_sql.ts";
import { prepareTimes } from "./time_sql.ts";
import { isCorruption, StoreRefused } from "./integrity.ts";
import { checkEmbedded, DB_FILE, openStore } from "./open_store.ts";
import { Damage } from "./damage.ts";
import { EmbeddedLog, type LogsById, type StoreReads } from "./log_handle.ts";
import { LogRows } from "./log_rows.ts";
import { Followers } from "./followers.ts";
import {
  isLocked,
  type LogRow,
  now,
  prepare,
  type RecordRow,
  storeError,
  type StoreStatements,
  toRecord,
} from "./store_sql.ts";

import type {
  Backend,
  BackendState,
  ListPage,
  LogHandle,
  LogInfo,
  LogRecord,
  Unfollow,
} from "../backend.ts";

export interface EmbeddedOptions {
  /** Folder holding `gdp-ws.sqlite`; created when missing. */
  dataDir: string;
  /** How often to look for records written by other processes, in ms. */
  pollMs?: number;
  /** How long appends wait for another process's write lock before failing with 503, in ms. */
  lockWaitMs?: number;
  /** Check the store at start (default true; the CLI's one-shot commands skip it). */
  check?: boolean;
  /** Up to this file size the start-up check reads every page (default {@linkcode STORE_FULL_CHECK_BYTES}). */
  fullCheckBytes?: number;
}

export { checkEmbedded, DB_FILE, now, StoreRefused };

const log = getLogger(["gdp-ws", "embedded"]);

interface PendingAppend {
  logId: number;
  data: Uint8Array;
  resolve: (record: LogRecord) => void;
  reject: (error: unknown) => void;
}

/** Opens (creating if needed) the store in `options.dataDir`; throws {@linkcode StoreRefused}. */
export function openEmbedded(options: EmbeddedOptions): EmbeddedBackend {
  mkdirSync(options.dataDir, { recursive: true });
  const path = join(options.dataDir, DB_FILE);
  return new EmbeddedBackend(
    openStore(path, options.check ?? true, options.fullCheckBytes ?? STORE_FULL_CHECK_BYTES),
    path,
    options.pollMs ?? EMBEDDED_POLL_MS,
    options.lockWaitMs ?? 10_000,
  );
}

export class EmbeddedBackend implements Backend, LogsById {
  readonly kind = "embedded";
  readonly #db: DatabaseSync;
  readonly #sql: StoreStatements;
  readonly #reads: StoreReads;
  readonly #followers: Followers;
  readonly #counts = { commits: 0, appends: 0, nameLookups: 0 };
  readonly #damage: Damage;
  readonly #rows = new LogRows<LogRow>(LOG_ROWS_KEPT);
  #pending: PendingAppend[] = [];
  readonly #lockWaitMs: number;
  /** When appends first found another process holding the write lock (0: they did not). */
  #lockedSince = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  readonly #failures = new LogThrottle(10_000);
  #closing = false;
  #closed = false;

  constructor(db: DatabaseSync, path: string, pollMs: number, lockWaitMs: number) {
    this.#db = db;
    this.#damage = new Damage(path);
    this.#sql = prepare(this.#db);
    this.#reads = { events: prepareEvents(this.#db), times: prepareTimes(this.#db) };
    this.#followers = new Followers({
      read: (logId, from, count) => this.readRange(logId, from, count),
      dataVersion: () => (this.#sql.dataVersion.get() as { data_version: number }).data_version,
      pollMs,
      pollFailed: (error) => this.#failure(error, "polling for other writers"),
    });
    this.#lockWaitMs = lockWaitMs;
  }

  open(logname: string): Promise<LogHandle> {
    return this.#answer("opening a log", () => new EmbeddedLog(this, this.#resolve(logname)));
  }

  info(logname: string): Promise<LogInfo> {
    return this.#answer("reading a log's info", () => this.#info(this.#resolve(logname)));
  }

  /** Logs in label order, a page at a time (all of them without `page`). */
  list(page?: ListPage): Promise<LogInfo[]> {
    const all =
      () => (page
        ? this.#sql.listPage.all(page.after ?? "", page.limit)
        : this.#sql.listLogs.all());
    return this.#answer(
      "listing logs",
      () => (all() as unknown as LogRow[]).map((r) => this.#info(r)),
    );
  }

  async create(logname: string): Promise<LogInfo> {
    checkLogname(logname, Number.MAX_SAFE_INTEGER);
    const internal = isInternalName(logname);
    const name = internal ? logname : internalName(logname);
    const started = performance.now();
    for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
      try {
        this.#damage.refuseWrites();
        this.#sql.createLog.run(name, internal ? null : logname, Math.floor(Date.now() / 1000));
        return await this.info(name);
      } catch (error) {
        if (!isLocked(error) || performance.now() - started > this.#lockWaitMs) {
          throw this.#failure(error, "creating a log");
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Caps the database at `pages` pages, as a full disk would (for tests). */
  limitPages(pages: number): void {
    this.#db.exec(`PRAGMA max_page_count=${Math.floor(pages)}`);
  }

  /**
   * Transactions committed and records appended by this process, the errors in
   * which SQLite found the store damaged, and the times a log name was looked up.
   */
  counters(): { commits: number; appends: number; corruptErrors: number; nameLookups: number } {
    return { ...this.#counts, corruptErrors: this.#damage.count };
  }

  metrics(): Partial<Record<BackendMetricName, number>> {
    return { gdpws_store_corrupt_errors_total: this.#damage.count };
  }

  state(): BackendState {
    if (this.#closed) return { ready: false, state: "closed" };
    return this.#damage.state() ?? { ready: true, state: "ok" };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    clearTimeout(this.#retry);
    this.#flush();
    this.#closed = true;
    this.#followers.close();
    await Promise.resolve();
    this.#db.close();
  }

  /** The last recno of the log with row id `logId`, 0 when empty. */
  lastRecnoOf(logId: number): number {
    return this.#read("reading a log's last recno", () => {
      const row = this.#sql.last.get(logId) as { last: number | null } | undefined;
      return row?.last ?? 0;
    });
  }

  /** Records `from` .. `from + count - 1` of the log with row id `logId`. */
  readRange(logId: number, from: number, count: number): LogRecord[] {
    return this.#read("reading records", () => {
      const rows = this.#sql.range.all(logId, from, from + count - 1) as unknown as RecordRow[];
      return rows.map(toRecord);
    });
  }

  /** Runs `read` on the statements a log handle reads with; SQLite's errors as every read's. */
  reading<T>(doing: string, read: (sql: StoreReads) => T): T {
    return this.#read(doing, () => read(this.#reads));
  }

  /**
   * Queues an append to the log with row id `logId`; every append queued in
   * this turn commits in one transaction.
   */
  appendTo(logId: number, data: Uint8Array): Promise<LogRecord> {
    if (this.#closed) return Promise.reject(GdpError.of(503, "the store is closed"));
    try {
      this.#damage.refuseWrites();
    } catch (error) {
      return Promise.reject(error);
    }
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
  addFollower(
    logId: number,
    from: number,
    onRecord: (r: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow {
    return this.#followers.add(logId, from, onRecord, onError);
  }

  /** `#read` as a promise: a throw becomes a rejection. */
  #answer<T>(doing: string, read: () => T): Promise<T> {
    return new Promise((resolve) => resolve(this.#read(doing, read)));
  }

  /** Runs `read`; an error of SQLite's becomes a {@linkcode GdpError}, a damaged store is noted. */
  #read<T>(doing: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw this.#failure(error, doing);
    }
  }

  /** `error` as the client should see it; damage to the file is noted on the way (damage.ts). */
  #failure(error: unknown, doing: string): GdpError {
    return this.#damage.note(error, doing) ?? storeError(error);
  }

  /** The log's row (kept once found, log_rows.ts); 600 when there is none. */
  #resolve(logname: string): LogRow {
    const row = this.#rows.get(logname, (name) => this.#lookUp(name));
    if (!row) throw GdpError.noRoute();
    return row;
  }

  #lookUp(logname: string): LogRow | undefined {
    this.#counts.nameLookups++;
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
      const failure = this.#failure(error, "appending");
      // Damage has its own log line (damage.ts).
      const suppressed = isCorruption(error) ? undefined : this.#failures.due(failure.message);
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
    for (const [i, p] of batch.entries()) this.#followers.notify(p.logId, records[i]!);
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
    this.#damage.refuseWrites();
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
}
