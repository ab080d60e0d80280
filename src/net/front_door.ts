/**
 * The front door: the gateway's own accept loop on the public port, because
 * `Deno.serve` hides its loop (an `EMFILE` there ends the process, and a
 * connection that never finishes its request head is kept forever). Here each
 * connection must send its request head within `handshakeTimeoutMs` (else 408),
 * at most `maxHandshakes` may be doing so at once, and intake stops (503) below
 * the process's file-descriptor limit. Then:
 *
 * - a WebSocket upgrade is answered here, with {@linkcode ServerWebSocket} on
 *   the same connection (one descriptor per client);
 * - an HTTP/1.1 request without a body (GET /healthz, /readyz, /logs, …) is
 *   answered here too, by the same handler, on a kept-alive connection whose
 *   next head is under the same timeout;
 * - a request with a body (or HTTP/1.0) is relayed byte for byte to the
 *   gateway's `Deno.serve` on an internal loopback port, which streams bodies.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "../config.ts";
 * import { makeRefusals } from "../limits.ts";
 *
 * const internal = Deno.serve({ hostname: "127.0.0.1", port: 0 }, () => new Response("relayed"));
 * const door = await FrontDoor.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: DEFAULT_LIMITS,
 *   refusals: makeRefusals(DEFAULT_LIMITS),
 *   relayPort: internal.addr.port,
 *   handle: () => new Response("hello"),
 * });
 * console.log(door.addr.port);
 * await door.close();
 * await internal.shutdown();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { createHash } from "node:crypto";
import type { Limits } from "../config.ts";
import { fdLimit } from "../io/fd_limit.ts";
import type { Refusals } from "../limits.ts";
import { LogThrottle } from "../ops/throttle.ts";
import { ServerWebSocket } from "./websocket/mod.ts";
import { concat } from "../io/bytes.ts";
import { closeQuietly } from "../io/conn.ts";

/** What an upgrade handler gets besides the request: the connection, to accept. */
export interface RawUpgrade {
  /** `HTTP/1.1`, or whatever the request line said. */
  readonly httpVersion: string;
  /** Takes the connection over as a WebSocket; the 101 is written when the handler returns. */
  accept(options: { protocol?: string }): ServerWebSocket;
}

export interface FrontDoorOptions {
  hostname: string;
  port: number;
  /** PEM texts: serve TLS. */
  cert?: string;
  key?: string;
  limits: Limits;
  refusals: Refusals;
  /** Loopback port of the `Deno.serve` that answers everything but upgrades. */
  relayPort: number;
  /** Answers a request; for a WebSocket upgrade `raw` is given, and `raw.accept` takes it. */
  handle(request: Request, peer: Deno.NetAddr, raw?: RawUpgrade): Response | Promise<Response>;
}

/** Counts the front door keeps, for /readyz. */
export interface FrontDoorStats {
  /** Client connections open now (WebSockets, relayed HTTP, heads in progress). */
  open: number;
  handshakes: number;
  relays: number;
  /** The soft `RLIMIT_NOFILE` read at start, when it could be read. */
  fdLimit?: number;
  /** Descriptors the front door may use: the limit less `fdReserve`. */
  fdBudget?: number;
  /** Accepts that failed (EMFILE and the like) and were retried. */
  acceptErrors: number;
}

const log = getLogger(["gdp-ws", "front"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HEAD_BYTES = 16 * 1024;
/** Descriptors one relayed connection costs besides the client's: ours and Deno.serve's. */
const RELAY_FDS = 2;
const ACCEPT_RETRY_MS = 50;

export class FrontDoor {
  readonly addr: Deno.NetAddr;
  /** Settles when the accept loop has stopped. */
  readonly finished: Promise<void>;
  readonly #listener: Deno.Listener;
  readonly #options: FrontDoorOptions;
  readonly #conns = new Set<Deno.Conn>();
  /** Relayed connections by the local port the internal server sees, to their clients. */
  readonly #relayPeers = new Map<number, Deno.NetAddr>();
  readonly #relayConns = new Set<Deno.Conn>();
  /** Kept-alive connections between requests: closed at once on shutdown. */
  readonly #idle = new Set<Deno.Conn>();
  /** Resolves close()'s wait when the last connection has gone. */
  #emptied: (() => void) | undefined;
  #handshakes = 0;
  #acceptErrors = 0;
  readonly #fdLimit: number | undefined;
  readonly #errors = new LogThrottle(10_000);
  #closed = false;

  private constructor(listener: Deno.Listener, options: FrontDoorOptions, limit?: number) {
    this.#listener = listener;
    this.#options = options;
    this.#fdLimit = limit;
    this.addr = listener.addr as Deno.NetAddr;
    this.finished = this.#acceptLoop();
  }

  /** Listens on `options.hostname:options.port` (TLS with cert and key). */
  static async listen(options: FrontDoorOptions): Promise<FrontDoor> {
    const { hostname, port, cert, key } = options;
    const listener = cert && key
      ? Deno.listenTls({ hostname, port, cert, key })
      : Deno.listen({ hostname, port });
    const limit = await fdLimit();
    const door = new FrontDoor(listener, options, limit);
    door.#logBudget();
    return door;
  }

  /** The client behind a relayed connection, by the port the internal server saw. */
  peerOf(relayLocalPort: number): Deno.NetAddr | undefined {
    return this.#relayPeers.get(relayLocalPort);
  }

  stats(): FrontDoorStats {
    const stats: FrontDoorStats = {
      open: this.#conns.size,
      handshakes: this.#handshakes,
      relays: this.#relayConns.size,
      acceptErrors: this.#acceptErrors,
    };
    if (this.#fdLimit !== undefined) {
      stats.fdLimit = this.#fdLimit;
      stats.fdBudget = this.#budget()!;
    }
    return stats;
  }

  /**
   * Stops accepting, closes kept-alive connections waiting for a request, gives
   * the others up to `graceMs` to finish (a response, an event stream's last
   * event, a WebSocket's close), then closes whatever is left.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const conn of this.#idle) closeQuietly(conn);
    if (this.#conns.size > 0 && graceMs > 0) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#emptied = resolve;
      const timer = setTimeout(resolve, graceMs);
      await promise;
      clearTimeout(timer);
    }
    for (const conn of [...this.#relayConns, ...this.#conns]) closeQuietly(conn);
    await this.finished;
  }

  #budget(): number | undefined {
    return this.#fdLimit === undefined
      ? undefined
      : Math.max(1, this.#fdLimit - this.#options.limits.fdReserve);
  }

  /** Descriptors in use by client connections and relays. */
  #fdsInUse(): number {
    return this.#conns.size + RELAY_FDS * this.#relayConns.size;
  }

  #logBudget(): void {
    const budget = this.#budget();
    if (budget === undefined) {
      log.warning(
        "File-descriptor limit unknown (/proc/self/limits not readable): " +
          "intake is bounded by --max-connections only",
      );
      return;
    }
    const { maxConnections } = this.#options.limits;
    log.info("File-descriptor limit {limit}: intake stops at {budget} descriptors in use", {
      limit: this.#fdLimit,
      budget,
    });
    if (maxConnections > budget) {
      log.warning(
        "--max-connections {max} is over what the descriptor limit allows ({budget}); " +
          "raise ulimit -n to serve that many",
        { max: maxConnections, budget },
      );
    }
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) break;
        // EMFILE and its kind: the process lives; the client waits in the backlog.
        this.#acceptErrors++;
        const suppressed = this.#errors.due(String(error));
        if (suppressed !== undefined) {
          log.error("Accept failed, retrying: {error} ({suppressed} more)", { error, suppressed });
        }
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      this.#conns.add(conn);
      this.#serve(conn).then((kept) => {
        if (!kept) this.#release(conn);
      }, (error) => {
        log.debug("Connection failed: {error}", { error });
        this.#release(conn);
      });
    }
  }

  #release(conn: Deno.Conn): void {
    closeQuietly(conn);
    this.#forget(conn);
  }

  /** A connection its WebSocket has closed (closing it again would cost a thrown Error). */
  #forget(conn: Deno.Conn): void {
    this.#conns.delete(conn);
    if (this.#conns.size === 0) this.#emptied?.();
  }

  /**
   * One connection, from its first byte until it is handed on or refused; true
   * when a WebSocket has taken it over and releases it on close. Nothing waits
   * here for the WebSocket's life: an idle socket must not keep the request,
   * its head or a suspended call per connection.
   */
  async #serve(conn: Deno.Conn): Promise<boolean> {
    const head = await this.#firstHead(conn);
    if (head === undefined) return false;
    if (head.headers.get("upgrade")?.toLowerCase() === "websocket") {
      return await this.#upgrade(conn, head);
    }
    await this.#serveHttp(conn, head);
    return false;
  }

  /** The first request head, or undefined when the connection was refused or left. */
  async #firstHead(conn: Deno.Conn): Promise<ParsedHead | undefined> {
    const { limits, refusals } = this.#options;
    const budget = this.#budget();
    if (budget !== undefined && this.#fdsInUse() > budget) {
      refusals.fdReserve.refused++;
      return await refuse(conn, 503, "the gateway is at its file-descriptor limit; try again");
    }
    if (this.#handshakes >= limits.maxHandshakes) {
      refusals.maxHandshakes.refused++;
      return await refuse(conn, 503, "too many connections are still sending their request");
    }
    this.#handshakes++;
    let head: Head | undefined;
    try {
      head = await readHead(conn, limits.handshakeTimeoutMs);
    } finally {
      this.#handshakes--;
    }
    if (head === "timeout") {
      refusals.handshakeTimeoutMs.refused++;
      return await refuse(conn, 408, "the request head did not arrive in time");
    }
    if (head === "too big") return await refuse(conn, 431, "the request head is too large");
    if (head === "malformed") return await refuse(conn, 400, "the request head is malformed");
    if (head === "version") return await refuse(conn, 505, "only HTTP/1.1 (and 1.0) are served");
    return head;
  }

  /** Answers body-less HTTP/1.1 requests here, keeping the connection; relays the rest. */
  async #serveHttp(conn: Deno.Conn, first: ParsedHead): Promise<void> {
    let head: Head = first;
    while (typeof head === "object") {
      const hasBody = head.headers.has("content-length") &&
          head.headers.get("content-length") !== "0" ||
        head.headers.has("transfer-encoding");
      const upgrade = head.headers.get("upgrade")?.toLowerCase() === "websocket";
      if (hasBody || upgrade || head.version !== "HTTP/1.1" || head.rest.length > 0) {
        return await this.#relay(conn, head);
      }
      const request = toRequest(head, this.addr);
      if (!request) return await refuse(conn, 400, "the request target or Host is malformed");
      const keepAlive = !/\bclose\b/i.test(head.headers.get("connection") ?? "");
      const response = await this.#options.handle(request, conn.remoteAddr as Deno.NetAddr);
      await writeStreamed(conn, response, head.method === "HEAD", keepAlive);
      if (!keepAlive || this.#closed) return;
      this.#idle.add(conn);
      try {
        head = await readHead(conn, this.#options.limits.handshakeTimeoutMs);
      } finally {
        this.#idle.delete(conn);
      }
    }
  }

  /** Answers an upgrade; true when it was accepted and the socket now owns `conn`. */
  async #upgrade(conn: Deno.Conn, head: ParsedHead): Promise<boolean> {
    const socket = await this.#handshake(conn, head);
    if (!socket) return false;
    socket.addEventListener("close", () => this.#forget(conn));
    socket.start();
    return true;
  }

  /**
   * Runs the handler; when it accepts, writes the 101 and returns the socket
   * (not yet started). The request and its head are garbage once this returns.
   */
  async #handshake(conn: Deno.Conn, head: ParsedHead): Promise<ServerWebSocket | undefined> {
    const request = toRequest(head, this.addr);
    if (!request) return await refuse(conn, 400, "the request target or Host is malformed");
    let socket: ServerWebSocket | undefined;
    const raw: RawUpgrade = {
      httpVersion: head.version,
      accept: (options) => socket = this.#newSocket(conn, head, options.protocol),
    };
    const response = await this.#options.handle(request, conn.remoteAddr as Deno.NetAddr, raw);
    if (!socket) return await writeResponse(conn, response);
    try {
      await writeAll(conn, switchingProtocols(head, socket.protocol));
    } catch (error) {
      // The handler counted the socket (sessions, per-address): its close lets go.
      socket.abort();
      throw error;
    }
    return socket;
  }

  #newSocket(conn: Deno.Conn, head: ParsedHead, protocol: string | undefined): ServerWebSocket {
    const { maxFrameBytes, maxFragments, sendQueueBytes, idleTimeoutSec } = this.#options.limits;
    return new ServerWebSocket(conn, {
      maxMessageBytes: maxFrameBytes,
      maxFragments,
      maxQueuedBytes: sendQueueBytes,
      idleTimeoutSec,
      ...(protocol ? { protocol } : {}),
      // A copy: `rest` is a view that would keep the whole head's buffer alive.
      ...(head.rest.length > 0 ? { initial: head.rest.slice() } : {}),
    });
  }

  /** Hands the connection to the internal HTTP server, bytes both ways. */
  async #relay(conn: Deno.Conn, head: ParsedHead): Promise<void> {
    const budget = this.#budget();
    if (budget !== undefined && this.#fdsInUse() + RELAY_FDS > budget) {
      this.#options.refusals.fdReserve.refused++;
      return await refuse(conn, 503, "the gateway is at its file-descriptor limit; try again");
    }
    let inner: Deno.TcpConn;
    try {
      inner = await Deno.connect({ hostname: "127.0.0.1", port: this.#options.relayPort });
    } catch {
      return await refuse(conn, 503, "the gateway cannot take this request now; try again");
    }
    const localPort = (inner.localAddr as Deno.NetAddr).port;
    this.#relayPeers.set(localPort, conn.remoteAddr as Deno.NetAddr);
    this.#relayConns.add(inner);
    try {
      await writeAll(inner, closingHead(head));
      // The client's end of input half-closes the inner connection (the
      // response still comes back); a client reset closes it outright. The
      // relay ends with the response: the inner server closes after one request.
      void pipe(conn, inner).then(
        () => inner.closeWrite().catch(() => {}),
        () => closeQuietly(inner),
      );
      await pipe(inner, conn).catch(() => {});
    } finally {
      this.#relayPeers.delete(localPort);
      this.#relayConns.delete(inner);
      closeQuietly(inner);
    }
  }
}

/**
 * `head` as relayed, with `Connection: close`: the relay's server answers one
 * request and closes, so each later request comes back through the front door
 * and its head timeout. Bytes already read past the head follow it.
 */
function closingHead(head: ParsedHead): Uint8Array {
  const lines = [`${head.method} ${head.target} ${head.version}`];
  for (const [name, value] of head.headers) {
    if (name !== "connection" && name !== "keep-alive") lines.push(`${name}: ${value}`);
  }
  lines.push("connection: close");
  return concat([encoder.encode(lines.join("\r\n") + "\r\n\r\n"), head.rest]);
}

/** The 101 answering `head`, agreeing on `protocol` unless it is empty. */
function switchingProtocols(head: ParsedHead, protocol: string): Uint8Array {
  const key = head.headers.get("sec-websocket-key")!.trim();
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  const lines = [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${accept}`,
    ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
  ];
  return encoder.encode(lines.join("\r\n") + "\r\n\r\n");
}

/** A request head as read: the request line, headers, and any bytes after it. */
interface ParsedHead {
  method: string;
  target: string;
  version: string;
  headers: Headers;
  /** Bytes after the head. */
  rest: Uint8Array;
}

type Head = ParsedHead | "timeout" | "too big" | "malformed" | "version" | undefined;

/** An HTTP method (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An origin-form target (or `*`), printable ASCII only. */
const TARGET = /^(\/[\x21-\x7e]*|\*)$/;

/** Reads up to the blank line ending the head; undefined if the client left. */
async function readHead(conn: Deno.Conn, timeoutMs: number): Promise<Head> {
  let timedOut = false;
  const readAbort = new AbortController();
  const timer = setTimeout(() => {
    timedOut = true;
    // Stops waiting for the read (a read cannot be cancelled; closing the socket ends it).
    readAbort.abort();
  }, timeoutMs);
  const aborted = new Promise<null>((resolve) => {
    readAbort.signal.addEventListener("abort", () => resolve(null), { once: true });
  });
  let bytes = new Uint8Array(0);
  try {
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await Promise.race([conn.read(buffer), aborted]);
      if (timedOut) return "timeout";
      if (n === null) return undefined;
      bytes = concat([bytes, buffer.subarray(0, n)]);
      const end = headEnd(bytes);
      if (end >= 0) return parseHead(bytes, end);
      if (bytes.length > MAX_HEAD_BYTES) return "too big";
    }
  } catch {
    return timedOut ? "timeout" : undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** Index just past `\r\n\r\n`, or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      return i + 1;
    }
  }
  return -1;
}

function parseHead(bytes: Uint8Array, end: number): ParsedHead | "malformed" | "version" {
  const text = decoder.decode(bytes.subarray(0, end - 4));
  const [requestLine, ...lines] = text.split("\r\n");
  // Checked here, strictly: what passes is relayed, and the relay's server
  // answers what it cannot parse with an empty 400 instead of JSON.
  const parts = requestLine!.split(" ");
  if (parts.length !== 3 || !TOKEN.test(parts[0]!) || !TARGET.test(parts[1]!)) return "malformed";
  if (!/^HTTP\/\d\.\d$/.test(parts[2]!)) return "malformed";
  if (parts[2] !== "HTTP/1.1" && parts[2] !== "HTTP/1.0") return "version";
  const headers = new Headers();
  try {
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) return "malformed";
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  } catch {
    return "malformed";
  }
  if (!framingOk(parts[2]!, headers)) return "malformed";
  return {
    method: parts[0]!,
    target: parts[1]!,
    version: parts[2]!,
    headers,
    rest: bytes.subarray(end),
  };
}

/**
 * The body's framing is one the relay's server accepts: a decimal length, or
 * chunked in HTTP/1.1, never both. (It would answer the rest with an empty 400.)
 */
function framingOk(version: string, headers: Headers): boolean {
  const length = headers.get("content-length");
  const coding = headers.get("transfer-encoding");
  if (length !== null && !/^\d{1,15}$/.test(length)) return false;
  if (coding === null) return true;
  return length === null && version === "HTTP/1.1" && coding.toLowerCase() === "chunked";
}

/** Copies `from` to `to` until `from` ends (resolves) or either side fails (rejects). */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) return;
    await writeAll(to, buffer.subarray(0, n));
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** A body-less `Request` for `head`, or undefined when its target or Host is malformed. */
function toRequest(head: ParsedHead, addr: Deno.NetAddr): Request | undefined {
  try {
    const host = head.headers.get("host") ?? `${addr.hostname}:${addr.port}`;
    return new Request(new URL(head.target, `http://${host}`), {
      method: head.method,
      headers: head.headers,
    });
  } catch {
    return undefined;
  }
}

/**
 * Writes `response` as HTTP/1.1. An event stream (which never ends) is sent
 * chunked as it is produced, each chunk written before the next is read; any
 * other body is read whole and goes out with its head in one write. Each write
 * after the first waits a turn of the event loop, and under load a turn is
 * milliseconds: `/healthz` in one write is answered in one.
 */
async function writeStreamed(
  conn: Deno.Conn,
  response: Response,
  headOnly: boolean,
  keepAlive: boolean,
): Promise<void> {
  const lines = [`HTTP/1.1 ${response.status} ${response.statusText || reason(response.status)}`];
  for (const [name, value] of response.headers) lines.push(`${name}: ${value}`);
  if (!keepAlive) lines.push("connection: close");
  const body = headOnly ? null : response.body;
  if (!body || !isEventStream(response)) {
    const bytes = body ? new Uint8Array(await response.arrayBuffer()) : new Uint8Array(0);
    if (!body) await response.body?.cancel();
    lines.push(`content-length: ${bytes.length}`);
    return await writeAll(conn, concat([encoder.encode(lines.join("\r\n") + "\r\n\r\n"), bytes]));
  }
  lines.push("transfer-encoding: chunked");
  await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length === 0) continue;
      const size = encoder.encode(`${value.length.toString(16)}\r\n`);
      await writeAll(conn, concat([size, value, encoder.encode("\r\n")]));
    }
    await writeAll(conn, encoder.encode("0\r\n\r\n"));
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
}

function isEventStream(response: Response): boolean {
  return response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
}

/** Writes `response` as HTTP/1.1 with `Connection: close`. */
async function writeResponse(conn: Deno.Conn, response: Response): Promise<undefined> {
  const body = new Uint8Array(await response.arrayBuffer());
  const lines = [`HTTP/1.1 ${response.status} ${response.statusText || reason(response.status)}`];
  for (const [name, value] of response.headers) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${body.length}`, "connection: close");
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  await writeAll(conn, concat([head, body])).catch(() => {});
}

/** A JSON error answer, then the connection is closed. */
async function refuse(conn: Deno.Conn, status: number, error: string): Promise<undefined> {
  const response = new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json" },
  });
  await writeResponse(conn, response);
}

function reason(status: number): string {
  return ({
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
    503: "Service Unavailable",
  } as Record<number, string>)[status] ?? "Error";
}
