/**
 * What the route handlers of one gateway share, made whole in one place
 * ({@linkcode makeContext}) before the first request.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "../backend/embedded/store.ts";
 * import { makeConfig } from "../config.ts";
 * import { Auth } from "../auth/auth.ts";
 *
 * const config = makeConfig();
 * const auth = await Auth.load({ allowOrigins: [] });
 * const gw = makeContext(config, openEmbedded({ dataDir: "./data" }), auth);
 * console.log(gw.connections.size); // 0
 * ```
 *
 * @module
 */

import type { Auth } from "../auth/auth.ts";
import { type TrustedProxies, trustedProxies } from "../auth/proxies.ts";
import type { Backend } from "../backend/backend.ts";
import type { Config } from "../config.ts";
import { Hub } from "../fanout/hub.ts";
import { AddressRateLimits, makeRefusals, type Refusals } from "../limits.ts";
import { Metrics } from "../ops/metrics.ts";
import { Connections } from "./connections.ts";
import { observeLatency, type Traffic, watchGateway } from "./gateway_metrics.ts";
import { PageCursors } from "./page_cursor.ts";

/** The parts of one gateway its routes use. */
export interface GatewayContext {
  readonly config: Config;
  readonly backend: Backend;
  readonly hub: Hub;
  readonly auth: Auth;
  /** The peers whose forwarding headers name the client (`--trust-proxy`). */
  readonly proxies: TrustedProxies;
  readonly metrics: Metrics;
  /** What each limit refused: the one count behind /readyz and /metrics. */
  readonly refusals: Refusals;
  readonly connections: Connections;
  /** Log creations per client address. */
  readonly creates: AddressRateLimits;
  /** Frames and bytes sent by every session. */
  readonly traffic: Traffic;
  /** Seals positions in the list of logs that must not name a log (`GET /logs`). */
  readonly cursors: PageCursors;
  /** `performance.now()` when the gateway was made, for its uptime. */
  readonly startedAt: number;
  /** Lame duck: `/readyz` answers 503. */
  draining: boolean;
}

/** A gateway's parts for `config`, `backend` and `auth`, with its metrics wired to them. */
export function makeContext(config: Config, backend: Backend, auth: Auth): GatewayContext {
  const metrics = new Metrics();
  const refusals = makeRefusals(config.limits);
  const hub = new Hub(backend, {
    ...config.limits,
    refusals,
    share: config.shareFanOut,
    onLive: (record) => observeLatency(metrics, record),
  });
  const connections = new Connections(config.limits, refusals);
  const traffic: Traffic = { framesOut: 0, bytesOut: 0 };
  watchGateway(metrics, backend, hub, connections.sessions, refusals, traffic);
  return {
    config,
    backend,
    hub,
    auth,
    proxies: trustedProxies(config.trustProxies),
    metrics,
    refusals,
    connections,
    creates: new AddressRateLimits(config.limits.maxLogCreatesPerMinute, 60_000),
    traffic,
    cursors: new PageCursors(),
    startedAt: performance.now(),
    draining: false,
  };
}
