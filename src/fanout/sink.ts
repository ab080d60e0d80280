/**
 * Where a subscription's events go: the session (or event stream) that owns
 * it. The hub and its feeds write to a sink and ask it how far behind it is.
 *
 * @example
 * ```ts
 * import { PYTHON_STYLE } from "../wire/events.ts";
 *
 * const sink: SubscriptionSink = {
 *   style: PYTHON_STYLE,
 *   send: (event) => console.log(event),
 *   congested: () => false,
 *   ended: () => {},
 * };
 * ```
 *
 * @module
 */

import type { Style } from "../wire/events.ts";
import type { Subscription } from "./subscription.ts";

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
