/**
 * The WebSocket upgrade route (`/` and `/ws`): checks the opening handshake
 * (RFC 6455 §4.2.1) and the connection limits, agrees on a subprotocol, and
 * hands the connection to a new {@linkcode Session}. The front door writes the
 * 101 once this returns.
 *
 * @example
 * ```ts
 * import type { RouteContext } from "./route_context.ts";
 *
 * async function onUpgrade(ctx: RouteContext): Promise<Response> {
 *   return await upgrade(ctx); // 101 written by the front door, or a refusal
 * }
 * ```
 *
 * @module
 */

import { BEARER_PREFIX } from "../auth/tokens.ts";
import { type HandshakeProblem, handshakeProblem, WEBSOCKET_VERSION } from "../net/handshake.ts";
import { BATCH_PROTOCOL } from "../wire/events.ts";
import { errorAnswer, refusal } from "./answers.ts";
import { appendsOpen } from "./local_client.ts";
import type { RouteContext } from "./route_context.ts";
import { Session } from "./session.ts";

/** Connection ids, unique within the process. */
let lastConnectionId = 0;

/** Takes the connection over as a WebSocket session, or refuses it. */
export function upgrade(ctx: RouteContext): Response {
  const { gw, request, raw, peer, client, url } = ctx;
  const { metrics, connections } = gw;
  if (!raw) {
    // Only the front door can take a connection over (frame limits, close codes).
    return refusal(400, "a WebSocket upgrade needs a connection of its own");
  }
  const problem = handshakeProblem(request.method, raw.httpVersion, request.headers);
  if (problem) return handshakeRefusal(problem);
  const address = client.address;
  const full = connections.admit(address, client.label);
  if (full) {
    metrics.inc("gdpws_handshakes_total", { result: "limit" });
    return errorAnswer(full.error);
  }
  const offered = (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim()).filter((p) => p);
  const batch = offered.includes(BATCH_PROTOCOL) || url.searchParams.get("batch") === "1";
  const socket = raw.accept(chosenProtocol(offered, ctx.bearerProtocol));
  // The session counts itself in `connections` until its socket closes.
  new Session(socket, gw, {
    batch,
    address,
    peer: client.label,
    id: `c${++lastConnectionId}`,
    appendsOpen: appendsOpen(gw, client, peer),
    ...(ctx.grant ? { grant: ctx.grant } : {}),
  });
  metrics.inc("gdpws_handshakes_total", { result: "accepted" });
  metrics.inc("gdpws_connections_total");
  // The front door writes the 101; this response is not sent.
  return new Response(null, { status: 200 });
}

/**
 * `GET /ws` without `Upgrade`: the checks an upgrade with the same `Origin` and
 * token would pass through, answered as the upgrade would be refused (401, 403,
 * with the same `{ep_stat}`), or 426 when they pass. A WebSocket client cannot
 * read why its upgrade failed; this tells it. Any origin may read the answer:
 * it says only whether the credentials it was sent would do.
 */
export async function upgradeCheck({ gw, request, client }: RouteContext): Promise<Response> {
  const headers = { "access-control-allow-origin": "*", "cache-control": "no-store" };
  const sent = { ...(client.scheme ? { scheme: client.scheme } : {}), host: client.host };
  const access = await gw.auth.guard(request, "upgrade", sent);
  if (!access.ok) {
    const refused = access.response;
    for (const [name, value] of Object.entries(headers)) refused.headers.set(name, value);
    return refused;
  }
  return refusal(426, "this path takes WebSocket upgrades; this origin and token would do", {
    ...headers,
    upgrade: "websocket",
  });
}

/**
 * Browsers fail an upgrade that ignores the subprotocols they offered, so one
 * is echoed back: batch mode if offered, else the first other one; the
 * `bearer.<token>` protocol only when nothing else was offered, so the token is
 * not repeated in a response without need.
 */
function chosenProtocol(offered: string[], bearer: string | undefined): { protocol?: string } {
  if (offered.includes(BATCH_PROTOCOL)) return { protocol: BATCH_PROTOCOL };
  const other = offered.find((p) => !p.startsWith(BEARER_PREFIX));
  const protocol = other ?? bearer ?? offered[0];
  return protocol ? { protocol } : {};
}

/** The answer to a malformed upgrade: 400, 405 or 426, naming the problem. */
function handshakeRefusal(problem: HandshakeProblem): Response {
  const headers: Record<string, string> = problem.status === 426
    ? { "sec-websocket-version": WEBSOCKET_VERSION }
    : problem.status === 405
    ? { allow: "GET" }
    : {};
  return refusal(problem.status, problem.error, headers);
}
