/**
 * The web console's files (web/, client/gdp-ws.js), served from the module
 * `deno task console` generates, with a strict Content-Security-Policy: the
 * page may load scripts, styles and connections from this gateway only, and
 * runs no inline script.
 *
 * @example
 * ```ts
 * import { consoleResponse } from "./console.ts";
 *
 * const response = consoleResponse("GET", "/"); // the console's HTML page
 * ```
 *
 * @module
 */

import { refusal } from "./answers.ts";
import { CONSOLE_ASSETS } from "./console_assets.ts";
import type { RouteContext } from "./route_context.ts";

/** The policy every console file is served with. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Where the client library is served, for `import { connect } from "http://HOST:8080/client/gdp-ws.js"`. */
export const CLIENT_PATH = "/client/gdp-ws.js";

const HEADERS = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** The console file at `path` (GET or HEAD), or undefined when there is none. */
export function consoleResponse(method: string, path: string): Response | undefined {
  if (method !== "GET" && method !== "HEAD") return undefined;
  const asset = CONSOLE_ASSETS[path];
  if (!asset) return undefined;
  // The client library is public code: pages on other origins may import it from here.
  const cors = path === CLIENT_PATH ? { "access-control-allow-origin": "*" } : {};
  return new Response(method === "HEAD" ? null : asset.body, {
    headers: { ...HEADERS, ...cors, "content-type": asset.type },
  });
}

/** The console's route: its file at the request's path, or 404. */
export function consoleFile({ request, url }: RouteContext): Response {
  return consoleResponse(request.method, url.pathname) ??
    refusal(404, `nothing at ${url.pathname}`);
}
