/**
 * The routes operators and load balancers use, open to anyone: `/healthz` (the
 * process answers), `/readyz` (the backend is ready and the gateway is not
 * draining; with counts and refusals), and `/metrics` (Prometheus text).
 *
 * @example
 * ```ts
 * import type { RouteContext } from "./route_context.ts";
 *
 * const alive = (ctx: RouteContext) => healthz(ctx); // 200 {"status": "ok"}
 * ```
 *
 * @module
 */

import type { FrontDoorStats } from "../net/front_door.ts";
import { json } from "./answers.ts";
import type { RouteContext } from "./route_context.ts";

/** `GET /healthz`: 200 while the process serves. */
export function healthz(_ctx: RouteContext): Response {
  return json({ status: "ok" });
}

/** `GET /readyz`: 200 when the backend is ready and the gateway is not draining, else 503. */
export function readyz({ gw, front }: RouteContext): Response {
  const { backend, hub, connections, refusals } = gw;
  const state = gw.draining
    ? { ready: false, state: "draining", detail: "the gateway is shutting down" }
    : backend.state();
  const counters = backend.counters?.();
  const body = {
    backend: backend.kind,
    ...state,
    ...hub.stats(),
    connections: connections.size,
    ...(front ? { front: publicCounts(front()) } : {}),
    limits: refusals,
    ...(counters ? { counters } : {}),
  };
  return json(body, state.ready ? 200 : 503);
}

/** `GET /metrics`: every metric in Prometheus text format. */
export async function metricsText({ gw }: RouteContext): Promise<Response> {
  const { metrics } = gw;
  return new Response(await metrics.text(), { headers: { "content-type": metrics.contentType } });
}

/** The front door's counts that tell an operator something; not its descriptor limit. */
function publicCounts(stats: FrontDoorStats): Partial<FrontDoorStats> {
  const { open, handshakes, acceptErrors } = stats;
  return { open, handshakes, acceptErrors };
}
