/**
 * Where a GDP log ends, when nobody may be trusted to say. libgdp numbers an
 * append from its cached count of the log's records, which lags other
 * writers; gdplogd counts every append it answered OK, also one displaced by
 * another writer's record under the same number, so its count can run ahead
 * of the records (docs/libgdp.md, findings 8 and 15). Reads are the truth:
 * {@linkcode readPast} reads the records after a count until one is missing
 * (each read raises libgdp's cached count), and {@linkcode findEnd} finds
 * the last record when gdplogd's count names one that does not exist, and
 * {@linkcode appendChecked} appends after other writers' records.
 *
 * @example
 * ```ts
 * const records = new Map([[1, "a"], [2, "b"], [3, "c"]]);
 * const reader = {
 *   readOne: (recno: number) =>
 *     Promise.resolve(records.has(recno) ? { recno, ts: { sec: 0, nsec: 0, accuracy: 0 }, data: new Uint8Array() } : null),
 * };
 * console.log(await findEnd(reader, 7)); // 3
 * await readPast(reader, 1); // reads 2, 3 and 4 (missing)
 * ```
 *
 * @module
 */

import type { LogRecord } from "../backend.ts";
import { GdpError } from "../../core/errors.ts";

/** Reads one record; `null` when the log has no such record (404). */
export interface RecordReader {
  readOne(recno: number): Promise<LogRecord | null>;
}

/** What {@linkcode appendChecked} needs of a log's handle. */
export interface Writer extends RecordReader {
  /** libgdp's cached count of the log's records (rejects when the handle cannot be had). */
  cached(): Promise<number>;
  /** Appends the record once; resolves to it with the recno libgdp gave it. */
  appendOnce(): Promise<LogRecord>;
}

/** Tries of an append whose record number other writers keep taking. */
const APPEND_TRIES = 5;

/**
 * Appends a record and reads it back. libgdp numbers it from its cached
 * count, and gdplogd answers OK but keeps the other record when another
 * process took that number first. So the records other writers added since
 * this process last looked are read first, raising the count; one displaced
 * all the same (a writer faster than a round trip) is appended again, after
 * `displaced` is told its number. 409 after {@linkcode APPEND_TRIES}.
 */
export async function appendChecked(
  writer: Writer,
  name: string,
  displaced: (recno: number) => void,
): Promise<LogRecord> {
  for (let attempt = 1;; attempt++) {
    try {
      await readPast(writer, await writer.cached());
    } catch {
      // the append meets the same failure, and reports it
    }
    const record = await writer.appendOnce();
    const stored = await writer.readOne(record.recno);
    if (stored !== null && sameRecord(stored, record)) return record;
    displaced(record.recno);
    if (attempt === APPEND_TRIES) {
      throw GdpError.of(409, `other writers took ${name}'s next record number ${attempt} times`);
    }
  }
}

/** True when `stored` is `appended` (read back): same timestamp, same bytes. */
function sameRecord(stored: LogRecord, appended: LogRecord): boolean {
  const { data } = stored;
  return stored.ts.sec === appended.ts.sec && stored.ts.nsec === appended.ts.nsec &&
    data.length === appended.data.length && data.every((byte, i) => byte === appended.data[i]);
}

/** Records read past a count at most; past them, the caller's next try reads on. */
const MOST_READS = 256;

/** Reads the records after `count` one by one, until one is missing or `MOST_READS` were read. */
export async function readPast(reader: RecordReader, count: number): Promise<void> {
  for (let next = count + 1; next <= count + MOST_READS; next++) {
    if (await reader.readOne(next) === null) return;
  }
}

/**
 * The last recno that exists (0: none), by reading: from `hint` (a count
 * that may be too high or too low) up in growing steps past the last record
 * found, then by bisection. A hole below the end can make it stop short (GDP
 * logs may have holes); it never names a record that is not there.
 */
export async function findEnd(reader: RecordReader, hint: number): Promise<number> {
  const exists = async (recno: number) => recno <= 0 || await reader.readOne(recno) !== null;
  let low = 0; // exists (0: before the first)
  let high = Math.max(1, Math.floor(hint)); // to be checked
  for (let step = 1; await exists(high); step *= 2) {
    low = high;
    high += step;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await exists(middle)) low = middle;
    else high = middle;
  }
  return low;
}
