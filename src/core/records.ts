/**
 * GDP's vocabulary, shared by every layer: a record and its timestamp, what a
 * store knows of a log, and the event types libgdp numbers. Neither the wire
 * protocol nor a backend owns these.
 *
 * @example
 * ```ts
 * const record: LogRecord = {
 *   recno: 1,
 *   ts: { sec: 1795610272, nsec: 481928223, accuracy: 0 },
 *   data: new TextEncoder().encode("21.5"),
 * };
 * console.log(record.recno, EventType.DATA);
 * ```
 *
 * @module
 */

/** A record's commit time, as GDP's `EP_TIME_SPEC`. */
export interface Timestamp {
  /** Seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within the second, 0 to 999,999,999. */
  nsec: number;
  /** Clock accuracy in seconds (a float); 0 when unknown. */
  accuracy: number;
}

/** `ep_stat` as a backend reports it: GDP's detail code and its text. */
export type RecordStatus = readonly [code: number, text: string];

/** One record of a log. */
export interface LogRecord {
  /** Record number, from 1, without gaps. */
  recno: number;
  ts: Timestamp;
  data: Uint8Array;
  /**
   * The status the record came with, sent as its `ep_stat` (libgdp's own
   * text, e.g. `[200, "OK [200 = 0xc8]"]`); absent means `[200, "OK"]`.
   */
  status?: RecordStatus;
}

/** What a backend knows about one log. */
export interface LogInfo {
  /** 43-character base64url internal name. */
  name: string;
  /** The human name, when the backend knows it. */
  human?: string;
  /** Number of records (the last recno). */
  count: number;
  first?: Timestamp;
  last?: Timestamp;
}

/**
 * Event types, numbered as libgdp 2.x's `gdp_event_gettype` numbers them: the
 * wire's `"type"` and the libgdp backend's events share this one table. The
 * gateway sends DATA, DONE, SHUTDOWN, SUCCESS and FAILURE; CREATED and MISSING
 * only come from libgdp.
 */
export const EventType = {
  DATA: 1,
  DONE: 2,
  SHUTDOWN: 3,
  CREATED: 4,
  SUCCESS: 5,
  FAILURE: 6,
  MISSING: 7,
} as const;
