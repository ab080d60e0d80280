/**
 * `GET /logs/NAME/events?start=&count=` (or `?since=T`, from a point in time): a log as a Server-Sent Events stream
 * (`text/event-stream`), for `new EventSource()` and `curl -N` without any
 * library. Each record is one event whose `id:` is its recno and whose `data:`
 * is the same JSON DATA event a batch-mode WebSocket client gets. A browser
 * that reconnects sends `Last-Event-ID`, and the stream resumes at the next
 * recno: no gap, no duplicate. Comments keep idle proxies from closing it.
 *
 * Limits are the WebSocket's: the stream counts as a connection, and a reader
 * more than `sendQueueBytes` behind is cut off (it then resumes by itself).
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "../config.ts";
 * import type { Hub } from "../fanout/hub.ts";
 *
 * function serveEvents(hub: Hub, logname: string, request: Request): Response {
 *   const url = new URL(request.url);
 *   const subscription = parseEventsRequest(logname, url, request.headers, DEFAULT_LIMITS);
 *   if (subscription === "done") return new Response(null, { status: 204 });
 *   return new EventStream(hub, subscription, DEFAULT_LIMITS, () => {}).response;
 * }
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Limits } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import type { Hub } from "../fanout/hub.ts";
import type { Subscription, SubscriptionSink } from "../fanout/subscription.ts";
import { isFailure, parseRequest, parseTime, type SubscribeRequest } from "../wire/requests.ts";
import { EventType } from "../core/records.ts";
import { COMPACT_STYLE, type Style } from "../wire/events.ts";

/** How long a browser waits before reconnecting, sent as the stream's `retry:`. */
export const RETRY_MS = 1000;

/** Event names of the stream's status events (records are unnamed `message` events). */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  [EventType.DONE]: "done",
  [EventType.SHUTDOWN]: "shutdown",
  [EventType.FAILURE]: "failure",
};

const log = getLogger(["gdp-ws", "events"]);
const encoder = new TextEncoder();

/**
 * The subscription a stream request asks for, or `"done"` when a resumed,
 * count-limited stream has nothing left to send. Throws a 400 GdpError naming
 * the bad parameter.
 */
export function parseEventsRequest(
  logname: string,
  url: URL,
  headers: Headers,
  limits: Limits,
): SubscribeRequest | "done" {
  const startParam = integerParam(url.searchParams.get("start"), "start");
  const start = startParam ?? 0;
  let count = integerParam(url.searchParams.get("count"), "count") ?? 0;
  const lastId = integerParam(headers.get("last-event-id"), "Last-Event-ID");
  // An unescaped "+" of an offset arrives as a space; RFC 3339 has no other use for one.
  const sinceText = url.searchParams.get("since")?.replaceAll(" ", "+") || undefined;
  if (sinceText !== undefined && startParam !== undefined) {
    throw GdpError.badRequest("since", "and start exclude each other: give one");
  }
  const since = sinceText === undefined ? undefined : parseTime(sinceText, "since");
  let startrec = start;
  if (lastId !== undefined) {
    if (lastId < 0) throw GdpError.badRequest("Last-Event-ID", "must be a recno");
    startrec = lastId + 1;
    // From an absolute start the end is known; from a relative one it is not (see docs).
    if (count > 0 && start > 0) {
      count = start + count - startrec;
      if (count <= 0) return "done";
    }
  }
  const parsed = parseRequest({ logname, startrec, numrec: count }, limits);
  if (isFailure(parsed)) throw parsed.error;
  if (parsed.op !== "subscribe") throw GdpError.of(500, "not a subscribe request");
  // Resuming, the recno of Last-Event-ID wins over the time the stream began from.
  if (since !== undefined && lastId === undefined) parsed.startts = since;
  return parsed;
}

function integerParam(value: string | null, name: string): number | undefined {
  if (value === null || value === "") return undefined;
  if (!/^-?\d{1,16}$/.test(value.trim())) throw GdpError.badRequest(name, "must be an integer");
  return Number(value);
}

/** One open event stream: the sink of one hub subscription. */
export class EventStream implements SubscriptionSink {
  readonly style: Style = COMPACT_STYLE;
  readonly response: Response;
  readonly #limits: Limits;
  readonly #onClose: () => void;
  readonly #sub: Subscription;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(hub: Hub, request: SubscribeRequest, limits: Limits, onClose: () => void) {
    this.#limits = limits;
    this.#onClose = onClose;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => void (this.#controller = controller),
      cancel: () => this.#close(), // the reader went away
    }, { highWaterMark: limits.sendQueueBytes, size: (chunk) => chunk.byteLength });
    this.response = new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        // Asks nginx and similar proxies not to buffer the stream.
        "x-accel-buffering": "no",
      },
    });
    this.#write(`retry: ${RETRY_MS}\n\n`);
    if (limits.idleTimeoutSec > 0) {
      this.#heartbeat = setInterval(
        () => this.#write(": heartbeat\n\n"),
        limits.idleTimeoutSec * 1000,
      );
    }
    this.#sub = hub.subscribe(request, this);
  }

  send(text: string, recno?: number): void {
    if (recno !== undefined) return this.#write(`id: ${recno}\ndata: ${text}\n\n`);
    const type = (JSON.parse(text) as { type: number }).type;
    this.#write(`event: ${STATUS_NAMES[type] ?? "status"}\ndata: ${text}\n\n`);
  }

  congested(): boolean {
    return (this.#controller.desiredSize ?? 0) < this.#limits.sendQueueBytes / 2;
  }

  /** In UTF-16 units, which the stream sends as up to 3 bytes each. */
  room(): number {
    return ((this.#controller.desiredSize ?? 0) - this.#limits.sendQueueBytes / 2) / 3;
  }

  ended(_sub: Subscription): void {
    this.#close();
  }

  /** Sends SHUTDOWN and ends the stream; the browser reconnects and resumes elsewhere or later. */
  shutdown(): void {
    this.#sub.end(EventType.SHUTDOWN, [200, "OK: gateway shutting down"]);
  }

  /** Ends the stream with a FAILURE event (its token expired). */
  fail(error: GdpError): void {
    this.#sub.fail(error);
  }

  #write(text: string): void {
    if (this.#closed) return;
    if ((this.#controller.desiredSize ?? 0) < 0) {
      // Slow reader: cut it off, as a WebSocket gets 1013. It resumes from Last-Event-ID.
      log.warning("Slow event-stream reader: over {limit} bytes queued", {
        limit: this.#limits.sendQueueBytes,
      });
      // An error, not an end: the queued bytes are dropped and the connection closed.
      return this.#close(new Error("the event-stream reader fell behind"));
    }
    this.#controller.enqueue(encoder.encode(text));
  }

  #close(cutOff?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#sub.cancel();
    try {
      if (cutOff) this.#controller.error(cutOff);
      else this.#controller.close();
    } catch {
      // Already cancelled by the reader.
    }
    this.#onClose();
  }
}
