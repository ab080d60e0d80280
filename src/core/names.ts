/**
 * GDP log names: a human name, or the 43-character unpadded base64url form of
 * the 32-byte internal name, which GDP derives as the SHA-256 of the human name.
 *
 * @example
 * ```ts
 * internalName("edu.berkeley.demo.temp"); // 43 base64url characters
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { GdpError } from "./errors.ts";

/** Longest logname, in UTF-16 code units, unless configured otherwise. */
export const MAX_LOGNAME_LENGTH = 1024;

/**
 * The one logname rule, enforced by every entry point (WebSocket requests, the
 * HTTP API, the CLI, the stores): 1 to `max` characters of well-formed Unicode
 * with no control characters. A lone surrogate would be hashed as U+FFFD (two
 * names, one log) and SQLite cuts text at NUL (stored whole, listed cut short).
 */
export function checkLogname(name: string, max = MAX_LOGNAME_LENGTH, field = "logname"): string {
  if (name.length === 0) throw GdpError.badRequest(field, "must not be empty");
  if (name.length > max) throw GdpError.badRequest(field, `is longer than ${max} characters`);
  if (!name.isWellFormed()) {
    throw GdpError.badRequest(field, "must be well-formed Unicode (it has a lone surrogate)");
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw GdpError.badRequest(field, "must not contain control characters");
  }
  return name;
}

const INTERNAL = /^[A-Za-z0-9_-]{43}$/;

/** True when `name` is spelled as an internal name (43 base64url characters). */
export function isInternalName(name: string): boolean {
  return INTERNAL.test(name);
}

/** The internal name GDP derives from a human name: SHA-256, base64url, unpadded. */
export function internalName(human: string): string {
  return createHash("sha256").update(human, "utf8").digest("base64url");
}
