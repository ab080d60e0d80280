/**
 * One client request on one log ({@linkcode Subscription}) and where its events go
 * ({@linkcode SubscriptionSink}, the session or event stream that owns it): which recno it sends
 * next, how many are left before DONE, how its DATA events are spelled
 * (the reply key its feed shares encodings by), and, for one from a point in
 * time, the records stamped before it that it still skips.
 *
 * @example
 * ```ts
 * import { PYTHON_STYLE } from "../wire/events.ts";
 *
 * const request = { op: "subscribe", logname: "x", startrec: 1, numrec: 2, encoding: "text" } as const;
 * const sub = new Subscription(request, {
 *   style: PYTHON_STYLE,
 *   send: (event) => console.log(event),
 *   congested: () => false,
 *   ended: () => {},
 * }, () => {});
 * sub.cancel();
 * ```
 *
 * @module
 */

import type { EncodedRecords, LogRecord, Timestamp } from "../backend/backend.ts";
import type { GdpError } from "../core/errors.ts";
import { compareTs } from "../core/time.ts";
import type { RequestId, SubscribeRequest } from "../wire/requests.ts";
import { EventType } from "../core/records.ts";
import {
  encodeRecord,
  encodeStatus,
  OK_STAT,
  type RecordTemplate,
  recordTemplate,
  type ReplyAddress,
  replyKey,
  type Style,
} from "../wire/events.ts";

/** Where a subscription's events go: the session that owns it. */
export interface SubscriptionSink {
  readonly style: Style;
  /**
   * True when one `send` may carry several DATA events joined by commas (a
   * batch-mode session, whose frame is a JSON array of them).
   */
  readonly joinsEvents?: boolean;
  /** One encoded event of this subscription; `recno` is given for a record (DATA). */
  send(text: string, recno?: number): void;
  /**
   * `count` DATA events up to `recno`, separated by commas, in UTF-8: history
   * the store encoded. Asked of a sink that `joinsEvents`.
   */
  sendJoined?(utf8: Uint8Array, recno: number, count: number): void;
  /**
   * `count` DATA events up to `recno`, separated by newlines, in UTF-8, each
   * to be sent on its own: history the store encoded, for a sink that does not
   * join events. Without it, such history comes as one string per event.
   */
  sendLines?(utf8: Uint8Array, recno: number, count: number): void;
  /** True while the client is behind; history reads wait for it to drain. */
  congested(): boolean;
  /**
   * Characters of events the sink takes before it is congested; history
   * encoded by the store is read up to it. Absent: the store does not encode
   * for this sink.
   */
  room?(): number;
  /** The subscription has ended (after its last event, if any, was sent). */
  ended(sub: Subscription): void;
  /**
   * Sends now what the sink has batched. The live fan-out calls it after each
   * subscription's share of a sweep, so writing the frame is counted in the
   * time slice that produced it (a microtask flush would run after the slice).
   */
  flush?(): void;
}

/** One client request on one log. */
export class Subscription {
  readonly address: ReplyAddress;
  readonly key: string;
  readonly sink: SubscriptionSink;
  /** The next recno this subscription delivers. */
  next = 0;
  #remaining: number;
  #ended = false;
  #template: RecordTemplate | null | undefined;
  /** A subscription from a time skips records stamped before it until the first one that is not. */
  #notBefore: Timestamp | undefined;
  /** Takes this subscription out of the feed that serves it; set by the feed. */
  #detach: ((sub: Subscription) => void) | undefined;
  readonly #onEnd: (sub: Subscription) => void;

  constructor(request: SubscribeRequest, sink: SubscriptionSink, onEnd: (s: Subscription) => void) {
    this.address = replyAddress(request.logname, request.id, request.encoding);
    this.key = replyKey(this.address, sink.style);
    this.sink = sink;
    this.#remaining = request.numrec === 0 ? Infinity : request.numrec;
    this.#notBefore = request.startts;
    this.#onEnd = onEnd;
  }

  get id(): RequestId | undefined {
    return this.address.id;
  }

  /** Records still to deliver before DONE (Infinity: follows forever). */
  get remaining(): number {
    return this.#remaining;
  }

  get isEnded(): boolean {
    return this.#ended;
  }

  /**
   * True while a subscription from a time has not yet met a record stamped at
   * or after it: until then each record is looked at, so none comes encoded
   * by the store.
   */
  get skipping(): boolean {
    return this.#notBefore !== undefined;
  }

  /**
   * Delivers every record from `next` on, whatever its stamp: the backend
   * found a stored record at or after the start time (a boundary, see
   * `LogHandle.seek`), so the store may encode history itself again.
   */
  stopSkipping(): void {
    this.#notBefore = undefined;
  }

  /**
   * Sends `record` (once; older records are skipped, and so are records stamped
   * before a start time until the first that is not). `cache` shares
   * encodings. True when it was sent.
   */
  deliver(record: LogRecord, cache?: Map<string, string>): boolean {
    if (this.#ended || record.recno < this.next) return false;
    if (this.#notBefore) {
      if (compareTs(record.ts, this.#notBefore) < 0) {
        this.next = record.recno + 1;
        return false;
      }
      this.#notBefore = undefined; // from here on every record, whatever its stamp
    }
    let text = cache?.get(this.key);
    if (text === undefined) {
      text = encodeRecord(record, this.address, this.sink.style);
      cache?.set(this.key, text);
    }
    this.next = record.recno + 1;
    this.sink.send(text, record.recno);
    if (--this.#remaining === 0) this.end(EventType.DONE, OK_STAT);
    return true;
  }

  /**
   * Sends stored records from `next` on, encoded by the store ({@linkcode
   * LogHandle.readEvents}): one event each, or all in one stretch of UTF-8
   * (joined by commas for a sink that joins events, else by newlines).
   */
  deliverEncoded(read: EncodedRecords): void {
    if (this.#ended) return;
    const { count } = read;
    const first = this.next;
    this.next = first + count;
    const last = first + count - 1;
    if ("events" in read) {
      for (let i = 0; i < count; i++) this.sink.send(read.events[i]!, first + i);
    } else if (this.sink.joinsEvents) this.sink.sendJoined!(read.utf8, last, count);
    else this.sink.sendLines!(read.utf8, last, count);
    if ((this.#remaining -= count) === 0) this.end(EventType.DONE, OK_STAT);
  }

  /** The template of this subscription's DATA events, for stores that encode them. */
  get template(): RecordTemplate | undefined {
    // null: worked out, and there is none (base64).
    this.#template ??= recordTemplate(this.address, this.sink.style) ?? null;
    return this.#template ?? undefined;
  }

  /** Ends with a final event (DONE, SHUTDOWN) sent to the client. */
  end(type: number, epStat: readonly [number, string]): void {
    if (this.#ended) return;
    this.sink.send(encodeStatus(type, epStat, this.address, this.sink.style));
    this.#finish();
  }

  /** Ends with a FAILURE event. */
  fail(error: GdpError): void {
    this.end(EventType.FAILURE, error.epStat);
  }

  /** A non-fatal error event; the subscription goes on. */
  warn(error: GdpError): void {
    if (!this.#ended) {
      this.sink.send(encodeStatus(EventType.FAILURE, error.epStat, this.address, this.sink.style));
    }
  }

  /** Ends silently: the socket is gone. */
  cancel(): void {
    if (!this.#ended) this.#finish();
  }

  /** @internal called by the feed that serves this subscription: how to leave it. */
  bind(detach: (sub: Subscription) => void): void {
    this.#detach = detach;
  }

  #finish(): void {
    this.#ended = true;
    this.#detach?.(this);
    this.#detach = undefined;
    this.#onEnd(this);
    this.sink.ended(this);
  }
}

function replyAddress(
  logname: string,
  id: RequestId | undefined,
  encoding: ReplyAddress["encoding"],
): ReplyAddress {
  const address: ReplyAddress = { logname };
  if (id !== undefined) address.id = id;
  if (encoding === "base64") address.encoding = encoding;
  return address;
}
