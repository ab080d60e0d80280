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

const INTERNAL = /^[A-Za-z0-9_-]{43}$/;

/** True when `name` is spelled as an internal name (43 base64url characters). */
export function isInternalName(name: string): boolean {
  return INTERNAL.test(name);
}

/** The internal name GDP derives from a human name: SHA-256, base64url, unpadded. */
export function internalName(human: string): string {
  return createHash("sha256").update(human, "utf8").digest("base64url");
}
