/**
 * The embedded store's answer to "where do records from time T start"
 * (`LogHandle.seek`): one seek in the `records_by_time` index (schema
 * version 2) for the earliest-stamped record at or after T, and one look at
 * the record before it. When that one is stamped before T, the record found
 * is a boundary, and along a log whose timestamps never decrease it is the
 * first record at or after T. When it is not (a clock stepped back right
 * there), bisection over recnos below it finds a boundary. Either way a
 * bounded number of b-tree seeks, whatever the log's length.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { migrate } from "./schema.ts";
 *
 * const db = new DatabaseSync(":memory:");
 * migrate(db, { version: 0, kind: "empty" }, () => {});
 * const sql = prepareTimes(db);
 * seekStored(sql, 1, { sec: 1796622594, nsec: 0, accuracy: 0 }, 0); // 1: an empty log
 * ```
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Timestamp } from "../../core/records.ts";
import { compareTs } from "../../core/time.ts";
import { bisectSync } from "../time_search.ts";

/** The statements {@linkcode seekStored} runs. */
export interface TimeStatements {
  /** The earliest-stamped record of log ?1 at or after (?2, ?3); the lowest recno among equals. */
  first: StatementSync;
  /** The timestamp of record ?2 of log ?1. */
  stamp: StatementSync;
}

/** Prepares {@linkcode TimeStatements} on a store of schema version 2 or later. */
export function prepareTimes(db: DatabaseSync): TimeStatements {
  return {
    // INDEXED BY: the plan must be the index seek whatever the statistics say,
    // or a big log would be scanned. Its entries end with the primary key, so
    // the order by recno costs no sort.
    first: db.prepare(
      "SELECT recno FROM records INDEXED BY records_by_time " +
        "WHERE log = ?1 AND (ts_sec, ts_nsec) >= (?2, ?3) ORDER BY ts_sec, ts_nsec, recno LIMIT 1",
    ),
    stamp: db.prepare("SELECT ts_sec, ts_nsec FROM records WHERE log = ? AND recno = ?"),
  };
}

interface StampRow {
  ts_sec: number;
  ts_nsec: number;
}

/** A boundary for `ts` among records 1 to `last` of the log with row id `logId` (see the module docs). */
export function seekStored(
  sql: TimeStatements,
  logId: number,
  ts: Timestamp,
  last: number,
): number {
  const before = (recno: number): boolean => {
    const row = sql.stamp.get(logId, recno) as StampRow | undefined;
    return row !== undefined && compareTs({ sec: row.ts_sec, nsec: row.ts_nsec }, ts) < 0;
  };
  const found = sql.first.get(logId, ts.sec, ts.nsec) as { recno: number } | undefined;
  // Past the caller's end (or no record at all at or after ts): the end is the candidate.
  const candidate = Math.min(found?.recno ?? Infinity, last + 1);
  if (candidate === 1 || before(candidate - 1)) return candidate;
  // Record candidate - 1 is at or after ts: a boundary lies at or below it.
  return bisectSync(1, candidate - 1, before);
}
