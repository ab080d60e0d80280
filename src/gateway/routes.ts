/**
 * Every route of the gateway, declared once: method, path, who may use it,
 * what bounds its body, and its handler. The router's 404 and 405 (with
 * `Allow`), the CORS methods, the auth guard's checks and the front door's body
 * rule all come from {@linkcode ROUTES}. To add a route, add one entry here and
 * write its handler (docs/development.md has a worked example).
 *
 * @example
 * ```ts
 * const match = matchRoute("GET", "/logs/edu.berkeley.demo.temp/events", false);
 * if (match && "route" in match) console.log(match.route.access, match.params.name); // stream edu.berkeley.demo.temp
 * ```
 *
 * @module
 */

import type { Limits } from "../config.ts";
import type { RouteKind } from "../auth/auth.ts";
import { consoleFile } from "./console.ts";
import { appendRecord, createLog, eventStream, listLogs, logInfo } from "./logs_api.ts";
import { healthz, metricsText, readyz, status } from "./probes.ts";
import { recordRange } from "./range_read.ts";
import type { RouteHandler } from "./route_context.ts";
import { upgrade, upgradeCheck } from "./upgrade.ts";

/** Who may use a route: anyone, or a client the origin and token checks let through for `kind`. */
export type Access = "public" | RouteKind;

/** One route. */
export interface Route {
  /** GET routes answer HEAD too; routes that are not public answer a CORS preflight (OPTIONS). */
  method: "GET" | "POST" | "PUT";
  /**
   * Segments; `:name` matches one segment (percent-decoded), `:name+` the rest
   * of the path, `*` anything (the console's files).
   */
  path: string;
  access: Access;
  /** The limit that bounds a request body; without it the route takes none. */
  body?: keyof Limits;
  handle: RouteHandler;
}

/** The routes, in the order they are matched. */
export const ROUTES: readonly Route[] = [
  { method: "GET", path: "/", access: "upgrade", handle: upgrade },
  { method: "GET", path: "/ws", access: "upgrade", handle: upgrade },
  // A plain GET of the upgrade path runs the upgrade's checks and says why one would be
  // refused: public, since it answers only about the credentials it was sent (client/gdp-ws.js).
  { method: "GET", path: "/ws", access: "public", handle: upgradeCheck },
  { method: "GET", path: "/healthz", access: "public", handle: healthz },
  { method: "GET", path: "/readyz", access: "public", handle: readyz },
  { method: "GET", path: "/metrics", access: "public", handle: metricsText },
  // Counts /metrics already publishes, in the shape the console's status card reads.
  { method: "GET", path: "/status", access: "public", handle: status },
  { method: "GET", path: "/logs", access: "read", handle: listLogs },
  { method: "GET", path: "/logs/:name/events", access: "stream", handle: eventStream },
  { method: "GET", path: "/logs/:name/records", access: "read", handle: recordRange },
  { method: "GET", path: "/logs/:name+", access: "read", handle: logInfo },
  {
    method: "POST",
    path: "/logs/:name+",
    access: "append",
    body: "maxRecordBytes",
    handle: appendRecord,
  },
  { method: "PUT", path: "/logs/:name+", access: "append", handle: createLog },
  { method: "GET", path: "/*", access: "public", handle: consoleFile },
];

/** What {@linkcode matchRoute} found. */
export type RouteMatch =
  | { route: Route; params: Record<string, string> }
  /** The path exists, but not for this method: the methods it has (for `Allow`). */
  | { allow: string[] };

/**
 * The route for `method` and `path` (already in normal form); `upgrade` says
 * whether the request asks for a WebSocket (only upgrade routes take those).
 * Undefined for a path no route has. Percent-decoding of a parameter may throw
 * a URIError.
 */
export function matchRoute(method: string, path: string, upgrade: boolean): RouteMatch | undefined {
  const asked = method === "HEAD" ? "GET" : method;
  // The first route whose path matches owns the path; its siblings (same path) share it.
  let owner: string | undefined;
  let params: Record<string, string> | undefined;
  const allow = new Set<string>();
  for (const route of ROUTES) {
    if ((route.access === "upgrade") !== upgrade) continue;
    if (owner === undefined) {
      params = matchPath(route.path, path);
      if (!params) continue;
      owner = route.path;
    } else if (route.path !== owner) continue;
    // The handshake's own check names a wrong method (RFC 6455 §4.2.1).
    if (route.method === asked || route.access === "upgrade") return { route, params: params! };
    allow.add(route.method);
    if (route.method === "GET") allow.add("HEAD");
    if (route.access !== "public") allow.add("OPTIONS");
  }
  return allow.size > 0 ? { allow: [...allow] } : undefined;
}

/** The paths that take WebSocket upgrades, for the error an upgrade elsewhere gets. */
export const UPGRADE_PATHS: readonly string[] = ROUTES.filter((r) => r.access === "upgrade")
  .map((r) => r.path);

/** Methods a browser may use across origins: those of the routes behind the guard. */
export const CORS_METHODS: readonly string[] = [
  ...new Set(
    ROUTES.filter((r) => r.access !== "public" && r.access !== "upgrade")
      .map((r) => r.method),
  ),
  "OPTIONS",
];

/**
 * The largest body a request may carry, from the route it is for: 0 when the
 * route takes none (the front door refuses one with 413 before reading it),
 * undefined when no route has the path (the router answers 404 or 405).
 */
export function bodyLimit(method: string, target: string, limits: Limits): number | undefined {
  let match: RouteMatch | undefined;
  try {
    match = matchRoute(method, target.split("?")[0]!, false);
  } catch {
    return undefined;
  }
  if (!match || !("route" in match)) return undefined;
  return match.route.body ? limits[match.route.body] : 0;
}

function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  if (pattern === "/*") return {};
  const want = pattern.split("/");
  const have = path.split("/");
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i]!;
    if (part.endsWith("+") && part.startsWith(":")) {
      const rest = have.slice(i).join("/");
      if (rest === "") return undefined;
      params[part.slice(1, -1)] = decodeURIComponent(rest);
      return params;
    }
    const segment = have[i];
    if (segment === undefined) return undefined;
    if (part.startsWith(":")) {
      if (segment === "") return undefined;
      params[part.slice(1)] = decodeURIComponent(segment);
    } else if (part !== segment) return undefined;
  }
  return have.length === want.length ? params : undefined;
}
