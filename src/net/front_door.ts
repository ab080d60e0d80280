/**
 * The front door: the gateway's one accept loop, on the public port, and the
 * one place where every byte a client sends is read and bounded (`Deno.serve`
 * hides its loop: an `EMFILE` there ends the process). It reads HTTP/1.1
 * itself (src/net/http1/):
 *
 * - each connection holds a descriptor of the {@linkcode FdBudget} from accept
 *   to close; past the soft cap it gets 503, at the hard cap the loop stops
 *   accepting (the kernel's backlog holds the clients);
 * - one sending its request or kept alive holds one of `maxHandshakes` slots
 *   (`maxHandshakesPerAddress` per address); its head has
 *   `handshakeTimeoutMs`, its body `bodyTimeoutMs` (408) and the route's bytes;
 * - a WebSocket upgrade is taken over by {@linkcode ServerWebSocket}; any other
 *   request goes to the handler, its body a stream read as the handler pulls;
 * - every write has `writeTimeoutMs` to make progress; an answer given before
 *   the body was read closes the connection after a bounded drain.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "../config.ts";
 * import { makeRefusals } from "../limits.ts";
 *
 * const door = await FrontDoor.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: DEFAULT_LIMITS,
 *   refusals: makeRefusals(DEFAULT_LIMITS),
 *   handle: async (request) => new Response(`${request.method} ${await request.text()}`),
 * });
 * console.log(door.addr.port, door.stats().fdBudget);
 * await door.close();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { fdLimit } from "../io/fd_limit.ts";
import { LogThrottle } from "../ops/throttle.ts";
import { CountedConn } from "./counted_conn.ts";
import { FdBudget, logBudget } from "./fd_budget.ts";
import { addressKey, HeadSlots } from "./head_slots.ts";
import { RequestBody } from "./http1/body.ts";
import { type Origin, readHead, type RequestHead, requestOf } from "./http1/head.ts";
import { answerAndClose, answerAtAccept, LINGER_MS, lingerClose } from "./http1/last_answer.ts";
import { ConnInput } from "./http1/input.ts";
import { closeWhenGone } from "./http1/leave_watch.ts";
import {
  type HttpProblem,
  isEventStream,
  problemResponse,
  writeAll,
  writeResponse,
} from "./http1/response.ts";
import { type RawUpgrade, switchingProtocols } from "./handshake.ts";
import { ServerWebSocket } from "./websocket/mod.ts";
import type { FrontDoorOptions, FrontDoorStats } from "./front_door_options.ts";

export type { FrontDoorOptions, FrontDoorStats };

const log = getLogger(["gdp-ws", "front"]);
const ACCEPT_RETRY_MS = 50;
/** Most bytes a connection's input holds: a head (16 KiB) or a body's read. */
const INPUT_CAP = 64 * 1024;
/** Connections answered 503 at accept at once; past it a refused connection is closed unanswered. */
const MAX_REFUSING = 64;
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

export class FrontDoor {
  readonly addr: Deno.NetAddr;
  /** Settles when the accept loop has stopped. */
  readonly finished: Promise<void>;
  readonly #listener: Deno.Listener;
  readonly #options: FrontDoorOptions;
  readonly #origin: Origin;
  readonly #budget: FdBudget;
  readonly #slots: HeadSlots;
  readonly #conns = new Set<CountedConn>();
  /** Kept-alive connections between requests: closed at once on shutdown. */
  readonly #idle = new Set<CountedConn>();
  /** Resolves close()'s wait when the last connection has gone. */
  #emptied: (() => void) | undefined;
  readonly #closing = Promise.withResolvers<void>();
  #refusing = 0;
  #refusedUnanswered = 0;
  #acceptErrors = 0;
  #acceptPauses = 0;
  readonly #errors = new LogThrottle(10_000);
  #closed = false;

  private constructor(listener: Deno.Listener, options: FrontDoorOptions, budget: FdBudget) {
    this.#listener = listener;
    this.#options = options;
    this.#budget = budget;
    this.#slots = new HeadSlots(
      options.limits.maxHandshakes,
      options.limits.maxHandshakesPerAddress,
    );
    this.addr = listener.addr as Deno.NetAddr;
    const { hostname, port } = this.addr;
    this.#origin = {
      scheme: options.cert && options.key ? "https" : "http",
      host: `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    };
    this.finished = this.#acceptLoop();
  }

  /** Listens on `options.hostname:options.port` (TLS with cert and key). */
  static async listen(options: FrontDoorOptions): Promise<FrontDoor> {
    const limit = options.learntFdLimit ?? await fdLimit(options.fdLimit);
    const budget = new FdBudget(limit, options.limits.fdReserve);
    const { hostname, port, cert, key } = options;
    const listener = cert && key
      ? Deno.listenTls({ hostname, port, cert, key })
      : Deno.listen({ hostname, port });
    const door = new FrontDoor(listener, options, budget);
    logBudget(budget, options.limits.maxConnections);
    return door;
  }

  stats(): FrontDoorStats {
    return {
      open: this.#conns.size,
      handshakes: this.#slots.size,
      refusing: this.#refusing,
      refusedUnanswered: this.#refusedUnanswered,
      fdLimit: this.#budget.limit,
      fdLimitSource: this.#budget.source,
      fdBudget: this.#budget.hardCap,
      acceptPauses: this.#acceptPauses,
      acceptErrors: this.#acceptErrors,
    };
  }

  /**
   * Stops accepting, closes kept-alive connections waiting for a request, gives
   * the others up to `graceMs` to finish (a response, an event stream's last
   * event, a WebSocket's close), then closes whatever is left.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.resolve();
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const conn of this.#idle) conn.close();
    if (this.#conns.size > 0 && graceMs > 0) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#emptied = resolve;
      const timer = setTimeout(resolve, graceMs);
      await promise;
      clearTimeout(timer);
    }
    for (const conn of this.#conns) conn.close();
    await this.finished;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      if (this.#budget.full) {
        this.#acceptPauses++;
        const suppressed = this.#errors.due("paused");
        if (suppressed !== undefined) {
          log.warning(
            "Intake paused: {open} connections hold the descriptor budget ({suppressed} more pauses)",
            { open: this.#conns.size, suppressed },
          );
        }
        await Promise.race([this.#budget.room(), this.#closing.promise]);
        continue;
      }
      let conn: CountedConn;
      try {
        conn = new CountedConn(await this.#listener.accept(), this.#forget);
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) break;
        // EMFILE and its kind (another part of the process took descriptors): the
        // process lives; the client waits in the backlog.
        this.#acceptErrors++;
        const suppressed = this.#errors.due(String(error));
        if (suppressed !== undefined) {
          log.error("Accept failed, retrying: {error} ({suppressed} more)", { error, suppressed });
        }
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      this.#admit(conn);
    }
  }

  /** A new connection: served, or answered 503 when a limit is reached. */
  #admit(conn: CountedConn): void {
    this.#conns.add(conn);
    const { refusals } = this.#options;
    if (this.#budget.take() === "refuse") {
      refusals.fdReserve.refused++;
      const error = "the gateway is at its file-descriptor limit; try again";
      return this.#refuseAtAccept(conn, { status: 503, error });
    }
    const peer = conn.remoteAddr as Deno.NetAddr;
    const key = this.#options.sharedPeer?.(peer) ? undefined : addressKey(peer.hostname);
    const slot = this.#slots.take(key);
    if (slot !== "ok") {
      refusals[slot].refused++;
      const error = slot === "maxHandshakes"
        ? "too many connections are still sending their request"
        : `too many connections from ${peer.hostname} are still sending their request`;
      return this.#refuseAtAccept(conn, { status: 503, error });
    }
    this.#serve(conn, peer, key).then((kept) => {
      if (!kept) conn.close();
    }, (error) => {
      log.debug("Connection failed: {error}", { error });
      conn.close();
    });
  }

  /** The answer to a refused request, as the gateway words it (else `{"error": …}`). */
  #answer(problem: HttpProblem): Response {
    return this.#options.refusal?.(problem.status, problem.error) ?? problemResponse(problem);
  }

  /** Answers a refusal as the connection's last answer. */
  #refuseLast(conn: CountedConn, input: ConnInput, status: number, error: string): Promise<void> {
    return this.#last(conn, input, this.#answer({ status, error }));
  }

  /** Writes a connection's last answer, then drains it (the caller releases it). */
  #last(conn: CountedConn, input: ConnInput, response: Response): Promise<void> {
    return answerAndClose(conn, input, response, { writeMs: this.#options.limits.writeTimeoutMs });
  }

  /** Answers `problem` (a 503) and closes: at most {@linkcode MAX_REFUSING} at once. */
  #refuseAtAccept(conn: CountedConn, problem: HttpProblem): void {
    if (this.#refusing >= MAX_REFUSING) {
      // Enough answers under way: this one is closed unanswered, at once, so that refusals
      // never hold the accept loop (a flood of silent connections would stall everyone).
      this.#refusedUnanswered++;
      return conn.close();
    }
    this.#refusing++;
    answerAtAccept(conn, new ConnInput(conn, 4096), this.#answer(problem))
      .catch(() => {})
      .finally(() => {
        this.#refusing--;
        conn.close();
      });
  }

  /**
   * A connection closed (by us, or by its WebSocket): each one's `onClose`.
   * Its descriptor goes back to the budget once no read or write holds it.
   */
  readonly #forget = (conn: CountedConn): void => {
    if (!this.#conns.delete(conn)) return;
    void conn.settled().then(() => this.#budget.release());
    if (this.#conns.size === 0) this.#emptied?.();
  };

  /**
   * One connection, from its first byte until it is closed or handed on; true
   * when a WebSocket has taken it over and releases it on close. It holds a head
   * slot (taken at accept) while it sends a request or waits kept alive for one.
   */
  async #serve(conn: CountedConn, peer: Deno.NetAddr, key: string | undefined): Promise<boolean> {
    const input = new ConnInput(conn, INPUT_CAP);
    let holding = true;
    const giveSlot = () => {
      if (!holding) return;
      holding = false;
      this.#slots.give(key);
    };
    try {
      for (let first = true;; first = false) {
        if (!first) this.#idle.add(conn);
        const timeoutMs = this.#options.limits.handshakeTimeoutMs;
        const head = await readHead(input, timeoutMs, first).finally(() => this.#idle.delete(conn));
        if (head === undefined) return false;
        if ("status" in head) {
          if (head.status === 408) this.#options.refusals.handshakeTimeoutMs.refused++;
          await this.#last(conn, input, this.#answer(head));
          return false;
        }
        if (head.upgrade) {
          giveSlot();
          return await this.#upgrade(conn, input, head, peer);
        }
        const kept = await this.#exchange(conn, input, head, peer, giveSlot, () => {
          // Kept alive: the connection waits for its next head in a slot, or closes.
          if (this.#closed || this.#slots.take(key) !== "ok") return false;
          holding = true;
          return true;
        });
        if (!kept) return false;
      }
    } finally {
      giveSlot();
    }
  }

  /**
   * One request and its answer; true when the connection stays open for the
   * next (its body read to the end, keep-alive asked for and `keep` granting
   * a slot). `giveSlot` is called once the request has arrived in full.
   */
  async #exchange(
    conn: CountedConn,
    input: ConnInput,
    head: RequestHead,
    peer: Deno.NetAddr,
    giveSlot: () => void,
    keep: () => boolean,
  ): Promise<boolean> {
    const { limits, refusals } = this.#options;
    // HEAD is answered as GET would be, without the body.
    const method = head.method === "HEAD" ? "GET" : head.method;
    if (head.body.kind !== "none" && method === "GET") {
      await this.#refuseLast(conn, input, 400, `a ${head.method} request carries no body`);
      return false;
    }
    // The route decides how much body it takes; none at all is refused before a byte is read.
    const maxBytes = this.#options.bodyLimit?.(method, head.target) ?? limits.maxRecordBytes;
    if (head.body.kind !== "none" && maxBytes === 0) {
      await this.#refuseLast(conn, input, 413, `${head.method} ${head.target} takes no body`);
      return false;
    }
    let body: RequestBody | undefined;
    if (head.body.kind !== "none") {
      body = new RequestBody(input, head.body, {
        maxBytes,
        timeoutMs: limits.bodyTimeoutMs,
        onSettled: giveSlot,
        ...(head.expectContinue
          ? { beforeFirstRead: () => writeAll(conn, CONTINUE, limits.writeTimeoutMs) }
          : {}),
      });
    } else {
      giveSlot();
    }
    const request = requestOf(head, method, body?.stream, this.#origin);
    if (!request) {
      await this.#refuseLast(conn, input, 400, "the request's Host and target do not make a URL");
      return false;
    }
    let response = await this.#options.handle(request, peer);
    body?.abandon();
    giveSlot();
    if (body?.problem) {
      await response.body?.cancel();
      const { status } = body.problem;
      if (status === 413) refusals.maxRecordBytes.refused++;
      if (status === 408) refusals.bodyTimeoutMs.refused++;
      response = this.#answer(body.problem);
    }
    const finished = body === undefined || body.done;
    // An event stream closes its connection when it ends; while it goes on, a read beside it.
    const streaming = isEventStream(response);
    const stays = finished && !head.close && !streaming && keep();
    const gone = new AbortController();
    const stop = streaming ? closeWhenGone(conn, input, gone) : undefined;
    await writeResponse(conn, response, {
      headOnly: head.method === "HEAD",
      close: !stays,
      chunked: head.version === "HTTP/1.1",
      stallMs: limits.writeTimeoutMs,
      gone: gone.signal,
    }).finally(() => stop?.());
    if (!stays) {
      await lingerClose(conn, input, LINGER_MS);
      return false;
    }
    input.shrink();
    return true;
  }

  /** Answers an upgrade; true when it was accepted and the socket now owns `conn`. */
  async #upgrade(
    conn: CountedConn,
    input: ConnInput,
    head: RequestHead,
    peer: Deno.NetAddr,
  ): Promise<boolean> {
    const { limits } = this.#options;
    const request = head.body.kind === "none"
      ? requestOf(head, head.method, undefined, this.#origin)
      : undefined;
    if (!request) {
      const problem = "a WebSocket upgrade carries no body, and needs a valid Host and target";
      await this.#refuseLast(conn, input, 400, problem);
      return false;
    }
    let socket: ServerWebSocket | undefined;
    const raw: RawUpgrade = {
      httpVersion: head.version,
      accept: (options) => socket = this.#newSocket(conn, input, options.protocol),
    };
    const response = await this.#options.handle(request, peer, raw);
    if (!socket) {
      await this.#last(conn, input, response);
      return false;
    }
    try {
      const key = request.headers.get("sec-websocket-key")!;
      await writeAll(conn, switchingProtocols(key, socket.protocol), limits.writeTimeoutMs);
    } catch (error) {
      // The handler counted the socket (sessions, per-address): its close lets go.
      socket.abort();
      throw error;
    }
    // The socket owns `conn` from now on; its close (the conn's `onClose`) forgets it.
    socket.start();
    return true;
  }

  #newSocket(conn: CountedConn, input: ConnInput, protocol: string | undefined): ServerWebSocket {
    const { maxFrameBytes, maxFragments, sendQueueBytes, idleTimeoutSec } = this.#options.limits;
    // A copy: the input's buffer is let go.
    const initial = input.takeAll();
    return new ServerWebSocket(conn.conn, {
      maxMessageBytes: maxFrameBytes,
      maxFragments,
      maxQueuedBytes: sendQueueBytes,
      idleTimeoutSec,
      ...(protocol ? { protocol } : {}),
      ...(initial.length > 0 ? { initial } : {}),
    });
  }
}
