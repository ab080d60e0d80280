/**
 * The embedded store's schema and its versions: `PRAGMA user_version` names
 * the schema a `gdp-ws.sqlite` has, and {@linkcode MIGRATIONS} are the ordered
 * steps from one version to the next. A store is upgraded in place at open,
 * each step once, inside its own transaction. `PRAGMA application_id` marks
 * the file as a gdp-ws store, so a foreign SQLite file is refused rather than
 * taken for a newer store.
 *
 * A released step is never edited: a store written by it exists somewhere.
 * A schema change is a new step at the end.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 *
 * const db = new DatabaseSync(":memory:");
 * const steps = migrate(db, { version: 0, kind: "empty" }, () => {});
 * console.log(steps.map((s) => `${s.from}->${s.to}`)); // ["0->1", "1->2"]
 * ```
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 2;

/** `PRAGMA application_id` of a gdp-ws store: "gdpw" in ASCII. */
export const APPLICATION_ID = 0x67647077;

/** Version 1, as the first release wrote it (user_version 0, application_id 0). */
export const V1_SQL = `
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

/** One step of the schema, from `to - 1` to `to`. */
export interface Migration {
  to: number;
  /** What it does, for the log line before a step that takes a while. */
  what: string;
  /** Whether it reads every record (its time grows with the store). */
  slow: boolean;
  sql: string;
}

/** Every step, in order; `MIGRATIONS[i].to === i + 1`. */
export const MIGRATIONS: readonly Migration[] = [
  { to: 1, what: "creating the logs and records tables", slow: false, sql: V1_SQL },
  {
    to: 2,
    what: "indexing every record by its timestamp (for reads from a point in time)",
    slow: true,
    // (log, ts_sec, ts_nsec): a WITHOUT ROWID table's index carries the primary
    // key, so each entry is (log, ts_sec, ts_nsec, recno) and "the first record
    // of log L at or after T" is one seek that never touches the table.
    sql: "CREATE INDEX records_by_time ON records (log, ts_sec, ts_nsec)",
  },
];

/** The columns each table of version 1 has, to tell a first-release store from a foreign file. */
const V1_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  logs: ["id", "name", "human", "created_sec"],
  records: ["log", "recno", "ts_sec", "ts_nsec", "ts_accuracy", "data"],
};

/** What an existing SQLite database is, as far as gdp-ws is concerned. */
export type StoreIdentity =
  /** A gdp-ws store at `version` (1 for a first-release store, which has no marks). */
  | { kind: "store"; version: number }
  /** No tables at all: a database made by SQLite and nothing else. */
  | { kind: "empty"; version: 0 }
  /** Something else: `why` says what. */
  | { kind: "foreign"; why: string };

/** Reads the marks and tables of `db` and says whose it is. */
export function identify(db: DatabaseSync): StoreIdentity {
  const applicationId = pragmaNumber(db, "application_id");
  const version = pragmaNumber(db, "user_version");
  if (applicationId === APPLICATION_ID) {
    return version >= 1
      ? { kind: "store", version }
      : { kind: "foreign", why: `it has gdp-ws's application_id but user_version ${version}` };
  }
  if (applicationId !== 0) {
    return {
      kind: "foreign",
      why: `its application_id is 0x${applicationId.toString(16)}, not gdp-ws's`,
    };
  }
  const tables = db.prepare(
    "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
  ).all() as { name: string }[];
  if (tables.length === 0 && version === 0) return { kind: "empty", version: 0 };
  if (version !== 0) return { kind: "foreign", why: `it has user_version ${version} and no mark` };
  for (const [table, columns] of Object.entries(V1_COLUMNS)) {
    const found = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[])
      .map((column) => column.name);
    if (found.join() !== columns.join()) {
      const names = tables.map((t) => t.name).join(", ");
      return { kind: "foreign", why: `its tables (${names}) are not gdp-ws's` };
    }
  }
  return { kind: "store", version: 1 };
}

/** A step that ran: from and to which version, and how long it took. */
export interface StepRun {
  from: number;
  to: number;
  ms: number;
}

/** Told before a slow step starts and after each step ends. */
export type MigrationReport = (event: { step: Migration; from: number; ms?: number }) => void;

/**
 * Brings `db` from `found`'s version to {@linkcode SCHEMA_VERSION}, one step
 * per transaction. Each step re-reads the version inside its transaction, so
 * two processes opening the same old store run each step once between them.
 * Returns the steps this call ran.
 */
export function migrate(
  db: DatabaseSync,
  found: { version: number; kind: "store" | "empty" },
  report: MigrationReport,
): StepRun[] {
  const ran: StepRun[] = [];
  for (const step of MIGRATIONS) {
    if (step.to <= found.version) continue;
    const from = step.to - 1;
    if (step.slow) report({ step, from });
    const started = performance.now();
    db.exec("BEGIN IMMEDIATE");
    try {
      // A first-release store has user_version 0 with version 1's tables.
      const now = Math.max(pragmaNumber(db, "user_version"), found.kind === "store" ? 1 : 0);
      if (now === from) {
        db.exec(step.sql);
        db.exec(`PRAGMA user_version = ${step.to}; PRAGMA application_id = ${APPLICATION_ID}`);
      }
      db.exec("COMMIT");
      if (now === from) {
        const ms = Math.round(performance.now() - started);
        ran.push({ from, to: step.to, ms });
        report({ step, from, ms });
      }
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }
  return ran;
}

/** The value of an integer pragma. */
export function pragmaNumber(db: DatabaseSync, name: string): number {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, number> | undefined;
  return row?.[name] ?? 0;
}
