/**
 * What a range read (`GET /logs/NAME/records`) asks for, and which records one
 * page of it holds: `start` (a recno, or `-N` for the last N as in subscribe)
 * or `since` (the boundary of a time, as `startts`), then at most `count`
 * records and none stamped at or after `until` (the boundary of that time),
 * at most `limit` per page. A page that stops short of the range's end names
 * the next one, by recno, in a `Link` header.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "../config.ts";
 *
 * const url = new URL("http://localhost/logs/demo/records?start=-100&count=50");
 * const query = parseRangeQuery(url, new Headers(), DEFAULT_LIMITS);
 * console.log(query.start, query.count, query.limit); // -100 50 10000
 * ```
 *
 * @module
 */

import type { LogHandle, Timestamp } from "../backend/backend.ts";
import type { Limits } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import { parseRfc3339 } from "../core/time.ts";
import type { Encoding } from "../wire/requests.ts";

/** A range read's parameters, checked. */
export interface RangeQuery {
  /** The first recno (> 0), or -N for the last N records; absent with `since`. */
  start?: number;
  /** The first record at or after this time; absent with `start`. */
  since?: Timestamp;
  /** At most this many records in all pages together. */
  count?: number;
  /** Only records before this time's boundary. */
  until?: Timestamp;
  /** `until` as the client wrote it, for the next page's link. */
  untilText?: string;
  /** Records per page: `?limit=`, or the most a page may hold. */
  limit: number;
  /** The client asked for a page size (kept in the next page's link). */
  limitGiven: boolean;
  encoding: Encoding;
  /** One JSON object per line (`Accept: application/x-ndjson`) rather than one array. */
  ndjson: boolean;
}

/** Records `from` to `to` (none when `to < from`) make this page; `next` starts the next one. */
export interface RangePage {
  from: number;
  to: number;
  next?: { start: number; count?: number };
}

/** The most records one page may hold: `--max-page-records`, within `--max-history-records`. */
export function pageMax(limits: Limits): number {
  return Math.min(limits.maxPageRecords, limits.maxHistoryRecords);
}

/** Reads and checks the query; throws a 400 naming the parameter. */
export function parseRangeQuery(url: URL, headers: Headers, limits: Limits): RangeQuery {
  const params = url.searchParams;
  const start = integer(params.get("start"), "start", -Number.MAX_SAFE_INTEGER);
  if (start === 0) {
    throw GdpError.badRequest("start", "must be a recno (1 or more), or -N for the last N records");
  }
  const sinceText = text(params.get("since"));
  if (start !== undefined && sinceText !== undefined) {
    throw GdpError.badRequest("since", "and start exclude each other: give one");
  }
  const count = integer(params.get("count"), "count", 1);
  const untilText = text(params.get("until"));
  const max = pageMax(limits);
  const limit = integer(params.get("limit"), "limit", 1, max);
  const encoding = params.get("encoding") ?? "text";
  if (encoding !== "text" && encoding !== "base64") {
    throw GdpError.badRequest("encoding", 'must be "text" or "base64"');
  }
  const query: RangeQuery = {
    limit: limit ?? max,
    limitGiven: limit !== undefined,
    encoding,
    ndjson: /\bapplication\/(x-)?ndjson\b/i.test(headers.get("accept") ?? ""),
  };
  if (start !== undefined) query.start = start;
  if (sinceText !== undefined) query.since = time(sinceText, "since");
  if (count !== undefined) query.count = count;
  if (untilText !== undefined) {
    query.until = time(untilText, "until");
    query.untilText = untilText.replaceAll(" ", "+");
  }
  return query;
}

/** Which records the first page of `query` holds, on `handle` as the log is now. */
export async function resolvePage(handle: LogHandle, query: RangeQuery): Promise<RangePage> {
  const last = await handle.last();
  const { start, since, count, until } = query;
  const from = start === undefined
    ? since === undefined ? 1 : await handle.seek(since, last)
    : start > 0
    ? start
    : Math.max(1, last + start + 1);
  let to = Math.min(last, count === undefined ? Infinity : from + count - 1);
  if (until !== undefined) to = Math.min(to, await handle.seek(until, last) - 1);
  const end = Math.min(to, from + query.limit - 1);
  if (end >= to) return { from, to };
  const next: RangePage["next"] = { start: end + 1 };
  if (count !== undefined) next.count = count - (end - from + 1);
  return { from, to: end, next };
}

/** The path and query of the page after `page` (for `Link`), or undefined when there is none. */
export function nextPageLink(
  logname: string,
  query: RangeQuery,
  page: RangePage,
): string | undefined {
  if (!page.next) return undefined;
  const params = new URLSearchParams({ start: String(page.next.start) });
  if (page.next.count !== undefined) params.set("count", String(page.next.count));
  if (query.untilText !== undefined) params.set("until", query.untilText);
  if (query.limitGiven) params.set("limit", String(query.limit));
  if (query.encoding === "base64") params.set("encoding", "base64");
  return `/logs/${encodeURIComponent(logname)}/records?${params}`;
}

function text(value: string | null): string | undefined {
  return value === null || value === "" ? undefined : value;
}

function integer(
  value: string | null,
  name: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === null || value === "") return undefined;
  const n = /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw GdpError.badRequest(name, `must be an integer from ${min} to ${max}`);
  }
  return n;
}

/**
 * An RFC 3339 time from a query string, where an unescaped `+` of an offset
 * arrives as a space (the separator of date and time must be `T`, so a space
 * can be nothing else).
 */
function time(value: string, name: string): Timestamp {
  const ts = parseRfc3339(value.replaceAll(" ", "+"));
  if (typeof ts === "string") throw GdpError.badRequest(name, ts);
  return ts;
}
