/**
 * Events of the wire protocol (docs/protocol.md): DATA, DONE, SHUTDOWN,
 * SUCCESS and FAILURE as JSON text. Outside batch mode they use Python's
 * `json.dumps` separators (`", "` and `": "`) like the original gateway, since
 * deployed monitoring greps the raw text for `"type": 1`.
 *
 * @example
 * ```ts
 * const record = { recno: 1, ts: { sec: 1795610272, nsec: 0, accuracy: 0 }, data: new TextEncoder().encode("21.5") };
 * encodeRecord(record, { logname: "edu.berkeley.demo.temp" }, PYTHON_STYLE);
 * // {"logname": "edu.berkeley.demo.temp", "ep_stat": [200, "OK"], "datum": {...}, "type": 1}
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { GdpError } from "../core/errors.ts";
import { EventType, type LogInfo, type LogRecord, type Timestamp } from "../core/records.ts";
import type { Encoding, RequestId } from "./requests.ts";

export { EventType };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The subprotocol that asks for batch mode: every frame a JSON array of events. */
export const BATCH_PROTOCOL = "gdp-ws.batch";

/** The `ep_stat` of DONE: the subscription got all it asked for. */
export const OK_STAT: readonly [number, string] = [200, "OK"];
/** Why the gateway ends subscriptions (SHUTDOWN event) and closes sockets (1001). */
export const SHUTDOWN_REASON = "gateway shutting down";
/** The `ep_stat` of SHUTDOWN. */
export const SHUTDOWN_STAT: readonly [number, string] = [200, `OK: ${SHUTDOWN_REASON}`];

/** Separators of one wire style: Python's defaults, or compact for batch mode. */
export interface Style {
  readonly compact: boolean;
  /** `", "` or `","`. */
  readonly item: string;
  /** `": "` or `":"`. */
  readonly key: string;
}

export const PYTHON_STYLE: Style = { compact: false, item: ", ", key: ": " };
export const COMPACT_STYLE: Style = { compact: true, item: ",", key: ":" };

/**
 * How a request's responses are addressed: the client's spelling of the log and
 * its id (echoed in every response) and the encoding it asked for.
 */
export interface ReplyAddress {
  logname?: string;
  id?: RequestId;
  encoding?: Encoding;
}

const OK = '[200, "OK"]';
const OK_COMPACT = '[200,"OK"]';

/** A DATA event (type 1) for one record. The hot path: built by hand, not by a serializer. */
export function encodeRecord(record: LogRecord, address: ReplyAddress, style: Style): string {
  const { item, key } = style;
  const [data, encoding] = payload(record.data, address.encoding ?? "text");
  const enc = encoding ? `${item}"encoding"${key}"base64"` : "";
  const stat = record.status ? encodeEpStat(record.status, style) : style.compact ? OK_COMPACT : OK;
  return `{${head(address, style)}"ep_stat"${key}${stat}${item}` +
    `"datum"${key}{"recno"${key}${record.recno}${item}"data"${key}${JSON.stringify(data)}${enc}` +
    `${item}"ts"${key}${encodeTs(record.ts, style)}}${item}"type"${key}${EventType.DATA}}`;
}

/**
 * A record as a DATA event's `datum` holds it (`recno`, `data`, `encoding`
 * when base64, `ts`), on its own: an element of a range read over HTTP.
 */
export function encodeDatum(record: LogRecord, encoding: Encoding, style: Style): string {
  const { item, key } = style;
  const [data, base64] = payload(record.data, encoding);
  const enc = base64 ? `${item}"encoding"${key}"base64"` : "";
  return `{"recno"${key}${record.recno}${item}"data"${key}${JSON.stringify(data)}${enc}` +
    `${item}"ts"${key}${encodeTs(record.ts, style)}}`;
}

/**
 * A DATA event cut around its variable fields, so a store can build events
 * itself (the embedded store does, in SQL): `start`, recno, `afterRecno`, the
 * data as a JSON string, `afterData`, tv_sec, `afterSec`, tv_nsec, `afterNsec`,
 * tv_accuracy, `end`. Filled in, it is exactly {@linkcode encodeRecord}'s text
 * for a record without a status whose data is valid UTF-8.
 */
export interface RecordTemplate {
  start: string;
  afterRecno: string;
  afterData: string;
  afterSec: string;
  afterNsec: string;
  end: string;
}

/** The template of this address's DATA events; undefined when they carry base64. */
export function recordTemplate(address: ReplyAddress, style: Style): RecordTemplate | undefined {
  if (address.encoding === "base64") return undefined;
  const { item, key } = style;
  return {
    start: `{${head(address, style)}"ep_stat"${key}${style.compact ? OK_COMPACT : OK}${item}` +
      `"datum"${key}{"recno"${key}`,
    afterRecno: `${item}"data"${key}`,
    afterData: `${item}"ts"${key}{"tv_sec"${key}`,
    afterSec: `${item}"tv_nsec"${key}`,
    afterNsec: `${item}"tv_accuracy"${key}`,
    end: `}}${item}"type"${key}${EventType.DATA}}`,
  };
}

/**
 * The template of a bare datum ({@linkcode encodeDatum}'s text for a record
 * whose data is UTF-8), so a store can build range reads' elements itself.
 */
export function datumTemplate(style: Style): RecordTemplate {
  const { item, key } = style;
  return {
    start: `{"recno"${key}`,
    afterRecno: `${item}"data"${key}`,
    afterData: `${item}"ts"${key}{"tv_sec"${key}`,
    afterSec: `${item}"tv_nsec"${key}`,
    afterNsec: `${item}"tv_accuracy"${key}`,
    end: "}}",
  };
}

/** A status event without a datum: DONE, SHUTDOWN or FAILURE. */
export function encodeStatus(
  type: number,
  epStat: readonly [number, string],
  address: ReplyAddress,
  style: Style,
): string {
  const { item, key } = style;
  return `{${head(address, style)}"ep_stat"${key}${encodeEpStat(epStat, style)}` +
    `${item}"type"${key}${type}}`;
}

function encodeEpStat(epStat: readonly [number, string], style: Style): string {
  return `[${epStat[0]}${style.item}${JSON.stringify(epStat[1])}]`;
}

/** A FAILURE event for an error. */
export function encodeError(error: GdpError, address: ReplyAddress, style: Style): string {
  return encodeStatus(EventType.FAILURE, error.epStat, address, style);
}

/** The SUCCESS answer to an append: the new record's recno and timestamp. */
export function encodeAppended(record: LogRecord, address: ReplyAddress, style: Style): string {
  const { item, key } = style;
  const stat = record.status ? encodeEpStat(record.status, style) : style.compact ? OK_COMPACT : OK;
  return `{${head(address, style)}"ep_stat"${key}${stat}${item}` +
    `"datum"${key}{"recno"${key}${record.recno}${item}"ts"${key}${encodeTs(record.ts, style)}}` +
    `${item}"type"${key}${EventType.SUCCESS}}`;
}

/** A timestamp as the original sent it (tv_accuracy is a Python float: `0.0`). */
export function encodeTs(ts: Timestamp, style: Style): string {
  const { item, key } = style;
  const acc = Number.isInteger(ts.accuracy) ? ts.accuracy.toFixed(1) : String(ts.accuracy);
  return `{"tv_sec"${key}${ts.sec}${item}"tv_nsec"${key}${ts.nsec}${item}"tv_accuracy"${key}${acc}}`;
}

/** A timestamp as a JSON object, with the wire's field names (HTTP API, CLI). */
export function tsObject(ts: Timestamp): { tv_sec: number; tv_nsec: number; tv_accuracy: number } {
  return { tv_sec: ts.sec, tv_nsec: ts.nsec, tv_accuracy: ts.accuracy };
}

/** A log's info as a JSON object for the HTTP API and the CLI. */
export function infoObject(info: LogInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { name: info.name };
  if (info.human !== undefined) out.human = info.human;
  out.count = info.count;
  if (info.first) out.first = tsObject(info.first);
  if (info.last) out.last = tsObject(info.last);
  return out;
}

/** The key under which one encoding of a record can be shared by many subscriptions. */
export function replyKey(address: ReplyAddress, style: Style): string {
  return `${style.compact ? "c" : "p"}${address.encoding ?? "text"}${
    JSON.stringify(address.id ?? null)
  }${address.logname ?? ""}`;
}

function head(address: ReplyAddress, style: Style): string {
  const { item, key } = style;
  let out = "";
  if (address.logname !== undefined) {
    out += `"logname"${key}${JSON.stringify(address.logname)}${item}`;
  }
  if (address.id !== undefined) out += `"id"${key}${JSON.stringify(address.id)}${item}`;
  return out;
}

/** The payload as text when asked and possible, else base64 (`true` = base64). */
function payload(data: Uint8Array, encoding: Encoding): [string, boolean] {
  if (encoding === "text") {
    try {
      return [utf8.decode(data), false];
    } catch {
      // Not UTF-8: base64 below rather than mangled with U+FFFD.
    }
  }
  return [Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"), true];
}
