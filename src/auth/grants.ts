/**
 * What a verified token lets its holder do: the logs it may read and append
 * (claim patterns, `*` for any run of characters) until it expires. Sessions
 * and routes check each request against the {@linkcode Grant} the guard gave.
 *
 * @example
 * ```ts
 * const grant: Grant = { read: ["edu.berkeley.*"], append: [], expiresAt: Date.now() + 60_000 };
 * allows(grant, "read", "edu.berkeley.demo.temp"); // true
 * allows(grant, "append", "edu.berkeley.demo.temp"); // false
 * allows(undefined, "append", "anything"); // true: tokens are off
 * ```
 *
 * @module
 */

import { GdpError } from "../core/errors.ts";
import { internalName } from "../core/names.ts";

/** What a verified token lets its holder do. */
export interface Grant {
  /** Log patterns the holder may subscribe to and read. */
  read: readonly string[];
  /** Log patterns the holder may append to. */
  append: readonly string[];
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number;
  /** The token's `sub`, for the logs. */
  subject?: string;
}

/** True when `grant` (undefined: tokens are off) lets its holder `op` the log `logname`. */
export function allows(
  grant: Grant | undefined,
  op: "read" | "append",
  logname: string,
): boolean {
  if (!grant) return true;
  return grant[op].some((pattern) => matchesLog(pattern, logname));
}

/** setTimeout's longest delay; a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpiry` at the grant's `exp` (a stream must not outlive its token);
 * returns the function that cancels it. Without a grant (tokens off), never.
 */
export function atExpiry(grant: Grant | undefined, onExpiry: () => void): () => void {
  // One shared function: a closure made here would keep this call's context
  // (and `onExpiry`, and what it holds) alive for as long as the caller keeps it.
  if (!grant) return nothingToCancel;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const left = grant.expiresAt - Date.now();
    timer = left > MAX_TIMER_MS
      ? setTimeout(arm, MAX_TIMER_MS)
      : setTimeout(onExpiry, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}

const nothingToCancel = () => {};

/** Throws 403 unless `grant` lets its holder `op` the log `logname`. */
export function permit(grant: Grant | undefined, op: "read" | "append", logname: string): void {
  if (!allows(grant, op, logname)) {
    throw forbidden(op === "read" ? "reading" : "appending to", logname);
  }
}

/** The 403 of a request outside the token's claims. */
export function forbidden(what: "reading" | "appending to", logname: string): GdpError {
  return GdpError.of(403, `the token does not allow ${what} ${logname}`);
}

/**
 * True when a claim pattern covers a log name: `*` stands for any run of
 * characters, everything else is literal. A pattern without `*` also covers
 * the log's internal name, so a client may use either spelling.
 */
export function matchesLog(pattern: string, logname: string): boolean {
  if (!pattern.includes("*")) return pattern === logname || internalName(pattern) === logname;
  const regex = new RegExp(`^${pattern.split("*").map(escapeRegex).join(".*")}$`, "s");
  return regex.test(logname);
}

/** `text` with every regular-expression metacharacter escaped. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}
