/**
 * `--max-log-creates` per client address: whether an append (over a WebSocket
 * or `POST /logs/NAME`) may create one more log now.
 *
 * @example
 * ```ts
 * import type { GatewayContext } from "./context.ts";
 * import { allowCreate } from "./create_gate.ts";
 *
 * declare const gw: GatewayContext;
 * allowCreate(gw, "203.0.113.7"); // throws 429 past this minute's share
 * ```
 *
 * @module
 */

import { GdpError } from "../core/errors.ts";
import { countRefusal } from "../limits.ts";
import type { GatewayContext } from "./context.ts";

/** Throws 429 when `address` has created its share of logs this minute. */
export function allowCreate(
  gw: Pick<GatewayContext, "creates" | "config" | "refusals">,
  address: string,
): void {
  if (gw.creates.take(address)) return;
  const max = gw.config.limits.maxLogCreatesPerMinute;
  throw countRefusal(
    gw.refusals,
    "maxLogCreatesPerMinute",
    GdpError.of(429, `more than ${max} new logs per minute from ${address}`),
  );
}
