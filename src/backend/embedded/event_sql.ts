/**
 * DATA events built by SQLite from stored records and a
 * {@linkcode RecordTemplate}: the embedded store's history fast path. A replay
 * skips making a record object, decoding its payload and encoding its event
 * per record; SQLite's `json_quote` escapes as `JSON.stringify` does.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { RecordTemplate } from "../../wire/events.ts";
import { isUtf8 } from "node:buffer";
import type { EncodedRecords, EventList, JoinedEvents } from "../backend.ts";

/** What to read: records `from` .. `from + count - 1` of the log with row id `logId`. */
export interface EventQuery {
  logId: number;
  from: number;
  count: number;
  template: RecordTemplate;
  /** All events in one stretch of UTF-8, separated by commas (or `separator`). */
  joined: boolean;
  /** What separates joined events: a comma (a batch frame), or another one character. */
  separator?: string;
  /** At most this many characters (bytes when joined), unless the first event alone is more. */
  budget: number;
}

/**
 * A DATA event from a record row and a {@linkcode RecordTemplate} (?1 to ?6).
 * A tv_accuracy other than 0 (JavaScript would print it otherwise) gives NULL.
 * One concat(), not a chain of ||: each || copies everything before it again
 * (a third of the query's time for 100-byte records).
 */
const EVENT_SQL = "CASE WHEN ts_accuracy = 0 THEN concat(?1, recno, ?2, " +
  "json_quote(CAST(data AS TEXT)), ?3, ts_sec, ?4, ts_nsec, ?5, '0.0', ?6) END";
/** The events of records ?8 to ?9 of log ?7, in recno order. */
const EVENTS = `(SELECT recno, ${EVENT_SQL} AS e FROM records ` +
  "WHERE log = ?7 AND recno BETWEEN ?8 AND ?9 ORDER BY recno)";

/** The statements {@linkcode readEvents} runs, prepared on `db`. */
export function prepareEvents(db: DatabaseSync): EventStatements {
  return {
    events: db.prepare(`SELECT recno, e FROM ${EVENTS}`),
    // The subquery is read in primary-key order (a co-routine): group_concat's
    // own ORDER BY would sort the rows again in a temporary b-tree. A BLOB:
    // the bytes go into a frame as they are, never through a JavaScript string.
    joined: db.prepare(
      "SELECT count(*) AS n, count(e) AS built, max(recno) AS last, " +
        `CAST(coalesce(group_concat(e, ?10), '') AS BLOB) AS events FROM ${EVENTS}`,
    ),
  };
}

export interface EventStatements {
  events: StatementSync;
  joined: StatementSync;
}

/**
 * The events `query` asks for. A joined read over the budget is cut in
 * proportion and read again. Undefined when one cannot be built there: data
 * that is not UTF-8 (SQLite passes it on: as U+FFFD in a string, as it is in
 * bytes), a tv_accuracy other than 0, or a record missing.
 */
export function readEvents(sql: EventStatements, query: EventQuery): EncodedRecords | undefined {
  const { logId, from, count, template, budget } = query;
  if (from < 1 || count < 1) return undefined;
  const { start, afterRecno, afterData, afterSec, afterNsec, end } = template;
  const args = [start, afterRecno, afterData, afterSec, afterNsec, end, logId, from];
  if (!query.joined) return eventList(sql.events.all(...args, from + count - 1), from, budget);
  for (let n = count;;) {
    const read = joinedEvents(sql.joined.get(...args, from + n - 1, query.separator ?? ","), from);
    const size = read ? read.utf8.length : 0;
    if (!read || size <= budget || read.count === 1) return read;
    // n events of about L characters join to n * (L + 1) - 1.
    n = Math.max(1, Math.floor(read.count * (budget + 1) / (size + 1)));
  }
}

interface EventRow {
  recno: number;
  e: string | null;
}

interface JoinedRow {
  n: number;
  built: number;
  last: number | null;
  events: Uint8Array;
}

/**
 * A joined read, if every row was built, they run from `from` without a gap,
 * and the bytes are UTF-8 (a text frame may hold nothing else).
 */
function joinedEvents(result: unknown, from: number): JoinedEvents | undefined {
  const row = result as JoinedRow;
  if (row.n === 0 || row.built !== row.n || row.last !== from + row.n - 1) return undefined;
  if (!isUtf8(row.events)) return undefined;
  return { utf8: row.events, count: row.n };
}

/**
 * The rows' events as far as `budget` characters go (at least one), if every
 * row was built and they run from `from` without a gap.
 */
function eventList(result: unknown, from: number, budget: number): EventList | undefined {
  const rows = result as EventRow[];
  const events: string[] = [];
  let size = 0;
  for (const { recno, e } of rows) {
    if (e === null || recno !== from + events.length || e.includes("\uFFFD")) return undefined;
    if ((size += e.length) > budget && events.length > 0) break;
    events.push(e);
  }
  return events.length > 0 ? { events, count: events.length } : undefined;
}
