/**
 * Points in time as the protocol writes them: RFC 3339 text (`2026-12-07T05:49:54.5Z`) read to
 * the nanosecond in integers, never through a float (a double holds today's time to about a
 * quarter of a microsecond), written back the same way, and compared with the timestamps records
 * carry.
 *
 * @example
 * ```ts
 * const t = parseRfc3339("2026-12-07T05:49:54.5Z");
 * if (typeof t !== "string") {
 *   console.log(t.sec, t.nsec); // 1796622594 500000000
 *   console.log(formatRfc3339(t)); // 2026-12-07T05:49:54.5Z
 *   compareTs(t, { ...t, nsec: 0 }); // > 0: later
 * }
 * ```
 *
 * @module
 */

import type { Timestamp } from "./records.ts";

/** 0000-01-01T00:00:00Z, the first second RFC 3339 can write. */
export const MIN_SEC = -62_167_219_200;
/** 9999-12-31T23:59:59Z, the last second RFC 3339 can write. */
export const MAX_SEC = 253_402_300_799;
/** What a time in the protocol looks like, for error texts. */
export const TIME_EXAMPLE = "2026-12-07T05:49:54.5Z";

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * `text` as a time (accuracy 0), or why it is not one. A second of 60 (a leap
 * second) is the next minute's first; fractions go to nanoseconds, so at most
 * nine digits.
 */
export function parseRfc3339(text: string): Timestamp | string {
  const m = text.length <= 40 ? RFC3339.exec(text) : null;
  if (!m) return `must be an RFC 3339 time such as ${TIME_EXAMPLE}`;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return `has no such date: ${m[1]}-${m[2]}-${m[3]}`;
  }
  if (hour > 23 || minute > 59 || second > 60) return `has no such time of day`;
  let offset = 0;
  if (m[8] !== undefined) {
    const [oh, om] = [Number(m[9]), Number(m[10])];
    if (oh > 23 || om > 59) return "has no such offset from UTC";
    offset = (m[8] === "-" ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const sec = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second -
    offset;
  const nsec = m[7] === undefined ? 0 : Number(m[7].padEnd(9, "0"));
  return { sec, nsec, accuracy: 0 };
}

/** `ts` in RFC 3339, in UTC, with as many fraction digits as it needs (none for a whole second). */
export function formatRfc3339(ts: Pick<Timestamp, "sec" | "nsec">): string {
  const days = Math.floor(ts.sec / 86_400);
  const inDay = ts.sec - days * 86_400;
  const [year, month, day] = civilFromDays(days);
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${two(Math.floor(inDay / 3600))}:${two(Math.floor(inDay / 60) % 60)}:${
    two(inDay % 60)
  }`;
  const fraction = ts.nsec === 0 ? "" : `.${String(ts.nsec).padStart(9, "0").replace(/0+$/, "")}`;
  return `${String(year).padStart(4, "0")}-${two(month)}-${two(day)}T${time}${fraction}Z`;
}

/** Negative when `a` is earlier than `b`, 0 when equal, positive when later (accuracy aside). */
export function compareTs(
  a: Pick<Timestamp, "sec" | "nsec">,
  b: Pick<Timestamp, "sec" | "nsec">,
): number {
  return a.sec - b.sec || a.nsec - b.nsec;
}

function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The inverse of {@linkcode daysFromCivil}: `[year, month, day]`. */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) -
      Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}
