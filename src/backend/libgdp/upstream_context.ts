/**
 * What an Upstream (upstream.ts) works with: its timing and mode, the counters
 * it adds to, and what it needs from the backend that holds it (the binding,
 * event routing, subscription slots).
 *
 * @example
 * ```ts
 * const health: UpstreamHealth = { kind: "failing", since: Date.now(), reported: false };
 * ```
 *
 * @module
 */

import type { IoMode, Libgdp } from "./ffi.ts";
import type { EventSink } from "./pump.ts";
import type { ReorderCounters } from "./reorder.ts";

/** Timing and mode an Upstream works with. */
export interface UpstreamOptions {
  /** How handles are opened. */
  mode: IoMode;
  /** Hold of a record past a gap before the gap is read (ms). */
  reorderHoldMs: number;
  /** First delay before a failed subscribe is retried (ms); doubles each try. */
  retryInitialMs: number;
  /** Longest delay between retries (ms). */
  retryMaxMs: number;
  /** Outage length after which the follower gets a 503 (ms). */
  downAfterMs: number;
  /** How often a followed log's end is read when no record arrived meanwhile (ms). */
  probeMs: number;
  /** Handles of the process that may hold a subscription; 0 makes every follow poll. */
  maxSubscribed: number;
}

/** What Upstreams count besides their reorder buffers. */
export interface UpstreamCounters extends ReorderCounters {
  /** Subscriptions renewed after libgdp ended one. */
  resubscribes: number;
  /** Reads of a followed log's end. */
  probes: number;
  /** 503s reported to followers (once per outage and log). */
  downReports: number;
  /** Follows served by polling because `maxSubscribed` handles subscribe already. */
  polledFollows: number;
  /** Appends made again because another writer took their record number. */
  appendRetries: number;
}

/** What an Upstream needs from its backend. */
export interface UpstreamContext {
  /** The binding. */
  readonly gdp: Libgdp;
  /** Timing and mode. */
  readonly options: UpstreamOptions;
  /** Shared counters. */
  readonly counters: UpstreamCounters;
  /** Routes the events of `gin` to `sink`. */
  attach(gin: bigint, sink: EventSink): void;
  /** Stops routing the events of `gin`. */
  detach(gin: bigint): void;
  /** A udata no other subscription of this process has used. */
  nextUdata(): bigint;
  /** Asks for a subscription slot; false when `maxSubscribed` are taken. */
  claimSubscription(): boolean;
  /** Called once the Upstream has closed its handle for good. */
  forget(upstream: { readonly name: string }): void;
}

/** Health of one log's link. */
export type UpstreamHealth =
  | { readonly kind: "ok" }
  | { readonly kind: "failing"; readonly since: number; reported: boolean };
