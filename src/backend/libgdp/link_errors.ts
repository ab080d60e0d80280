/**
 * How the libgdp backend tells a failed link from a refused request: a
 * failure of the link (router or log server gone, 503, 600 while a server
 * restarts) is retried with backoff; anything else is the request's answer.
 *
 * @example
 * ```ts
 * import { GdpError } from "../../core/errors.ts";
 *
 * isLinkError(GdpError.of(503)); // true: retry
 * isLinkError(GdpError.of(400)); // false: the answer
 * ```
 *
 * @module
 */

import { GdpError } from "../../core/errors.ts";
import { GdpStatusError, isGdpStat } from "./ffi.ts";

/** GDP detail codes that mean "the link or the server is gone", not "no". */
const LINK_DETAILS: ReadonlySet<number> = new Set([5, 6, 10, 20, 31, 502, 503, 504, 515, 600]);

/** True when an error means the link (not the request) failed. */
export function isLinkError(error: unknown): boolean {
  if (error instanceof GdpStatusError) {
    return !isGdpStat(error.stat) || LINK_DETAILS.has(error.stat & 0x3ff);
  }
  return error instanceof GdpError && error.code === 503;
}

/** True for GDP's 404 (no such record). */
export function isNotFound(error: unknown): boolean {
  return error instanceof GdpStatusError && isGdpStat(error.stat) &&
    (error.stat & 0x3ff) === 404;
}

/** The 503 a follower gets once the link has been down for `downAfterMs`. */
export function unreachable(name: string, downAfterMs: number): GdpError {
  return GdpError.of(503, `GDP unreachable: no answer for ${name} in ${downAfterMs} ms; retrying`);
}

/** The 503 of a call on a log the backend has closed. */
export function closedError(): GdpError {
  return GdpError.of(503, "the libgdp backend closed this log");
}
