/**
 * The bare-Deno baseline: a minimal `Deno.serve` WebSocket broadcaster that
 * speaks just enough of the gateway's protocol for the benchmark clients. An
 * `append` is acknowledged (type 5) and broadcast to every live subscriber of
 * that log as the same record frame the gateway sends (Python separators, or
 * compact JSON arrays in batch mode). Appends of one turn go out together, as
 * the gateway's group commit sends them, so batch mode batches alike. There is no store, no history, no hub
 * and no limits: what the gateway costs beyond this is its own overhead.
 *
 * Prints `{"event": "ready", "port": N}` once listening. `GET /stats` answers
 * `{"subscribers": N}`.
 *
 * @example
 * ```sh
 * deno run --allow-net bench/raw_server.ts 0
 * ```
 *
 * @module
 */

import { emit } from "./common.ts";

const BATCH_PROTOCOL = "gdp-ws.batch";

interface Sub {
  socket: WebSocket;
  batch: boolean;
  logname: string;
  remaining: number;
}

interface Conn {
  socket: WebSocket;
  batch: boolean;
  queue: string[];
}

const subs = new Set<Sub>();
const conns = new Map<WebSocket, Conn>();
const recnos = new Map<string, number>();

function ts(): string {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  return `{"tv_sec": ${sec}, "tv_nsec": ${Math.round((ms - sec * 1000) * 1e6)}, ` +
    `"tv_accuracy": 0.0}`;
}

function send(conn: Conn, text: string): void {
  if (!conn.batch) return conn.socket.send(text);
  if (conn.queue.push(text) === 1) {
    queueMicrotask(() => {
      const frame = `[${conn.queue.join(",")}]`;
      conn.queue = [];
      if (conn.socket.readyState === WebSocket.OPEN) conn.socket.send(frame);
    });
  }
}

/** Appends received this turn, broadcast together on the next `setImmediate`. */
let pending: { conn: Conn; logname: string; data: string }[] = [];

/**
 * Queues an append. Like the gateway, which commits the appends of one turn
 * together (group commit on `setImmediate`) and fans them out as they commit,
 * the baseline broadcasts a turn's appends together: batch-mode sockets then
 * get them in one frame, as the gateway's do, so the batch rows compare alike.
 */
function onAppend(conn: Conn, logname: string, data: string): void {
  if (pending.push({ conn, logname, data }) === 1) setImmediate(flushAppends);
}

function flushAppends(): void {
  const appends = pending;
  pending = [];
  for (const { conn, logname, data } of appends) broadcast(conn, logname, data);
}

function broadcast(conn: Conn, logname: string, data: string): void {
  const recno = (recnos.get(logname) ?? 0) + 1;
  recnos.set(logname, recno);
  const name = JSON.stringify(logname);
  const python = `{"logname": ${name}, "ep_stat": [200, "OK"], "datum": {"recno": ${recno}, ` +
    `"data": ${JSON.stringify(data)}, "ts": ${ts()}}, "type": 1}`;
  let compact: string | undefined;
  for (const sub of subs) {
    if (sub.logname !== logname) continue;
    const to = conns.get(sub.socket);
    if (!to) continue;
    send(to, sub.batch ? compact ??= JSON.stringify(JSON.parse(python)) : python);
    if (--sub.remaining === 0) {
      subs.delete(sub);
      send(to, `{"logname": ${name}, "ep_stat": [200, "OK"], "type": 2}`);
    }
  }
  send(
    conn,
    `{"logname": ${name}, "ep_stat": [200, "OK"], "datum": {"recno": ${recno}}, "type": 5}`,
  );
}

function onMessage(conn: Conn, data: unknown): void {
  const request = JSON.parse(typeof data === "string" ? data : "{}") as Record<string, unknown>;
  if (typeof request.append === "string") {
    return onAppend(conn, request.append, String(request.data ?? ""));
  }
  if (typeof request.logname === "string") {
    const numrec = typeof request.numrec === "number" ? request.numrec : 1;
    subs.add({
      socket: conn.socket,
      batch: conn.batch,
      logname: request.logname,
      remaining: numrec === 0 ? Infinity : numrec,
    });
  }
}

function handler(request: Request): Response {
  const url = new URL(request.url);
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    if (url.pathname === "/stats") return Response.json({ subscribers: subs.size });
    return new Response("not found", { status: 404 });
  }
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
    .map((p) => p.trim());
  const batch = offered.includes(BATCH_PROTOCOL) || url.searchParams.get("batch") === "1";
  const { socket, response } = Deno.upgradeWebSocket(
    request,
    offered.includes(BATCH_PROTOCOL) ? { protocol: BATCH_PROTOCOL } : {},
  );
  const conn: Conn = { socket, batch, queue: [] };
  conns.set(socket, conn);
  socket.onmessage = (e) => onMessage(conn, e.data);
  socket.onclose = () => {
    conns.delete(socket);
    for (const sub of subs) if (sub.socket === socket) subs.delete(sub);
  };
  socket.onerror = () => {};
  return response;
}

if (import.meta.main) {
  Deno.serve({
    port: Number(Deno.args[0] ?? 0),
    hostname: "127.0.0.1",
    onListen: ({ port }) => emit({ event: "ready", port }),
  }, handler);
}
