/**
 * The gateway: what each request gets (WebSocket upgrades at `/` and `/ws`, the
 * small HTTP API beside them), connection limits, TLS and graceful shutdown.
 * The {@linkcode FrontDoor} accepts connections and answers body-less requests;
 * requests with a body are relayed to an internal `Deno.serve` on loopback.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "../backend/embedded/store.ts";
 * import { makeConfig } from "../config.ts";
 *
 * const gateway = await startGateway(makeConfig({ port: 0 }), openEmbedded({ dataDir: "./data" }));
 * console.log(gateway.url); // ws://127.0.0.1:PORT/
 * await gateway.shutdown();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import {
  type Access,
  allows,
  atExpiry,
  Auth,
  BEARER_PREFIX,
  type Grant,
  permit,
} from "../auth/auth.ts";
import type { Backend, LogInfo } from "../backend/backend.ts";
import type { Config } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import { EventStream, parseEventsRequest } from "./event_stream.ts";
import { type HandshakeProblem, handshakeProblem, WEBSOCKET_VERSION } from "../net/handshake.ts";
import { type CreatePolicy, Hub } from "../fanout/hub.ts";
import { AddressRateLimits, limitLabel, makeRefusals, type Refusals, refuse } from "../limits.ts";
import { observeLatency, type Traffic, watchGateway } from "./gateway_metrics.ts";
import { FrontDoor, type RawUpgrade } from "../net/front_door.ts";
import { Metrics } from "../ops/metrics.ts";
import { checkLogname } from "../core/names.ts";
import { infoObject, tsObject } from "../wire/protocol.ts";
import { Session } from "./session.ts";
import { consoleResponse } from "./console.ts";
import { concat } from "../io/bytes.ts";

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
  /** The accept loop on the public port. */
  readonly frontDoor: FrontDoor;
  /** Open WebSockets and event streams. */
  connections(): number;
  /** SHUTDOWN to every subscription, close sockets with 1001, stop serving, close the backend. */
  shutdown(): Promise<void>;
  /**
   * Lame duck (SIGTERM): `/readyz` answers 503 at once so load balancers drain
   * the gateway, then {@linkcode shutdown} follows after `drainMs`.
   */
  drain(): Promise<void>;
  /** Re-reads the token keys (SIGHUP); the old keys stay if the files are unusable. */
  reloadKeys(): Promise<void>;
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
  const auth = await Auth.load({
    allowOrigins: config.allowOrigins,
    audience: config.authAudience,
    ...(config.authSecretFile ? { secretFile: config.authSecretFile } : {}),
    ...(config.authKeyFile ? { keyFile: config.authKeyFile } : {}),
  });
  const metrics = new Metrics();
  const refusals = makeRefusals(config.limits);
  const hub = new Hub(backend, {
    ...config.limits,
    refusals,
    share: config.shareFanOut,
    onLive: (record) => observeLatency(metrics, record),
  });
  const sessions = new Set<Session>();
  const traffic: Traffic = { framesOut: 0, bytesOut: 0 };
  watchGateway(metrics, backend, hub, sessions, refusals, traffic);
  const gw: GatewayParts = {
    config,
    backend,
    hub,
    sessions,
    streams: new Set(),
    metrics,
    refusals,
    perAddress: new Map(),
    creates: new AddressRateLimits(config.limits.maxLogCreatesPerMinute, 60_000),
    auth,
    draining: false,
    traffic,
    peerOf: (addr) => addr,
  };
  const handler = route(gw);
  const tls = config.cert && config.key
    ? { cert: await Deno.readTextFile(config.cert), key: await Deno.readTextFile(config.key) }
    : {};
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  // Plain HTTP on loopback only: requests with a body reach it through the front door's relay.
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: resolve,
    onError: (error) => {
      log.error("Unhandled error in a request: {error}", { error });
      return json({ ep_stat: GdpError.from(error).epStat }, 500);
    },
  }, (request, info) => handler(request, { ...info, remoteAddr: gw.peerOf(info.remoteAddr) }));
  const inner = await listening;
  const door = await FrontDoor.listen({
    hostname: config.hostname,
    port: config.port,
    ...tls,
    limits: config.limits,
    refusals,
    relayPort: inner.port,
    handle: (request, remoteAddr, raw) => {
      if (raw) rawUpgrades.set(request, raw);
      return handler(request, { remoteAddr, completed: Promise.resolve() });
    },
  });
  gw.peerOf = (addr) => door.peerOf(addr.port) ?? addr;
  gw.door = door;
  const addr = door.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `${config.cert ? "wss" : "ws"}://${
    host === "0.0.0.0" ? "127.0.0.1" : host
  }:${addr.port}/`;
  log.info("Serving {backend} logs at {url}; tokens {tokens}", {
    backend: backend.kind,
    url,
    tokens: auth.enabled ? "required" : "off",
  });
  let stopping: Promise<void> | undefined;
  const shutdown = () => stopping ??= stop(gw, server, door);
  return {
    url,
    port: addr.port,
    hub,
    backend,
    metrics,
    frontDoor: door,
    connections: () => sessions.size + gw.streams.size,
    finished: door.finished,
    shutdown,
    drain: () => drain(gw, shutdown),
    reloadKeys: () => auth.reload(),
  };
}

/** What the routes of one gateway share. */
interface GatewayParts {
  config: Config;
  backend: Backend;
  hub: Hub;
  sessions: Set<Session>;
  /** Open event streams (GET /logs/NAME/events); they count as connections too. */
  streams: Set<EventStream>;
  metrics: Metrics;
  /** What each limit refused: the one count behind /readyz and /metrics. */
  refusals: Refusals;
  /** Open sessions per client address. */
  perAddress: Map<string, number>;
  /** Log creations per client address. */
  creates: AddressRateLimits;
  auth: Auth;
  /** Frames and bytes sent by every session. */
  traffic: Traffic;
  /** Lame duck: `/readyz` answers 503. */
  draining: boolean;
  drainTimer?: ReturnType<typeof setTimeout>;
  /** The client behind a connection the internal server saw (the relay's address). */
  peerOf(addr: Deno.NetAddr): Deno.NetAddr;
  door?: FrontDoor;
}

/** Upgrade requests that came through the front door, with the connection to take over. */
const rawUpgrades = new WeakMap<Request, RawUpgrade>();

/** Connection ids, unique within the process. */
let lastConnectionId = 0;

async function drain(gw: GatewayParts, shutdown: () => Promise<void>): Promise<void> {
  if (gw.draining) return await shutdown();
  gw.draining = true;
  gw.metrics.set("gdpws_draining", 1);
  const ms = gw.config.limits.drainMs;
  log.info("Draining: /readyz answers 503; SHUTDOWN to {n} connections in {ms} ms", {
    n: gw.sessions.size + gw.streams.size,
    ms,
  });
  await new Promise((resolve) => gw.drainTimer = setTimeout(resolve, ms));
  await shutdown();
}

async function stop(gw: GatewayParts, server: Deno.HttpServer, door: FrontDoor): Promise<void> {
  const { config, hub, backend, sessions, metrics } = gw;
  clearTimeout(gw.drainTimer);
  log.info("Shutting down: {n} connections", { n: sessions.size });
  const allClosed = Promise.all([...sessions].map((session) => session.closed));
  for (const session of sessions) session.shutdown();
  for (const stream of gw.streams) stream.shutdown();
  // Clients get the grace period to read their SHUTDOWN events; the timer is
  // cleared when they are all gone sooner, so it does not hold the process open.
  const graceEnd = performance.now() + config.limits.shutdownGraceMs;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const graceOver = new Promise((resolve) => {
    grace = setTimeout(resolve, config.limits.shutdownGraceMs);
  });
  await Promise.race([allClosed, graceOver]).finally(() => clearTimeout(grace));
  // What is still open (event streams, relayed requests) gets the rest of the grace.
  await door.close(Math.max(0, graceEnd - performance.now()));
  await server.shutdown();
  await hub.close();
  await backend.close();
  metrics.close();
  log.info("Stopped");
}

function route(gw: GatewayParts): Handler {
  return async (request, info) => {
    const url = new URL(request.url);
    const path = url.pathname;
    const isUpgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (isUpgrade && path !== "/" && path !== "/ws") {
      return json({ error: "WebSocket upgrades are served at / and /ws" }, 404);
    }
    try {
      if (!isUpgrade && !isLogRoute(path)) return await servePublic(request, path, gw);
      // Every route that touches logs (upgrade, HTTP API, event stream) passes
      // the origin and token checks first.
      const access = await gw.auth.guard(request);
      if (!access.ok) return refused(gw, access, info, path, isUpgrade);
      if (request.method === "OPTIONS") return gw.auth.preflight(access);
      if (isUpgrade) return upgrade(request, info, url, gw, access);
      const response = await serveLogs(request, info, url, gw, access.grant).catch((error) =>
        errorResponse(GdpError.from(error), gw.metrics)
      );
      for (const [name, value] of Object.entries(access.cors)) response.headers.set(name, value);
      return response;
    } catch (error) {
      return errorResponse(GdpError.from(error), gw.metrics);
    }
  };
}

/** The HTTP API and event streams: everything under `/logs`. */
function isLogRoute(path: string): boolean {
  return path === "/logs" || path.startsWith("/logs/");
}

/** Counts and logs (once, with the reason and never the token) a request the guard refused. */
function refused(
  gw: GatewayParts,
  access: Access & { ok: false },
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  path: string,
  isUpgrade: boolean,
): Response {
  gw.metrics.inc("gdpws_auth_failures_total", { reason: access.kind });
  if (isUpgrade) {
    const result = access.kind === "origin" ? "origin" : "unauthorized";
    gw.metrics.inc("gdpws_handshakes_total", { result });
  }
  gw.metrics.inc("gdpws_errors_total", { code: access.response.status });
  const peer = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
  log.warning("Refused {peer} {path}: {reason}", { peer, path, reason: access.reason });
  return access.response;
}

function upgrade(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  url: URL,
  gw: GatewayParts,
  access: Access & { ok: true },
): Response {
  const { config, hub, sessions, metrics, perAddress, refusals } = gw;
  const raw = rawUpgrades.get(request);
  if (!raw) {
    // Only the front door can take a connection over (frame limits, close codes).
    return json({ error: "a WebSocket upgrade needs a connection of its own" }, 400);
  }
  const problem = handshakeProblem(request.method, raw.httpVersion, request.headers);
  if (problem) return handshakeRefusal(problem);
  // remoteAddr is gone once the request has been upgraded.
  const peer = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
  const address = info.remoteAddr.hostname;
  const refused = connectionRefusal(gw, address, peer);
  if (refused) return refused;
  const offered = (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim()).filter((p) => p);
  const batch = offered.includes(BATCH_PROTOCOL) || url.searchParams.get("batch") === "1";
  const socket = raw.accept(chosenProtocol(offered, access.bearerProtocol));
  const session = new Session(socket, hub, {
    limits: config.limits,
    batch,
    autoCreate: config.autoCreate,
    peer,
    id: `c${++lastConnectionId}`,
    metrics,
    refusals,
    createGate: () => allowCreate(gw, address),
    traffic: gw.traffic,
    ...(access.grant ? { grant: access.grant, verify: (t: string) => gw.auth.verify(t) } : {}),
  });
  metrics.inc("gdpws_handshakes_total", { result: "accepted" });
  metrics.inc("gdpws_connections_total");
  sessions.add(session);
  countAddress(perAddress, address, 1);
  socket.addEventListener("close", () => {
    sessions.delete(session);
    countAddress(perAddress, address, -1);
  });
  // The front door writes the 101; this response is not sent.
  return new Response(null, { status: 200 });
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

/** 503 when --max-connections or --max-connections-per-address is reached, else undefined. */
function connectionRefusal(gw: GatewayParts, address: string, peer: string): Response | undefined {
  const { config, sessions, streams, metrics, perAddress, refusals } = gw;
  const full = sessions.size + streams.size >= config.limits.maxConnections
    ? "maxConnections"
    : (perAddress.get(address) ?? 0) >= config.limits.maxConnectionsPerAddress
    ? "maxConnectionsPerAddress"
    : undefined;
  if (!full) return undefined;
  refusals[full].refused++;
  metrics.inc("gdpws_handshakes_total", { result: "limit" });
  const max = config.limits[full];
  const what = full === "maxConnections" ? "open" : `open from ${address}`;
  log.warning("Refused {peer}: {limit} limit: {max} {what}", {
    peer,
    limit: limitLabel(full),
    max,
    what,
  });
  const error = GdpError.of(503, `too many connections (${max} ${what})`);
  return json({ ep_stat: error.epStat }, 503);
}

/** Counts one more (`by` 1) or one fewer (-1) connection from `address`. */
function countAddress(perAddress: Map<string, number>, address: string, by: 1 | -1): void {
  const count = (perAddress.get(address) ?? 0) + by;
  if (count > 0) perAddress.set(address, count);
  else perAddress.delete(address);
}

/** `/logs/NAME/events`: NAME is one path segment (a "/" in a name is sent as %2F). */
const EVENTS_PATH = /^\/logs\/([^/]+)\/events$/;

/** `GET /logs/NAME/events?start=&count=`: the log as Server-Sent Events (events.ts). */
async function eventStream(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  url: URL,
  encodedName: string,
  gw: GatewayParts,
  grant: Grant | undefined,
): Promise<Response> {
  if (request.method !== "GET") return json({ error: "use GET" }, 405, { allow: "GET" });
  const { config, backend, hub, streams, perAddress } = gw;
  const name = checkLogname(decodeName(encodedName), config.limits.maxLognameLength);
  permit(grant, "read", name);
  const subscription = parseEventsRequest(name, url, request.headers, config.limits);
  // 204 tells a browser's EventSource to stop reconnecting.
  if (subscription === "done") return new Response(null, { status: 204 });
  const address = info.remoteAddr.hostname;
  const refused = connectionRefusal(gw, address, `${address}:${info.remoteAddr.port}`);
  if (refused) return refused;
  // A missing log is a 404 before the stream starts, so EventSource does not retry it forever.
  await backend.info(name);
  countAddress(perAddress, address, 1);
  // A stream must not outlive its token: at `exp` it ends with a 401 FAILURE event.
  const cancelExpiry = atExpiry(
    grant,
    () => stream.fail(GdpError.of(401, "the token has expired")),
  );
  const stream: EventStream = new EventStream(hub, subscription, config.limits, () => {
    cancelExpiry();
    streams.delete(stream);
    countAddress(perAddress, address, -1);
  });
  streams.add(stream);
  return stream.response;
}

/** The answer to a malformed upgrade: 400, 405 or 426, naming the problem. */
function handshakeRefusal(problem: HandshakeProblem): Response {
  const headers: Record<string, string> = problem.status === 426
    ? { "sec-websocket-version": WEBSOCKET_VERSION }
    : problem.status === 405
    ? { allow: "GET" }
    : {};
  return json({ error: problem.error }, problem.status, headers);
}

/** Throws 429 when `address` has created its share of logs this minute. */
function allowCreate(gw: GatewayParts, address: string): void {
  if (gw.creates.take(address)) return;
  const max = gw.config.limits.maxLogCreatesPerMinute;
  throw refuse(
    gw.refusals,
    "maxLogCreatesPerMinute",
    GdpError.of(429, `more than ${max} new logs per minute from ${address}`),
  );
}

/** Routes open to anyone: health, readiness, metrics and the console's files. */
async function servePublic(request: Request, path: string, gw: GatewayParts): Promise<Response> {
  const { backend, hub, metrics } = gw;
  if (path === "/healthz") return json({ status: "ok" });
  if (path === "/readyz") {
    const state = gw.draining
      ? { ready: false, state: "draining", detail: "the gateway is shutting down" }
      : backend.state();
    const counters = backend.counters?.();
    const body = {
      backend: backend.kind,
      ...state,
      ...hub.stats(),
      connections: gw.sessions.size + gw.streams.size,
      ...(gw.door ? { front: gw.door.stats() } : {}),
      limits: gw.refusals,
      ...(counters ? { counters } : {}),
    };
    return json(body, state.ready ? 200 : 503);
  }
  if (path === "/metrics" && request.method === "GET") {
    return new Response(await metrics.text(), { headers: { "content-type": metrics.contentType } });
  }
  const page = consoleResponse(request.method, path);
  if (page) return page;
  return json({ error: `nothing at ${path}` }, 404);
}

/**
 * The HTTP API and event streams; `grant` (when tokens are on) limits which
 * logs they show, stream and append to.
 */
async function serveLogs(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  url: URL,
  gw: GatewayParts,
  grant: Grant | undefined,
): Promise<Response> {
  const { config, backend } = gw;
  const method = request.method;
  const path = url.pathname;
  if (path === "/logs" && method === "GET") return await listLogs(url, gw, grant);
  const events = path.match(EVENTS_PATH);
  if (events) return await eventStream(request, info, url, events[1]!, gw, grant);
  if (path.startsWith("/logs/") && path.length > 6) {
    const name = checkLogname(decodeName(path.slice(6)), config.limits.maxLognameLength);
    if (method === "GET") {
      permit(grant, "read", name);
      return json(infoObject(await backend.info(name)));
    }
    if (method === "POST") {
      permit(grant, "append", name);
      const address = info.remoteAddr.hostname;
      const create = config.autoCreate && (() => allowCreate(gw, address));
      return await appendFromHttp(request, name, gw, create);
    }
    return json({ error: "use GET or POST" }, 405, { allow: "GET, POST" });
  }
  return json({ error: `nothing at ${path}` }, 404);
}

/**
 * `GET /logs[?after=LABEL][&limit=N]`: a page of logs in label order. A full
 * page has a `Link: <…>; rel="next"` header; building it is bounded by the page.
 */
async function listLogs(url: URL, gw: GatewayParts, grant: Grant | undefined): Promise<Response> {
  const max = gw.config.limits.maxListLogs;
  const limitParam = url.searchParams.get("limit");
  const limit = limitParam === null ? max : Number(limitParam);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw GdpError.badRequest("limit", `must be an integer from 1 to ${max}`);
  }
  const after = url.searchParams.get("after") ?? undefined;
  const page = (await gw.backend.list({ limit, ...(after ? { after } : {}) })).slice(0, limit);
  const headers: Record<string, string> = {};
  const last = page.at(-1);
  if (page.length === limit && last) {
    const next = new URLSearchParams({ after: last.human ?? last.name, limit: String(limit) });
    headers.link = `</logs?${next}>; rel="next"`;
  }
  // A token sees the logs its read claims cover (a page may come out short).
  const readable = (info: LogInfo) =>
    allows(grant, "read", info.name) ||
    (info.human !== undefined && allows(grant, "read", info.human));
  return json(page.filter(readable).map(infoObject), 200, headers);
}

async function appendFromHttp(
  request: Request,
  name: string,
  gw: GatewayParts,
  create: CreatePolicy,
): Promise<Response> {
  const body = await readBody(request, gw.config.limits.maxRecordBytes, gw.refusals);
  const record = await gw.hub.append(name, body, create);
  gw.metrics.inc("gdpws_records_in_total", { via: "http" });
  return json({ logname: name, recno: record.recno, ts: tsObject(record.ts) }, 201);
}

/** The request body, refused (413) as soon as it passes `max` bytes: never buffered whole. */
async function readBody(request: Request, max: number, refusals: Refusals): Promise<Uint8Array> {
  const tooBig = () =>
    refuse(refusals, "maxRecordBytes", GdpError.of(413, `the body is over the ${max}-byte limit`));
  if (Number(request.headers.get("content-length") ?? 0) > max) throw tooBig();
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooBig();
    }
    chunks.push(value);
  }
  return concat(chunks);
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
  // Only the unexpected: 503 and 507 are states the operator sees elsewhere.
  if (status === 500) log.error("HTTP request failed: {error}", { error });
  return json({ ep_stat: error.epStat }, status);
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
