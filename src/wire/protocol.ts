/**
 * The wire protocol (docs/protocol.md): parses and validates requests, encodes
 * responses. Outside batch mode responses use Python's `json.dumps` separators
 * (`", "` and `": "`) like the original gateway, since deployed monitoring greps
 * the raw text for `"type": 1`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { EventType, type LogInfo, type LogRecord, type Timestamp } from "../core/records.ts";
import { GdpError } from "../core/errors.ts";
import { checkLogname } from "../core/names.ts";

export { EventType };

/** The `ep_stat` of DONE: the subscription got all it asked for. */
export const OK_STAT: readonly [number, string] = [200, "OK"];
/** Why the gateway ends subscriptions (SHUTDOWN event) and closes sockets (1001). */
export const SHUTDOWN_REASON = "gateway shutting down";
/** The `ep_stat` of SHUTDOWN. */
export const SHUTDOWN_STAT: readonly [number, string] = [200, `OK: ${SHUTDOWN_REASON}`];

/** A client-chosen subscription id, echoed in its responses. */
export type RequestId = string | number;
/** How `datum.data` is sent: text when it is UTF-8 (base64 otherwise), or always base64. */
export type Encoding = "text" | "base64";

export interface SubscribeRequest {
  op: "subscribe";
  logname: string;
  startrec: number;
  numrec: number;
  id?: RequestId;
  encoding: Encoding;
}

export interface UnsubscribeRequest {
  op: "unsubscribe";
  id: RequestId;
}

export interface AppendRequest {
  op: "append";
  logname: string;
  data: Uint8Array;
  id?: RequestId;
}

/** A fresh token for this connection (`{"op": "refresh", "token": …}`). */
export interface RefreshRequest {
  op: "refresh";
  token: string;
  id?: RequestId;
}

/** Any request a client can send (named so as not to shadow the global `Request`). */
export type ClientRequest = SubscribeRequest | UnsubscribeRequest | AppendRequest | RefreshRequest;

/** Limits the parser enforces. */
export interface ParseLimits {
  maxLognameLength: number;
  maxRecordBytes: number;
}

/** What a failed parse still knows, so the error can echo it. */
export interface ParseFailure {
  error: GdpError;
  logname?: string;
  id?: RequestId;
}

const MAX_NUMREC = 2 ** 31 - 1; // libgdp's nrecs is int32_t
const MAX_ID_LENGTH = 256;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Decodes a frame (text or binary) to a validated request, or says what is wrong. */
export function parseFrame(
  frame: string | ArrayBuffer,
  limits: ParseLimits,
): ClientRequest | ParseFailure {
  let text: string;
  if (typeof frame === "string") text = frame;
  else {
    try {
      text = utf8.decode(frame);
    } catch {
      return { error: GdpError.badRequest("frame", "is not UTF-8 text") };
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: GdpError.badRequest("frame", `is not JSON (${(e as Error).message})`) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: GdpError.badRequest("frame", "must be a JSON object") };
  }
  return parseRequest(value as Record<string, unknown>, limits);
}

/** Validates a decoded JSON object as a request. */
export function parseRequest(
  obj: Record<string, unknown>,
  limits: ParseLimits,
): ClientRequest | ParseFailure {
  const echo: { logname?: string; id?: RequestId } = {};
  if (typeof obj.logname === "string") echo.logname = obj.logname;
  if (typeof obj.append === "string") echo.logname = obj.append;
  try {
    if ("id" in obj) echo.id = parseId(obj.id, "id");
    const op = parseOp(obj);
    if (op === "unsubscribe") return { op, id: parseId(obj.unsubscribe, "unsubscribe") };
    if (op === "append") return parseAppend(obj, echo, limits);
    if (op === "refresh") return parseRefresh(obj, echo);
    return parseSubscribe(obj, echo, limits);
  } catch (e) {
    if (!(e instanceof GdpError)) throw e;
    return { error: e, ...echo };
  }
}

/** True when parse* returned a failure rather than a request. */
export function isFailure(r: ClientRequest | ParseFailure): r is ParseFailure {
  return "error" in r;
}

function parseOp(obj: Record<string, unknown>): ClientRequest["op"] {
  const op = obj.op;
  if (op === undefined) {
    if ("unsubscribe" in obj) return "unsubscribe";
    if ("append" in obj) return "append";
    return "subscribe";
  }
  if (op === "subscribe" || op === "unsubscribe" || op === "append" || op === "refresh") return op;
  const shown = typeof op === "string" ? `"${op.slice(0, 64)}"` : typeof op;
  throw GdpError.badRequest(
    "op",
    `${shown} is unknown (expected subscribe, unsubscribe, append or refresh)`,
  );
}

function parseRefresh(obj: Record<string, unknown>, echo: { id?: RequestId }): RefreshRequest {
  if (typeof obj.token !== "string" || obj.token.length === 0) {
    throw GdpError.badRequest("token", "must be a non-empty string");
  }
  const request: RefreshRequest = { op: "refresh", token: obj.token };
  if (echo.id !== undefined) request.id = echo.id;
  return request;
}

function parseSubscribe(
  obj: Record<string, unknown>,
  echo: { id?: RequestId },
  limits: ParseLimits,
): SubscribeRequest {
  const logname = parseLogname(obj.logname, "logname", limits);
  const startrec = parseInteger(obj.startrec, "startrec", 0, -Number.MAX_SAFE_INTEGER);
  const numrec = parseInteger(obj.numrec, "numrec", 1, 0, MAX_NUMREC);
  const encoding = parseEncoding(obj.encoding);
  const request: SubscribeRequest = { op: "subscribe", logname, startrec, numrec, encoding };
  if (echo.id !== undefined) request.id = echo.id;
  return request;
}

function parseAppend(
  obj: Record<string, unknown>,
  echo: { id?: RequestId },
  limits: ParseLimits,
): AppendRequest {
  const logname = parseLogname(obj.append ?? obj.logname, "append", limits);
  if (typeof obj.data !== "string") throw GdpError.badRequest("data", "must be a string");
  const encoding = parseEncoding(obj.encoding);
  const data = encoding === "base64" ? decodeBase64(obj.data) : encoder.encode(obj.data);
  if (data.byteLength > limits.maxRecordBytes) {
    throw GdpError.of(
      413,
      `data is ${data.byteLength} bytes; the limit is ${limits.maxRecordBytes}`,
    );
  }
  const request: AppendRequest = { op: "append", logname, data };
  if (echo.id !== undefined) request.id = echo.id;
  return request;
}

function parseLogname(value: unknown, field: string, limits: ParseLimits): string {
  if (value === undefined) throw GdpError.badRequest(field, "is required");
  if (typeof value !== "string") throw GdpError.badRequest(field, "must be a string");
  return checkLogname(value, limits.maxLognameLength, field);
}

function parseInteger(
  value: unknown,
  field: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number") throw GdpError.badRequest(field, "must be an integer");
  if (!Number.isInteger(value)) throw GdpError.badRequest(field, "must be an integer");
  if (value < min || value > max) {
    throw GdpError.badRequest(field, `must be from ${min} to ${max}`);
  }
  return value;
}

function parseId(value: unknown, field: string): RequestId {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.length <= MAX_ID_LENGTH) return value;
  throw GdpError.badRequest(
    field,
    `must be a number or a string of at most ${MAX_ID_LENGTH} characters`,
  );
}

function parseEncoding(value: unknown): Encoding {
  if (value === undefined || value === null || value === "text") return "text";
  if (value === "base64") return "base64";
  throw GdpError.badRequest("encoding", 'must be "text" or "base64"');
}

function decodeBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) {
    throw GdpError.badRequest("data", "is not valid base64");
  }
  return new Uint8Array(Buffer.from(text, "base64"));
}

// ---------------------------------------------------------------------------
// Responses

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

/** The starting recno for `startrec` on a log whose last record is `last` (docs/protocol.md#subscribe). */
export function resolveStart(startrec: number, last: number): number {
  if (startrec > 0) return startrec;
  if (startrec === 0) return last + 1;
  return Math.max(1, last + startrec + 1);
}
