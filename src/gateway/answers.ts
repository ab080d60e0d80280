/**
 * HTTP answers of the gateway's routes. Every error is `{"ep_stat": [code,
 * text]}`, the shape WebSocket errors have (docs/protocol.md); a log that does
 * not exist (600) is HTTP 404.
 *
 * @example
 * ```ts
 * import { GdpError } from "../core/errors.ts";
 *
 * const ok = json({ status: "ok" });
 * const missing = errorAnswer(GdpError.noRoute()); // 404, {"ep_stat": [600, "ERROR: 600 …"]}
 * ```
 *
 * @module
 */

import { GdpError } from "../core/errors.ts";

/** `body` as JSON with `status` and extra `headers`. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The HTTP status of an error code: 600 (no such log) is 404, anything outside 4xx/5xx 500. */
export function httpStatus(code: number): number {
  if (code === 600) return 404;
  return code >= 400 && code < 600 ? code : 500;
}

/** An error as an HTTP answer: its status, and its `ep_stat` as the body. */
export function errorAnswer(error: GdpError, headers: Record<string, string> = {}): Response {
  return json({ ep_stat: error.epStat }, httpStatus(error.code), headers);
}

/** The error of HTTP `status` with `detail`, as {@linkcode errorAnswer} sends it. */
export function refusal(status: number, detail: string, headers: Record<string, string> = {}) {
  return errorAnswer(GdpError.of(status, detail), headers);
}
