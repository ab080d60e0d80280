/**
 * Dispatches a request through {@linkcode ROUTES}: first who the client is
 * (through a trusted proxy, the proxy's word: src/auth/proxies.ts; 400 when a
 * trusted proxy's headers do not parse) and the host check (421), then 404 for
 * a path no route has, 405 with `Allow` for a method it does not take, the
 * origin and token checks (and CORS preflights) before every route that is not
 * public, then the route's handler. Whatever a handler throws becomes an
 * `{ep_stat}` answer.
 *
 * @example
 * ```ts
 * import type { GatewayContext } from "./context.ts";
 *
 * function serve(gw: GatewayContext, request: Request, peer: Deno.NetAddr) {
 *   return dispatch(gw, request, peer);
 * }
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { GuardResult } from "../auth/auth.ts";
import type { Client } from "../auth/proxies.ts";
import { GdpError } from "../core/errors.ts";
import type { FrontDoorStats } from "../net/front_door.ts";
import type { RawUpgrade } from "../net/handshake.ts";
import { LogThrottle } from "../ops/throttle.ts";
import { errorAnswer } from "./answers.ts";
import type { GatewayContext } from "./context.ts";
import type { RouteContext } from "./route_context.ts";
import { CORS_METHODS, matchRoute, type RouteMatch, UPGRADE_PATHS } from "./routes.ts";

const log = getLogger(["gdp-ws", "server"]);
/** A proxy that sends malformed headers sends them on every request: logged once a minute. */
const forwardedWarnings = new LogThrottle(60_000);

/** What the front door knows of a request besides the request itself. */
export interface Arrival {
  /** The connection to take over, for a WebSocket upgrade. */
  raw?: RawUpgrade;
  /** The front door's counts, for `/readyz`. */
  front?: () => FrontDoorStats;
}

/** Answers `request` from `peer`. */
export async function dispatch(
  gw: GatewayContext,
  request: Request,
  peer: Deno.NetAddr,
  arrival: Arrival = {},
): Promise<Response> {
  const client = gw.proxies.resolve(request, peer);
  if ("problem" in client) {
    gw.metrics.inc("gdpws_forwarded_requests_total", { result: "refused" });
    const suppressed = forwardedWarnings.due(`${peer.hostname} ${client.header}`);
    if (suppressed !== undefined) {
      log.warning("Refused {peer}: its {header} {problem} ({suppressed} more)", {
        peer: `${peer.hostname}:${peer.port}`,
        header: client.header,
        problem: client.problem,
        suppressed,
      });
    }
    return answer(gw, GdpError.badRequest(client.header, client.problem));
  }
  if (client.forwarding !== "none") {
    gw.metrics.inc("gdpws_forwarded_requests_total", { result: client.forwarding });
  }
  const misdirected = gw.auth.hostProblem(client.host);
  if (misdirected) return answer(gw, misdirected);
  const sent = { ...(client.scheme ? { scheme: client.scheme } : {}), host: client.host };
  const url = new URL(request.url);
  const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
  let match: RouteMatch | undefined;
  try {
    match = matchRoute(request.method, url.pathname, upgrade);
  } catch {
    return answer(gw, GdpError.badRequest("path", "is not valid percent-encoding"));
  }
  if (!match) {
    const where = upgrade
      ? `WebSocket upgrades are served at ${UPGRADE_PATHS.join(" and ")}`
      : `nothing at ${url.pathname}`;
    return answer(gw, GdpError.of(404, where));
  }
  if ("allow" in match) {
    if (request.method === "OPTIONS" && match.allow.includes("OPTIONS")) {
      const access = await gw.auth.guard(request, "append", sent);
      if (!access.ok) return refused(gw, access, client, url.pathname, false);
      return gw.auth.preflight(access, CORS_METHODS);
    }
    const allow = match.allow.join(", ");
    return answer(gw, GdpError.of(405, `use ${allow}`), { allow });
  }
  const { route, params } = match;
  const base = {
    gw,
    request,
    url,
    params,
    peer,
    client,
    ...(arrival.raw ? { raw: arrival.raw } : {}),
    ...(arrival.front ? { front: arrival.front } : {}),
  };
  try {
    if (route.access === "public") return await route.handle(base);
    const access = await gw.auth.guard(request, route.access, sent);
    if (!access.ok) return refused(gw, access, client, url.pathname, route.access === "upgrade");
    const ctx: RouteContext = {
      ...base,
      ...(access.grant ? { grant: access.grant } : {}),
      ...(access.bearerProtocol ? { bearerProtocol: access.bearerProtocol } : {}),
    };
    let response: Response;
    try {
      response = await route.handle(ctx);
    } catch (error) {
      // Errors of a guarded route carry its CORS headers, so a page can read them.
      response = answer(gw, GdpError.from(error));
    }
    for (const [name, value] of Object.entries(access.cors)) response.headers.set(name, value);
    return response;
  } catch (error) {
    return answer(gw, GdpError.from(error));
  }
}

/** An error answer, counted; the unexpected (500) is logged too. */
export function answer(
  gw: GatewayContext,
  error: GdpError,
  headers: Record<string, string> = {},
): Response {
  gw.metrics.inc("gdpws_errors_total", { code: error.code });
  // Only the unexpected: 503 and 507 are states the operator sees elsewhere.
  if (error.code === 500) log.error("HTTP request failed: {error}", { error });
  return errorAnswer(error, headers);
}

/** Counts and logs (once, with the reason and never the token) a request the guard refused. */
function refused(
  gw: GatewayContext,
  access: GuardResult & { ok: false },
  client: Client,
  path: string,
  isUpgrade: boolean,
): Response {
  gw.metrics.inc("gdpws_auth_failures_total", { reason: access.kind });
  if (isUpgrade) {
    const result = access.kind === "origin" ? "origin" : "unauthorized";
    gw.metrics.inc("gdpws_handshakes_total", { result });
  }
  gw.metrics.inc("gdpws_errors_total", { code: access.response.status });
  log.warning("Refused {peer} {path}: {reason}", {
    peer: client.label,
    path,
    reason: access.reason,
  });
  return access.response;
}
