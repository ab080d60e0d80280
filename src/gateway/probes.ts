/**
 * The routes operators and load balancers use, open to anyone: `/healthz` (the
 * process answers), `/readyz` (the backend is ready and the gateway is not
 * draining; with counts and refusals), `/metrics` (Prometheus text) and
 * `/status` (the counts the console's status card shows).
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

/**
 * `GET /status`: uptime, connections, subscriptions, feeds and the totals of
 * records in (appends) and out (deliveries), always 200. Totals rather than
 * rates: a reader polls and divides, and the gateway keeps no window.
 */
export async function status({ gw }: RouteContext): Promise<Response> {
  const { backend, hub, connections, metrics } = gw;
  const stats = hub.stats();
  const recordsIn = await metrics.value("gdpws_records_in_total", { via: "ws" }) +
    await metrics.value("gdpws_records_in_total", { via: "http" });
  const state = gw.draining ? { ready: false, state: "draining" } : backend.state();
  return json(
    {
      backend: backend.kind,
      ready: state.ready,
      state: state.state,
      uptimeSec: Math.round(performance.now() - gw.startedAt) / 1000,
      connections: connections.size,
      subscriptions: stats.subscriptions,
      feeds: stats.feeds,
      recordsIn,
      recordsOut: stats.liveDeliveries + stats.historyDeliveries,
    },
    200,
    { "cache-control": "no-store" },
  );
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
