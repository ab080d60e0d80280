/**
 * The seam between the gateway and wherever records live. The hub and the HTTP
 * routes talk to a {@linkcode Backend} only; `embedded.ts` and `libgdp/backend.ts`
 * implement it.
 *
 * @module
 */

import { GdpError } from "../core/errors.ts";
import type { LogInfo, LogRecord, Timestamp } from "../core/records.ts";
import type { BackendMetricName } from "../ops/metrics.ts";
import type { RecordTemplate } from "../wire/events.ts";

export type { LogInfo, LogRecord, RecordStatus, Timestamp } from "../core/records.ts";

/** Stops a {@linkcode LogHandle.follow}; calling it twice is harmless. */
export type Unfollow = () => void;

/**
 * An open log. Obtained from {@linkcode Backend.open}; release it with
 * {@linkcode LogHandle.close} (a backend may share one underlying handle among
 * several callers and counts them).
 */
export interface LogHandle {
  /** The internal name (43 base64url characters). */
  readonly name: string;
  /** The last recno that exists now, 0 for an empty log. */
  last(): Promise<number>;
  /**
   * Records `from` to `from + count - 1` (fewer when the log ends sooner), in
   * recno order.
   */
  read(from: number, count: number): AsyncIterable<LogRecord>;
  /**
   * Records from `from` on, at most `count`, as DATA events the store builds
   * from `template` itself: one string each, or (`joined`) all of them
   * separated by commas (or one other `separator` character), as UTF-8. It
   * stops before the event that would take the events' size (characters;
   * bytes when joined) past `budget` (the first is always given). Undefined when it cannot build one of them (then `read`
   * them). Optional: a history replay through it skips making and encoding a
   * record object per record.
   */
  readEvents?(
    from: number,
    count: number,
    template: RecordTemplate,
    options: { joined: boolean; budget: number; separator?: string },
  ): EncodedRecords | undefined;
  /**
   * Where records from time `ts` on start, among records 1 to `last` (the
   * log's end as far as the caller knows): a boundary, that is a recno `s`
   * from 1 to `last + 1` such that record `s - 1` is stamped before `ts` (or
   * `s` is 1) and record `s` at or after it (or `s` is `last + 1`). Along a
   * log whose timestamps never decrease there is one boundary: the first
   * record at or after `ts`. After a clock stepped back there may be several;
   * which one a backend finds is in docs/protocol.md. A bounded number of
   * reads, never one per record.
   */
  seek(ts: Timestamp, last: number): Promise<number>;
  /**
   * Every record with recno >= `from`, stored or future, in recno order with no
   * gap and no duplicate, until unfollowed. `onError` reports a broken follow
   * (the backend may keep retrying; see the libgdp backend's 503).
   *
   * At most one follow per handle: the hub keeps one per log.
   */
  follow(
    from: number,
    onRecord: (record: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow;
  /** Appends a record and resolves once it is durable. */
  append(data: Uint8Array): Promise<LogRecord>;
  /** Releases this handle. */
  close(): Promise<void>;
}

/** Records encoded by the store: {@linkcode LogHandle.readEvents}. */
export type EncodedRecords = EventList | JoinedEvents;

/** One event per record. */
export interface EventList {
  events: string[];
  /** How many records, from the recno asked for on. */
  count: number;
}

/** All the events, separated by commas, in UTF-8 (checked): what a batch frame holds. */
export interface JoinedEvents {
  utf8: Uint8Array;
  /** How many records, from the recno asked for on. */
  count: number;
}

/** One page of {@linkcode Backend.list}. */
export interface ListPage {
  /** Only logs whose label (human name, else internal name) sorts after this. */
  after?: string;
  limit: number;
}

/** Health of a backend, reported by `/readyz`. */
export interface BackendState {
  ready: boolean;
  /** A short word: `"ok"`, `"connecting"`, `"down"`, `"closed"`. */
  state: string;
  detail?: string;
}

/** A store of logs. */
export interface Backend {
  /** `"embedded"` or `"libgdp"`. */
  readonly kind: string;
  /**
   * Opens a log by human or internal name. Rejects with a {@linkcode GdpError}
   * of code 600 when no such log exists.
   */
  open(logname: string): Promise<LogHandle>;
  /** Info on one log; rejects with code 600 when it does not exist. */
  info(logname: string): Promise<LogInfo>;
  /** Logs the backend can list, in label order, a page at a time when `page` is given. */
  list(page?: ListPage): Promise<LogInfo[]>;
  /**
   * Creates a log, or returns the existing one. Rejects with code 501 where the
   * backend cannot create logs.
   */
  create(logname: string): Promise<LogInfo>;
  state(): BackendState;
  /** Cumulative and current counts for operators (the libgdp backend's allocations and frees). */
  counters?(): Readonly<Record<string, number>>;
  /** The values of the metrics a backend reports itself (`backend: true` in ops/metrics.ts). */
  metrics?(): Partial<Record<BackendMetricName, number>>;
  close(): Promise<void>;
}

/** Opens a log, creating it first when it does not exist (code 600); `beforeCreate` may throw to refuse. */
export async function openOrCreate(
  backend: Backend,
  logname: string,
  beforeCreate?: () => void,
): Promise<LogHandle> {
  try {
    return await backend.open(logname);
  } catch (error) {
    if (!(error instanceof GdpError) || error.code !== 600) throw error;
    beforeCreate?.();
    await backend.create(logname);
    return await backend.open(logname);
  }
}
