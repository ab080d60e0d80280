/**
 * HTTP and WebSocket front door (`Deno.serve`): upgrades at `/` and `/ws`,
 * the small HTTP API beside them, TLS, connection limits and graceful shutdown.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "./backend/embedded.ts";
 * import { makeConfig } from "./config.ts";
 *
 * const gateway = await startGateway(makeConfig({ port: 0 }), openEmbedded({ dataDir: "./data" }));
 * console.log(gateway.url); // ws://127.0.0.1:PORT/
 * await gateway.shutdown();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Backend, LogRecord } from "./backend/backend.ts";
import type { Config } from "./config.ts";
import { GdpError } from "./errors.ts";
import { Hub } from "./hub.ts";
import { Metrics } from "./metrics.ts";
import { infoObject, tsObject } from "./protocol.ts";
import { Session } from "./session.ts";

/** The subprotocol that asks for batch mode. */
export const BATCH_PROTOCOL = "gdp-ws.batch";

/** A running gateway. */
export interface Gateway {
  /** `ws://host:port/` or `wss://…`. */
  readonly url: string;
  readonly port: number;
  readonly hub: Hub;
  readonly backend: Backend;
  /** What `/metrics` serves. */
  readonly metrics: Metrics;
  /** Open WebSocket sessions. */
  connections(): number;
  /** SHUTDOWN to every subscription, close sockets with 1001, stop serving, close the backend. */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
}

const log = getLogger(["gdp-ws", "server"]);

type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Starts serving `backend` as `config` says; resolves once listening. */
export async function startGateway(config: Config, backend: Backend): Promise<Gateway> {
  const metrics = new Metrics();
  const hub = new Hub(backend, {
    ...config.limits,
    onLive: (record) => observeLatency(metrics, record),
  });
  const sessions = new Set<Session>();
  watch(metrics, backend, hub, sessions);
  const gw: GatewayParts = { config, backend, hub, sessions, metrics };
  const handler = route(gw);
  const tls = config.cert && config.key
    ? { cert: await Deno.readTextFile(config.cert), key: await Deno.readTextFile(config.key) }
    : {};
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    port: config.port,
    hostname: config.hostname,
    ...tls,
    onListen: resolve,
    onError: (error) => {
      log.error("Unhandled error in a request: {error}", { error });
      return json({ ep_stat: GdpError.from(error).epStat }, 500);
    },
  }, handler);
  const addr = await listening;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `${config.cert ? "wss" : "ws"}://${
    host === "0.0.0.0" ? "127.0.0.1" : host
  }:${addr.port}/`;
  log.info("Serving {backend} logs at {url}", { backend: backend.kind, url });
  let stopping: Promise<void> | undefined;
  return {
    url,
    port: addr.port,
    hub,
    backend,
    metrics,
    connections: () => sessions.size,
    finished: server.finished,
    shutdown: () => stopping ??= stop(gw, server),
  };
}

/** What the routes of one gateway share. */
interface GatewayParts {
  config: Config;
  backend: Backend;
  hub: Hub;
  sessions: Set<Session>;
  metrics: Metrics;
}

/** Connection ids, unique within the process. */
let lastConnectionId = 0;

/** Points the gauges and totals kept elsewhere at their sources, read at each scrape. */
function watch(metrics: Metrics, backend: Backend, hub: Hub, sessions: Set<Session>): void {
  metrics.source("gdpws_connections", () => sessions.size);
  metrics.source("gdpws_subscriptions", () => hub.stats().subscriptions);
  metrics.source("gdpws_feeds", () => hub.stats().feeds);
  metrics.source("gdpws_records_out_total", () => {
    const stats = hub.stats();
    return stats.liveDeliveries + stats.historyDeliveries;
  });
  metrics.source("gdpws_history_records_total", () => hub.stats().historyDeliveries);
  metrics.source("gdpws_send_queue_bytes", () => {
    let bytes = 0;
    for (const session of sessions) bytes += session.queuedBytes;
    return bytes;
  });
  metrics.source("gdpws_backend_up", () => backend.state().ready ? 1 : 0);
  const counters = () => backend.counters?.() ?? {};
  metrics.source(
    "gdpws_backend_counter",
    () => Object.entries(counters()).map(([name, n]) => [{ name }, n] as const),
  );
  const diff = (a: string, b: string) => () => (counters()[a] ?? 0) - (counters()[b] ?? 0);
  metrics.source("gdpws_backend_events_alive", diff("eventsGot", "eventsFreed"));
  metrics.source("gdpws_backend_datums_alive", diff("datumsAllocated", "datumsFreed"));
  metrics.source("gdpws_backend_reconnects_total", () => counters().reconnects ?? 0);
  metrics.source("gdpws_backend_outages_total", () => counters().downReports ?? 0);
  metrics.watchEventLoop();
}

function observeLatency(metrics: Metrics, record: LogRecord): void {
  const committed = record.ts.sec + record.ts.nsec / 1e9;
  metrics.observe("gdpws_append_to_send_seconds", Math.max(0, Date.now() / 1000 - committed));
}

async function stop(gw: GatewayParts, server: Deno.HttpServer): Promise<void> {
  const { config, hub, backend, sessions, metrics } = gw;
  log.info("Shutting down: {n} connections", { n: sessions.size });
  for (const session of sessions) session.shutdown();
  // Clients get the grace period to read their SHUTDOWN events; the timer is
  // cleared when the server stops sooner, so it does not hold the process open.
  let grace: ReturnType<typeof setTimeout> | undefined;
  const graceOver = new Promise((resolve) => {
    grace = setTimeout(resolve, config.limits.shutdownGraceMs);
  });
  await Promise.race([server.shutdown(), graceOver]).finally(() => clearTimeout(grace));
  await hub.close();
  await backend.close();
  metrics.close();
  log.info("Stopped");
}

function route(gw: GatewayParts): Handler {
  return async (request, info) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      if (path === "/" || path === "/ws") return upgrade(request, info, url, gw);
      return json({ error: "WebSocket upgrades are served at / and /ws" }, 404);
    }
    try {
      return await serveHttp(request, path, gw);
    } catch (error) {
      return errorResponse(GdpError.from(error), gw.metrics);
    }
  };
}

function upgrade(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  url: URL,
  gw: GatewayParts,
): Response {
  const { config, hub, sessions, metrics } = gw;
  // remoteAddr is gone once the request has been upgraded.
  const peer = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
  if (sessions.size >= config.limits.maxConnections) {
    metrics.inc("gdpws_handshakes_total", { result: "limit" });
    metrics.inc("gdpws_limit_refusals_total", { limit: "connections" });
    log.warning("Refused {peer}: connections limit: {max} open", {
      peer,
      max: config.limits.maxConnections,
    });
    return json({ ep_stat: GdpError.of(503, "too many connections").epStat }, 503);
  }
  const offered = (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim()).filter((p) => p);
  const batch = offered.includes(BATCH_PROTOCOL) || url.searchParams.get("batch") === "1";
  // Browsers fail an upgrade that ignores the subprotocols they offered: echo one back.
  const protocol = offered.includes(BATCH_PROTOCOL) ? BATCH_PROTOCOL : offered[0];
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: config.limits.idleTimeoutSec,
    ...(protocol ? { protocol } : {}),
  });
  const session = new Session(socket, hub, {
    limits: config.limits,
    batch,
    autoCreate: config.autoCreate,
    peer,
    id: `c${++lastConnectionId}`,
    metrics,
  });
  metrics.inc("gdpws_handshakes_total", { result: "accepted" });
  metrics.inc("gdpws_connections_total");
  sessions.add(session);
  socket.addEventListener("close", () => sessions.delete(session));
  return response;
}

async function serveHttp(request: Request, path: string, gw: GatewayParts): Promise<Response> {
  const { config, backend, hub, metrics } = gw;
  const method = request.method;
  if (path === "/healthz") return json({ status: "ok" });
  if (path === "/readyz") {
    const state = backend.state();
    const counters = backend.counters?.();
    const body = {
      backend: backend.kind,
      ...state,
      ...hub.stats(),
      ...(counters ? { counters } : {}),
    };
    return json(body, state.ready ? 200 : 503);
  }
  if (path === "/metrics" && method === "GET") {
    return new Response(await metrics.text(), { headers: { "content-type": metrics.contentType } });
  }
  if (path === "/logs" && method === "GET") return json((await backend.list()).map(infoObject));
  if (path.startsWith("/logs/") && path.length > 6) {
    const name = decodeName(path.slice(6));
    if (method === "GET") return json(infoObject(await backend.info(name)));
    if (method === "POST") return await appendFromHttp(request, name, config, hub, metrics);
    return json({ error: "use GET or POST" }, 405, { allow: "GET, POST" });
  }
  if (path === "/" && method === "GET") return placeholder();
  return json({ error: `nothing at ${path}` }, 404);
}

async function appendFromHttp(
  request: Request,
  name: string,
  config: Config,
  hub: Hub,
  metrics: Metrics,
): Promise<Response> {
  const max = config.limits.maxRecordBytes;
  const tooBig = () => {
    metrics.inc("gdpws_limit_refusals_total", { limit: "record_bytes" });
    return GdpError.of(413, `the body is over the ${max}-byte limit`);
  };
  if (Number(request.headers.get("content-length") ?? 0) > max) throw tooBig();
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.byteLength > max) throw tooBig();
  const record = await hub.append(name, body, config.autoCreate);
  metrics.inc("gdpws_records_in_total", { via: "http" });
  return json({ logname: name, recno: record.recno, ts: tsObject(record.ts) }, 201);
}

function decodeName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw GdpError.badRequest("path", "is not valid percent-encoding");
  }
}

function errorResponse(error: GdpError, metrics: Metrics): Response {
  metrics.inc("gdpws_errors_total", { code: error.code });
  const status = error.code === 600
    ? 404
    : error.code >= 400 && error.code < 600
    ? error.code
    : 500;
  if (status >= 500) log.error("HTTP request failed: {error}", { error });
  return json({ ep_stat: error.epStat }, status);
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function placeholder(): Response {
  const html = `<!doctype html><meta charset="utf-8"><title>gdp-ws</title>
<h1>gdp-ws</h1><p>A WebSocket gateway onto the Global Data Plane. Connect a WebSocket to this
address and send <code>{"logname": "NAME", "startrec": 0, "numrec": 0}</code>.</p>`;
  return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
}
