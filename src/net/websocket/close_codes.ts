/**
 * The one table of WebSocket close codes (RFC 6455 §7.4.1) the gateway sends
 * or names, and which codes a peer may put in its own close frame (§7.4.2).
 * The socket, the session and the docs (docs/protocol.md#connection-close-codes)
 * all speak of these.
 *
 * @example
 * ```ts
 * import { CloseCode, isValidCloseCode } from "./close_codes.ts";
 * isValidCloseCode(CloseCode.TRY_AGAIN_LATER); // true
 * isValidCloseCode(CloseCode.NO_STATUS); // false: only ever reported, never sent
 * ```
 *
 * @module
 */

export const CloseCode = {
  /** The purpose of the connection was fulfilled. */
  NORMAL: 1000,
  /** The server is shutting down, or the peer fell silent (idle timeout). */
  GOING_AWAY: 1001,
  /** A frame broke RFC 6455. */
  PROTOCOL_ERROR: 1002,
  /** The peer's close frame had no code (reported, never sent). */
  NO_STATUS: 1005,
  /** The connection ended without a close frame (reported, never sent). */
  ABNORMAL: 1006,
  /** A text message or close reason that is not UTF-8. */
  INVALID_DATA: 1007,
  /** Origin or token: the connection may not go on. */
  POLICY: 1008,
  /** A message over `--max-frame-bytes` or in more than `--max-fragments` frames. */
  TOO_BIG: 1009,
  /** A peer that does not read what is sent to it (`--send-queue-bytes`). */
  TRY_AGAIN_LATER: 1013,
} as const;

export type CloseCode = typeof CloseCode[keyof typeof CloseCode];

/**
 * Codes a peer may send in a close frame (RFC 6455 §7.4.1, §7.4.2): the
 * defined ones but those reserved for reports (1004-1006, 1015), and the
 * ranges for libraries and applications (3000-4999).
 */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/**
 * A close code as a metric label: the codes RFC 6455 defines as themselves,
 * an application's (3000-4999, chosen by the client) by their range only, so
 * clients cannot add label values without bound.
 */
export function closeLabel(code: number): string {
  if (code >= 1000 && code <= 1015) return String(code);
  if (code >= 3000 && code <= 3999) return "3xxx";
  if (code >= 4000 && code <= 4999) return "4xxx";
  return "other";
}
