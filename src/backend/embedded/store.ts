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
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { BOUNDED_CHECK_MS, EMBEDDED_POLL_MS, STORE_FULL_CHECK_BYTES } from "../../config.ts";
import { GdpError } from "../../core/errors.ts";
import { checkLogname, internalName, isInternalName } from "../../core/names.ts";
import type { RecordTemplate } from "../../wire/events.ts";
import type { BackendMetricName } from "../../ops/metrics.ts";
import { LogThrottle } from "../../ops/throttle.ts";
import { type EventStatements, prepareEvents, readEvents } from "./event_sql.ts";
import { prepareTimes, seekStored, type TimeStatements } from "./time_sql.ts";
import { identify, migrate, type Migration, SCHEMA_VERSION, type StoreIdentity } from "./schema.ts";
import { checkStoreFile, isCorruption, quickCheck, startCheck, StoreRefused } from "./integrity.ts";
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
  /** Check the store at start (default true; the CLI's one-shot commands skip it). */
  check?: boolean;
  /** Up to this file size the start-up check reads every page (default {@linkcode STORE_FULL_CHECK_BYTES}). */
  fullCheckBytes?: number;
}

export { StoreRefused };

const log = getLogger(["gdp-ws", "embedded"]);

/** Records delivered to one follower per turn while it catches up. */
const CATCH_UP_CHUNK = 128;

/** The database file inside the data folder. */
export const DB_FILE = "gdp-ws.sqlite";

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
  onError: (error: GdpError) => void;
}

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

/**
 * The store at `path` as a connection ready to serve: made when missing,
 * refused when it is not a gdp-ws store, newer than this code, or damaged,
 * upgraded in place when older.
 */
function openStore(path: string, check: boolean, fullCheckBytes: number): DatabaseSync {
  if (checkStoreFile(path) === "missing") createStore(path);
  const db = new DatabaseSync(path);
  try {
    // Waiting for a lock while opening is fine: nothing is served yet.
    db.exec("PRAGMA busy_timeout=10000");
    const found = ours(path, identify(db));
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    if (check) checkAtStart(db, path, fullCheckBytes);
    const mb = mib(statSync(path).size);
    migrate(db, found, (step) => reportStep(step, mb));
    // From here on SQLite must never wait inside the event loop: a lock held by
    // another process (the CLI) fails at once and the append retries on a timer.
    db.exec("PRAGMA busy_timeout=0");
    return db;
  } catch (error) {
    db.close();
    throw isCorruption(error) ? damaged(path, [(error as Error).message]) : error;
  }
}

/** `found` when it is a gdp-ws store this code can read; else a {@linkcode StoreRefused}. */
function ours(path: string, found: StoreIdentity): StoreIdentity & { kind: "store" } {
  if (found.kind !== "store") {
    const why = found.kind === "empty" ? "it has no tables" : found.why;
    throw new StoreRefused(
      `${path} is an SQLite database but not a gdp-ws store (${why}): ` +
        "point --data at another folder, or move the file away to start an empty store",
    );
  }
  if (found.version > SCHEMA_VERSION) {
    throw new StoreRefused(
      `the store ${path} has schema version ${found.version}, newer than this gdp-ws, which ` +
        `knows versions up to ${SCHEMA_VERSION}: run the newer gdp-ws that wrote it, ` +
        "or restore the backup taken before it did",
    );
  }
  return found;
}

/**
 * Makes a new store: written under a temporary name and linked into place
 * once its schema is complete, so a store file that exists always has one.
 * When another process made one meanwhile, theirs stays.
 */
function createStore(path: string): void {
  const temp = `${path}.new-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const db = new DatabaseSync(temp);
    try {
      migrate(db, { kind: "empty", version: 0 }, () => {});
    } finally {
      db.close();
    }
    if (!putInPlace(temp, path)) return;
    log.info("Created a new store at {path} (schema version {version})", {
      path,
      version: SCHEMA_VERSION,
    });
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Links `temp` to `path` unless `path` exists; false when another process's store is there. */
function putInPlace(temp: string, path: string): boolean {
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST" || existsSync(path)) return false;
    // A filesystem without hard links: a rename, which could replace another
    // process's new store only if two first starts race.
    renameSync(temp, path);
    return true;
  }
}

function damaged(path: string, problems: string[]): StoreRefused {
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  return new StoreRefused(
    `the store ${path} is damaged: ${problems[0]}${more}; restore it from a backup, or see ` +
      '"When the store is damaged" in docs/embedded.md',
  );
}

/** The start-up integrity check, bounded on large stores; logs what it read. */
function checkAtStart(db: DatabaseSync, path: string, fullCheckBytes: number): void {
  const bytes = statSync(path).size;
  const result = startCheck(db, { bytes, fullCheckBytes, budgetMs: BOUNDED_CHECK_MS });
  if (result.problems.length > 0) throw damaged(path, result.problems);
  if (result.kind === "full") {
    // Debug: a whole store is the usual case; a partial check and damage are what to see.
    log.debug("Store checked: quick_check of {mb} MB in {ms} ms", {
      mb: mib(bytes),
      ms: result.ms,
    });
  } else {
    log.info(
      "Store checked in part ({mb} MB is above the {limit} MB of a full check at start): the " +
        "logs table and the last records of {checked} of {logs} logs in {ms} ms; " +
        "gdp-ws check reads every page",
      {
        mb: mib(bytes),
        limit: mib(fullCheckBytes),
        checked: result.logsChecked,
        logs: result.logs,
        ms: result.ms,
      },
    );
  }
}

/** Bytes as MiB with one decimal. */
const mib = (bytes: number) => Math.round(bytes / 2 ** 20 * 10) / 10;

function reportStep(
  { step, from, ms }: { step: Migration; from: number; ms?: number },
  mb: number,
): void {
  if (ms === undefined) {
    log.info(
      "Upgrading the store ({mb} MB) from version {from} to {to}: {what}; this reads every " +
        "record, and nothing is served until it is done",
      { mb, from, to: step.to, what: step.what },
    );
  } else {
    log.info("Upgraded the store from version {from} to {to} in {ms} ms", {
      from,
      to: step.to,
      ms,
    });
  }
}

/**
 * `PRAGMA integrity_check` of the store in `dataDir`, every page and index
 * entry (what `gdp-ws check` runs; it may run beside a serving gateway).
 * The problems found, none when it is whole.
 */
export function checkEmbedded(dataDir: string): string[] {
  const path = join(dataDir, DB_FILE);
  if (checkStoreFile(path) === "missing") throw new StoreRefused(`there is no store at ${path}`);
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout=10000; PRAGMA query_only=1");
    ours(path, identify(db));
    return quickCheck(db, "", "integrity_check");
  } catch (error) {
    if (isCorruption(error)) return [(error as Error).message];
    throw error;
  } finally {
    db.close();
  }
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
  readonly #timeSql: TimeStatements;
  readonly #followers = new Map<number, Set<Follower>>();
  readonly #lagging = new Set<Follower>();
  readonly #path: string;
  readonly #counts = { commits: 0, appends: 0, corruptErrors: 0 };
  /** What SQLite said when it first found the store damaged; then appends are refused. */
  #damage: string | undefined;
  readonly #damageLog = new LogThrottle(10_000);
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

  constructor(db: DatabaseSync, path: string, pollMs: number, lockWaitMs: number) {
    this.#db = db;
    this.#path = path;
    this.#sql = prepare(this.#db);
    this.#eventSql = prepareEvents(this.#db);
    this.#timeSql = prepareTimes(this.#db);
    this.#pollMs = pollMs;
    this.#lockWaitMs = lockWaitMs;
  }

  open(logname: string): Promise<LogHandle> {
    return this.#answer("opening a log", () => {
      const row = this.#resolve(logname);
      if (!row) throw GdpError.noRoute();
      return new EmbeddedLog(this, row);
    });
  }

  info(logname: string): Promise<LogInfo> {
    return this.#answer("reading a log's info", () => {
      const row = this.#resolve(logname);
      if (!row) throw GdpError.noRoute();
      return this.#info(row);
    });
  }

  /** Logs in label order, a page at a time (all of them without `page`). */
  list(page?: ListPage): Promise<LogInfo[]> {
    return this.#answer("listing logs", () => {
      const rows = (page
        ? this.#sql.listPage.all(page.after ?? "", page.limit)
        : this.#sql.listLogs.all()) as unknown as LogRow[];
      return rows.map((row) =>
        this.#info(row)
      );
    });
  }

  async create(logname: string): Promise<LogInfo> {
    checkLogname(logname, Number.MAX_SAFE_INTEGER);
    const internal = isInternalName(logname);
    const name = internal ? logname : internalName(logname);
    const started = performance.now();
    for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
      try {
        this.#refuseWritesIfDamaged();
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
   * Transactions committed and records appended by this process, and the
   * errors in which SQLite found the store damaged.
   */
  counters(): { commits: number; appends: number; corruptErrors: number } {
    return { ...this.#counts };
  }

  metrics(): Partial<Record<BackendMetricName, number>> {
    return { gdpws_store_corrupt_errors_total: this.#counts.corruptErrors };
  }

  state(): BackendState {
    if (this.#closed) return { ready: false, state: "closed" };
    if (this.#damage !== undefined) {
      return {
        ready: false,
        state: "corrupt",
        detail: `${this.#path} is damaged (${this.#damage}); appends are refused`,
      };
    }
    return { ready: true, state: "ok" };
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

  /** Where records from `ts` on start in the log with row id `logId` (see time_sql.ts). */
  seekTime(logId: number, ts: Timestamp, last: number): number {
    return this.#read("finding a time", () => seekStored(this.#timeSql, logId, ts, last));
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
    options: { joined: boolean; budget: number; separator?: string },
  ): EncodedRecords | undefined {
    return this.#read(
      "reading records",
      () => readEvents(this.#eventSql, { logId, from, count, template, ...options }),
    );
  }

  /**
   * Queues an append to the log with row id `logId`; every append queued in
   * this turn commits in one transaction.
   */
  appendTo(logId: number, data: Uint8Array): Promise<LogRecord> {
    if (this.#closed) return Promise.reject(GdpError.of(503, "the store is closed"));
    if (this.#damage !== undefined) return Promise.reject(this.#writesRefused());
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
    const follower: Follower = { logId, next: Math.max(1, from), onRecord, onError };
    let set = this.#followers.get(logId);
    if (!set) this.#followers.set(logId, set = new Set());
    set.add(follower);
    this.#startPolling();
    this.#catchUp(follower);
    return () => this.#unfollow(follower);
  }

  #unfollow(f: Follower): void {
    const set = this.#followers.get(f.logId);
    if (!set?.delete(f)) return;
    if (set.size === 0) this.#followers.delete(f.logId);
    if (this.#followers.size === 0) this.#stopPolling();
  }

  /** `read()` as a promise; SQLite finding the store damaged is noted on the way. */
  #answer<T>(doing: string, read: () => T): Promise<T> {
    try {
      return Promise.resolve(this.#read(doing, read));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Runs `read`; an error of SQLite's becomes a {@linkcode GdpError}, a damaged store is noted. */
  #read<T>(doing: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw this.#failure(error, doing);
    }
  }

  /**
   * `error` as the client should see it. When it says the store is damaged,
   * it is counted and logged (once per 10 s per cause), and from then on the
   * store is not ready and refuses writes: a write into a damaged b-tree can
   * spread the damage, and the last recno it builds on may be what was lost.
   */
  #failure(error: unknown, doing: string): GdpError {
    if (!isCorruption(error)) return storeError(error);
    const reason = error instanceof Error ? error.message : String(error);
    this.#counts.corruptErrors++;
    this.#damage ??= reason;
    const suppressed = this.#damageLog.due(`${doing}: ${reason}`);
    if (suppressed !== undefined) {
      log.error(
        "The store {path} is damaged: {reason} while {doing}; /readyz answers 503 and appends " +
          "are refused until it is restored ({suppressed} more not logged)",
        { path: this.#path, reason, doing, suppressed },
      );
    }
    return GdpError.of(500, `the store is damaged: ${reason}`, { cause: error });
  }

  #refuseWritesIfDamaged(): void {
    if (this.#damage !== undefined) throw this.#writesRefused();
  }

  #writesRefused(): GdpError {
    return GdpError.of(
      503,
      `the store is damaged (${this.#damage}); writes are refused until it is restored`,
    );
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
      const failure = this.#failure(error, "appending");
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
    this.#refuseWritesIfDamaged();
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
    let records: LogRecord[];
    try {
      records = this.readRange(f.logId, f.next, CATCH_UP_CHUNK);
    } catch (error) {
      // Run from timers too, where a throw would end the process: the follower is told.
      this.#unfollow(f);
      f.onError(GdpError.from(error));
      return;
    }
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
    let version: number;
    try {
      version = this.#readDataVersion();
    } catch (error) {
      this.#failure(error, "polling for other writers");
      return;
    }
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
    options: { joined: boolean; budget: number; separator?: string },
  ): EncodedRecords | undefined {
    return this.#store.readEvents(this.#id, from, count, template, options);
  }

  seek(ts: Timestamp, last: number): Promise<number> {
    try {
      return Promise.resolve(this.#store.seekTime(this.#id, ts, last));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  follow(
    from: number,
    onRecord: (record: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow {
    return this.#store.addFollower(this.#id, from, onRecord, onError);
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
