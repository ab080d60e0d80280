/**
 * One WebSocket connection: decodes request frames, owns the connection's
 * subscriptions, and sends their events through its {@linkcode Outbox}, a
 * byte-bounded queue. A client
 * that falls behind by more than `sendQueueBytes` is closed with 1013; nothing
 * it does slows the hub or other sessions. No exception escapes a session:
 * every failure becomes a JSON error to this client.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { allows, atExpiry, forbidden, type Grant } from "../auth/grants.ts";
import type { Limits } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import { bytesOver } from "../io/bytes.ts";
import type { Subscription, SubscriptionSink } from "../fanout/subscription.ts";
import { limitLabel, RateLimit, type Refusals } from "../limits.ts";
import type { GatewayContext } from "./context.ts";
import { allowCreate } from "./create_gate.ts";
import { Outbox } from "./outbox.ts";
import { appendsClosed } from "./local_client.ts";
import {
  CloseCode,
  type CloseInfo,
  closeLabel,
  type ServerWebSocket,
  type SocketHandler,
  type SocketLimit,
} from "../net/websocket/mod.ts";
import {
  type AppendRequest,
  isFailure,
  parseFrame,
  type RefreshRequest,
  type RequestId,
  type SubscribeRequest,
} from "../wire/requests.ts";
import { EventType } from "../core/records.ts";
import {
  COMPACT_STYLE,
  encodeAppended,
  encodeError,
  encodeStatus,
  OK_STAT,
  PYTHON_STYLE,
  type ReplyAddress,
  SHUTDOWN_REASON,
  SHUTDOWN_STAT,
  type Style,
} from "../wire/events.ts";

/** What is this connection's own; everything else comes from the gateway's context. */
export interface SessionOptions {
  /** Batch mode: every frame is a JSON array of events (docs/protocol.md#batch-mode). */
  batch: boolean;
  /** The client's address, as counted by the connection limits and log creations. */
  address: string;
  /** The client as logged (its address, and the proxy's when it came through one). */
  peer: string;
  /** Connection id, carried on every log line of this connection. */
  id: string;
  /** False when this client may not append at all (no tokens and not a local client). */
  appendsOpen?: boolean;
  /** What the connection's token allows; absent when tokens are off. */
  grant?: Grant;
}

const noop = () => {};
const sessionLog = getLogger(["gdp-ws", "session"]);

/**
 * A session is its socket's handler (`onMessage`, `onClose`, …): methods the
 * socket calls, where closures would cost every idle connection one each.
 */
export class Session implements SubscriptionSink, SocketHandler {
  readonly style: Style;
  readonly #socket: ServerWebSocket;
  /** `closed`, once asked for, and its resolve. */
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #ended = false;
  /** The gateway's context, shared by every session: nothing in it is per connection. */
  readonly #gw: GatewayContext;
  readonly #limits: Limits;
  readonly #options: SessionOptions;
  readonly #subs = new Set<Subscription>();
  readonly #opened = Date.now();
  readonly #log: ReturnType<typeof sessionLog.with>;
  /** Limits this connection has met, each logged once (made at the first). */
  #logged: Set<string> | undefined;
  #grant: Grant | undefined;
  #cancelExpiry: () => void = noop;
  readonly #outbox: Outbox;
  #closing = false;
  #requests = 0;
  #events = 0;
  #subscribed = 0;
  readonly #rate: RateLimit;
  /** Messages were held back for the rate limit since the bucket was last full (one refusal). */
  #throttled = false;
  /** Asked before an append creates a log (made at this session's first append). */
  #createGate: (() => void) | undefined;

  /**
   * A session of `socket`, counted in `gw.connections` until it closes (the
   * caller checked that it fits the limits).
   */
  constructor(socket: ServerWebSocket, gw: GatewayContext, options: SessionOptions) {
    this.#socket = socket;
    this.#gw = gw;
    this.#limits = gw.config.limits;
    this.#options = options;
    this.#rate = new RateLimit(this.#limits.maxRequestRate, 1000);
    this.#log = sessionLog.with({ conn: options.id, peer: options.peer });
    this.#grant = options.grant;
    this.#scheduleExpiry();
    this.style = options.batch ? COMPACT_STYLE : PYTHON_STYLE;
    this.#outbox = new Outbox(socket, this, {
      batch: options.batch,
      sendQueueBytes: this.#limits.sendQueueBytes,
      traffic: gw.traffic,
    });
    socket.handler = this;
    gw.connections.openSession(this, options.address);
  }

  /** The socket opened. */
  onOpen(): void {
    this.#log.info("Open {conn} {peer} batch={batch}", { batch: this.#options.batch });
  }

  /** The socket wrote everything: a batch held meanwhile goes now. */
  onDrain(): void {
    this.#outbox.flush();
  }

  /**
   * Settles when the socket has closed. Made when asked for (by a shutdown):
   * a promise per idle connection that nobody awaits costs memory for nothing.
   */
  get closed(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return this.#closed ??= new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** Subscriptions this connection holds now. */
  get subscriptions(): number {
    return this.#subs.size;
  }

  /** Batch mode: DATA events joined by commas are one more stretch of the frame's array. */
  get joinsEvents(): boolean {
    return this.#options.batch;
  }

  send(text: string): void {
    if (this.#closing) return;
    this.#events++;
    this.#outbox.send(text);
  }

  /** Batch mode only (`joinsEvents`). */
  sendJoined(utf8: Uint8Array, _recno: number, count: number): void {
    if (this.#closing) return;
    this.#events += count;
    this.#outbox.sendJoined(utf8);
  }

  /** One object per frame: `count` events the store joined by newlines, a frame each. */
  sendLines(utf8: Uint8Array, _recno: number, count: number): void {
    if (this.#closing) return;
    this.#events += count;
    this.#outbox.sendLines(utf8, count);
  }

  /** Writes now what this session has for its socket (a batch, or frames sent one by one). */
  flush(): void {
    this.#outbox.flush();
    this.#socket.flush();
  }

  congested(): boolean {
    return this.#outbox.queued > this.#limits.sendQueueBytes / 2;
  }

  room(): number {
    return this.#limits.sendQueueBytes / 2 - this.#outbox.queued;
  }

  /** Bytes waiting for this socket: its buffer and an unsent batch. */
  get queuedBytes(): number {
    return this.#outbox.queued;
  }

  ended(sub: Subscription): void {
    this.#subs.delete(sub);
  }

  /** Ends every subscription with SHUTDOWN, then closes with 1001. */
  shutdown(): void {
    for (const sub of [...this.#subs]) {
      sub.end(EventType.SHUTDOWN, SHUTDOWN_STAT);
    }
    this.#outbox.flush(true);
    this.#close(CloseCode.GOING_AWAY, SHUTDOWN_REASON);
  }

  /** A request frame from the client. */
  onMessage(data: unknown): void {
    this.#requests++;
    try {
      if (typeof data !== "string" && !(data instanceof ArrayBuffer)) {
        throw GdpError.badRequest("frame", "must be text or binary");
      }
      if (bytesOver(data, this.#limits.maxFrameBytes)) return this.#frameTooBig();
      const request = parseFrame(data, this.#limits);
      if (isFailure(request)) {
        if (request.error.code === 413) this.#refused("maxRecordBytes", request.error.message);
        return this.#error(request.error, request);
      }
      if (request.op === "subscribe") this.#subscribe(request);
      else if (request.op === "unsubscribe") this.#unsubscribe(request.id);
      else if (request.op === "refresh") void this.#refresh(request);
      else void this.#append(request);
    } catch (error) {
      this.#error(GdpError.from(error), {});
    }
  }

  #subscribe(request: SubscribeRequest): void {
    if (!allows(this.#grant, "read", request.logname)) {
      return this.#error(forbidden("reading", request.logname), request);
    }
    if (this.#subs.size >= this.#limits.maxSubscriptions) {
      const max = this.#limits.maxSubscriptions;
      const error = GdpError.of(429, `at most ${max} subscriptions per connection`);
      this.#refused("maxSubscriptions", error.message);
      return this.#error(error, request);
    }
    try {
      this.#subs.add(this.#gw.hub.subscribe(request, this));
      this.#subscribed++;
    } catch (error) {
      this.#error(GdpError.from(error), request);
    }
  }

  /**
   * How long the socket holds the next message (it reads nothing meanwhile):
   * 0 within --max-request-rate, else until the rate allows it. Every message
   * counts, malformed ones included; the client is slowed by TCP, and nothing
   * it sent is refused or lost. A stretch of held messages counts one refusal;
   * it lasts until the client lets the bucket fill up again.
   */
  admit(): number {
    if (this.#throttled && this.#rate.full) this.#throttled = false;
    const hold = this.#rate.reserve();
    if (hold > 0 && !this.#throttled) {
      this.#throttled = true;
      const max = this.#limits.maxRequestRate;
      this.#refused("maxRequestRate", `more than ${max} requests per second: reading slowed`);
    }
    return hold;
  }

  #unsubscribe(id: RequestId): void {
    const matches = [...this.#subs].filter((sub) => sub.id === id);
    if (matches.length === 0) {
      return this.#error(
        GdpError.badRequest("unsubscribe", `names no subscription (id ${JSON.stringify(id)})`),
        { id },
      );
    }
    for (const sub of matches) sub.end(EventType.DONE, OK_STAT);
  }

  async #append(request: AppendRequest): Promise<void> {
    const address: ReplyAddress = { logname: request.logname };
    if (request.id !== undefined) address.id = request.id;
    try {
      if (!allows(this.#grant, "append", request.logname)) {
        throw forbidden("appending to", request.logname);
      }
      if (this.#options.appendsOpen === false) throw appendsClosed();
      const record = await this.#gw.hub.append(
        request.logname,
        request.data,
        this.#gw.config.autoCreate &&
          (this.#createGate ??= () => allowCreate(this.#gw, this.#options.address)),
      );
      this.#gw.metrics.inc("gdpws_records_in_total", { via: "ws" });
      this.send(encodeAppended(record, address, this.style));
    } catch (error) {
      this.#error(GdpError.from(error), address);
    }
  }

  /** A fresh token: its claims replace the old ones and its `exp` sets the new deadline. */
  async #refresh(request: RefreshRequest): Promise<void> {
    const address: ReplyAddress = request.id === undefined ? {} : { id: request.id };
    try {
      if (!this.#grant) throw GdpError.of(400, "this gateway does not check tokens");
      const grant = await this.#gw.auth.verify(request.token);
      if (this.#closing) return;
      // Everything that can fail comes first: a refused refresh leaves the old token in force.
      const until = new Date(grant.expiresAt).toISOString();
      this.#grant = grant;
      this.#scheduleExpiry();
      // Subscriptions the new token no longer covers end here.
      for (const sub of [...this.#subs]) {
        const logname = sub.address.logname!;
        if (!allows(grant, "read", logname)) {
          sub.fail(forbidden("reading", logname));
        }
      }
      this.send(
        encodeStatus(
          EventType.SUCCESS,
          [200, `OK: token valid until ${until}`],
          address,
          this.style,
        ),
      );
    } catch (error) {
      const failure = GdpError.from(error);
      if (failure.code === 401) {
        this.#log.warning("Refresh refused for {conn} {peer}: {reason}", {
          reason: failure.message,
        });
      }
      this.#error(failure, address);
    }
  }

  /** Closes with 1008 when the token expires: a stream must not outlive its token. */
  #scheduleExpiry(): void {
    this.#cancelExpiry();
    this.#cancelExpiry = atExpiry(this.#grant, () => {
      this.#log.info("Token expired for {conn} {peer}", {});
      this.#gw.metrics.inc("gdpws_auth_failures_total", { reason: "expired" });
      this.#outbox.flush(true);
      this.#close(CloseCode.POLICY, "token expired");
    });
  }

  #error(error: GdpError, address: ReplyAddress): void {
    this.#gw.metrics.inc("gdpws_errors_total", { code: error.code });
    // Only the unexpected: 503 and 507 are states the operator sees elsewhere.
    if (error.code === 500) this.#log.error("Request failed for {conn} {peer}: {error}", { error });
    this.send(encodeError(error, address, this.style));
  }

  /**
   * The socket refused the peer by a limit of its own, before closing as it
   * would: counted here, with a 413 first for a message too large.
   */
  onLimit(limit: SocketLimit): void {
    if (limit === "maxQueuedBytes") return this.#slowConsumer();
    if (limit === "maxMessageBytes") return this.#frameTooBig();
    const max = this.#limits.maxFragments;
    this.#tooBig(
      "maxFragments",
      `request in more than ${max} frames`,
      "request in too many frames",
    );
  }

  #frameTooBig(): void {
    const max = this.#limits.maxFrameBytes;
    this.#tooBig("maxFrameBytes", `frame is over the ${max}-byte limit`, "request frame too large");
  }

  /** A request refused by `limit`: 413 with `message`, then close 1009 with `reason`. */
  #tooBig(limit: "maxFrameBytes" | "maxFragments", message: string, reason: string): void {
    const error = GdpError.of(413, message);
    this.#refused(limit, error.message);
    this.#error(error, {});
    this.#outbox.flush(true);
    this.#close(CloseCode.TOO_BIG, reason);
  }

  /**
   * Counts a refusal by `limit`, and logs it the first time this connection
   * meets that limit: a client hammering a limit must not flood the log.
   */
  #refused(name: keyof Refusals, reason: string): void {
    this.#gw.refusals[name].refused++;
    const limit = limitLabel(name);
    this.#logged ??= new Set();
    if (this.#logged.has(limit)) return;
    this.#logged.add(limit);
    this.#log.warning("Refused {conn} {peer}: {limit} limit: {reason}", { limit, reason });
  }

  #slowConsumer(): void {
    const limit = this.#limits.sendQueueBytes;
    this.#refused("sendQueueBytes", `slow consumer: send queue over ${limit} bytes`);
    this.#close(CloseCode.TRY_AGAIN_LATER, `send queue over ${limit} bytes`);
  }

  #close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#cancelAll();
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closed by the peer.
    }
  }

  #cancelAll(): void {
    this.#cancelExpiry();
    for (const sub of [...this.#subs]) sub.cancel();
    this.#outbox.clear();
  }

  /** The socket closed: everything of this connection ends. */
  onClose({ code, reason }: CloseInfo): void {
    this.#closing = true;
    this.#ended = true;
    this.#resolveClosed?.();
    this.#gw.connections.closeSession(this, this.#options.address);
    this.#cancelAll();
    this.#gw.metrics.inc("gdpws_closes_total", { code: closeLabel(code) });
    this.#log.info(
      "Close {conn} {peer} code={code} reason={reason} seconds={seconds} requests={requests} " +
        "subscriptions={subscriptions} events={events} frames={frames}",
      {
        code,
        reason,
        seconds: (Date.now() - this.#opened) / 1000,
        requests: this.#requests,
        subscriptions: this.#subscribed,
        events: this.#events,
        frames: this.#outbox.frames,
      },
    );
  }
}
