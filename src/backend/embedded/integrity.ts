/**
 * Is `gdp-ws.sqlite` whole, and is it ours? Checks made before a store is
 * opened (the file exists, is not empty, is SQLite), the check made at start
 * (`PRAGMA quick_check`, bounded on large stores) and the test that tells a
 * damaged store from any other SQLite error at run time.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 *
 * const db = new DatabaseSync(":memory:");
 * db.exec("CREATE TABLE logs (id INTEGER PRIMARY KEY); CREATE TABLE records (log, recno)");
 * const result = startCheck(db, { bytes: 8192, fullCheckBytes: 1 << 20, budgetMs: 1000 });
 * console.log(result.kind, result.problems); // "full" []
 * ```
 *
 * @module
 */

import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { DatabaseSync } from "node:sqlite";

/** A store gdp-ws will not open: the message says which file, why, and what to do. */
export class StoreRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreRefused";
  }
}

/** SQLite's primary result codes for a damaged file and for a file that is not a database. */
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** Whether `error` is SQLite finding the database damaged (SQLITE_CORRUPT, SQLITE_NOTADB). */
export function isCorruption(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  if (typeof errcode === "number") {
    const primary = errcode & 0xff;
    return primary === SQLITE_CORRUPT || primary === SQLITE_NOTADB;
  }
  // `exec` reports SQLite's message without the code.
  return code === "ERR_SQLITE_ERROR" &&
    /^(database disk image is malformed|file is not a database)/.test(error.message);
}

/** The first 16 bytes of every SQLite database file. */
const SQLITE_MAGIC = "SQLite format 3\0";

/**
 * Looks at the store file before SQLite opens it: `"missing"` when there is
 * none (a new store may be made), `"present"` when it starts as an SQLite
 * database does. Throws {@linkcode StoreRefused} for an empty file, a file
 * that is not SQLite, or a write-ahead log without its database: SQLite would
 * silently take each for a new store, and recnos would restart at 1.
 */
export function checkStoreFile(path: string): "missing" | "present" {
  const size = fileSize(path);
  if (size === undefined) {
    const wal = fileSize(`${path}-wal`) ?? 0;
    if (wal > 0) {
      throw new StoreRefused(
        `${path} is missing but its write-ahead log ${path}-wal (${wal} bytes) is there: ` +
          "restore the database file from a backup, or move the -wal file away to start an empty store",
      );
    }
    return "missing";
  }
  if (size === 0) {
    throw new StoreRefused(
      `the store ${path} is empty (0 bytes), which gdp-ws never writes: restore it from a backup, ` +
        "or delete it to start an empty store (recnos then restart at 1)",
    );
  }
  const head = new Uint8Array(16);
  const fd = openSync(path, "r");
  let read: number;
  try {
    read = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const magic = new TextDecoder("latin1").decode(head.subarray(0, read));
  if (magic !== SQLITE_MAGIC) {
    const hex = [...head.subarray(0, Math.min(read, 8))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    throw new StoreRefused(
      `the store ${path} is not an SQLite database (it starts with ${hex}, ${size} bytes): ` +
        "restore it from a backup, or point --data at another folder",
    );
  }
  return "present";
}

/** The size of the file at `path`, undefined when there is none. */
function fileSize(path: string): number | undefined {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new StoreRefused(`the store ${path} is not a regular file`);
    return stat.size;
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  }
}

/** How much of the store the start-up check reads. */
export interface CheckBound {
  /** The database file's size in bytes. */
  bytes: number;
  /** Up to this size, `PRAGMA quick_check` reads every page. */
  fullCheckBytes: number;
  /** Above it, how long the bounded check may spend on the logs' last records. */
  budgetMs: number;
}

/** What the start-up check did and found. */
export interface CheckResult {
  kind: "full" | "bounded";
  /** The problems SQLite reported; empty when none. */
  problems: string[];
  ms: number;
  /** For a bounded check: of how many logs the last record was read. */
  logsChecked?: number;
  logs?: number;
}

/** At most this many of quick_check's problems are kept: the first ones say enough. */
const MAX_PROBLEMS = 10;

/**
 * Checks the store at start. Up to `fullCheckBytes`, `PRAGMA quick_check`
 * over every page; above it, `quick_check` of the logs table and its indexes,
 * then the last record of each log (the pages appends go to and clients resume
 * from) until `budgetMs` is spent: the rest is found when read, or by
 * `gdp-ws check`. SQLite failing with SQLITE_CORRUPT counts as a problem.
 */
export function startCheck(db: DatabaseSync, bound: CheckBound): CheckResult {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const full = bound.bytes <= bound.fullCheckBytes;
  try {
    const problems = quickCheck(db, full ? "" : "logs");
    if (full || problems.length > 0) {
      return { kind: full ? "full" : "bounded", problems, ms: ms() };
    }
    const ids = db.prepare("SELECT id FROM logs ORDER BY id").all() as { id: number }[];
    const last = db.prepare(
      "SELECT recno, length(data) AS n, substr(data, -1) AS end FROM records " +
        "WHERE log = ? ORDER BY recno DESC LIMIT 1",
    );
    let checked = 0;
    for (const { id } of ids) {
      if (performance.now() - started > bound.budgetMs) break;
      last.get(id);
      checked++;
    }
    return { kind: "bounded", problems: [], ms: ms(), logsChecked: checked, logs: ids.length };
  } catch (error) {
    if (!isCorruption(error)) throw error;
    return { kind: full ? "full" : "bounded", problems: [(error as Error).message], ms: ms() };
  }
}

/**
 * `PRAGMA quick_check` over the whole database, or over one table and its
 * indexes; the problems it reports (none when it answers "ok").
 */
export function quickCheck(db: DatabaseSync, table = "", pragma = "quick_check"): string[] {
  const argument = table ? `(${table})` : `(${MAX_PROBLEMS})`;
  const rows = db.prepare(`PRAGMA ${pragma}${argument}`).all() as Record<string, string>[];
  const problems = rows.map((row) => String(Object.values(row)[0]));
  return problems.length === 1 && problems[0] === "ok" ? [] : problems.slice(0, MAX_PROBLEMS);
}
