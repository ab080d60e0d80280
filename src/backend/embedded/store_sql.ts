/**
 * The embedded store's statements and rows, and how its SQLite errors reach
 * a client: a full disk says so (507), another process's lock is a 503.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { V1_SQL } from "./schema.ts";
 *
 * const db = new DatabaseSync(":memory:");
 * db.exec(V1_SQL);
 * const sql = prepare(db);
 * console.log(sql.last.get(1)); // { last: null }
 * ```
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { GdpError } from "../../core/errors.ts";
import type { LogRecord, Timestamp } from "../backend.ts";

/** The statements the store runs, prepared on `db`. */
export type StoreStatements = ReturnType<typeof prepare>;

export interface LogRow {
  id: number;
  name: string;
  human: string | null;
}

export interface RecordRow {
  recno: number;
  ts_sec: number;
  ts_nsec: number;
  ts_accuracy: number;
  data: Uint8Array;
}

export function prepare(db: DatabaseSync) {
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
export function isLocked(error: unknown): boolean {
  return error instanceof Error &&
    /database is locked|database table is locked/.test(error.message);
}

/** A store failure as the client should see it: a full disk says so (507). */
export function storeError(error: unknown): GdpError {
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

export function toRecord(row: RecordRow): LogRecord {
  return {
    recno: row.recno,
    ts: { sec: row.ts_sec, nsec: row.ts_nsec, accuracy: row.ts_accuracy },
    data: row.data,
  };
}

/** The current time with the best resolution the runtime gives (microseconds). */
export function now(): Timestamp {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
  return { sec, nsec, accuracy: 0 };
}
