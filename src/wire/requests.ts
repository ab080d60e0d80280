/**
 * Requests of the wire protocol (docs/protocol.md): a frame (text or binary)
 * decoded and validated into a subscribe, unsubscribe, append or refresh
 * request, or a failure that says what is wrong and still echoes what it
 * could read. Also what `startrec` means against a log's end, and `startts`,
 * a subscription's start as a point in time.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "../config.ts";
 *
 * const request = parseFrame('{"logname": "edu.berkeley.demo.temp", "startrec": -10}', DEFAULT_LIMITS);
 * if (!isFailure(request) && request.op === "subscribe") console.log(request.numrec); // 1
 * resolveStart(-10, 20); // 11: the last ten of twenty records
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { GdpError } from "../core/errors.ts";
import { checkLogname } from "../core/names.ts";
import type { Timestamp } from "../core/records.ts";
import { MAX_SEC, MIN_SEC, parseRfc3339, TIME_EXAMPLE } from "../core/time.ts";

/** A client-chosen subscription id, echoed in its responses. */
export type RequestId = string | number;
/** How `datum.data` is sent: text when it is UTF-8 (base64 otherwise), or always base64. */
export type Encoding = "text" | "base64";

export interface SubscribeRequest {
  op: "subscribe";
  logname: string;
  /** The first record (docs/protocol.md#subscribe); 0 and unused when `startts` is given. */
  startrec: number;
  /**
   * _Extension_: start at the first record stamped at or after this time
   * instead (docs/protocol.md#subscribe-from-a-point-in-time).
   */
  startts?: Timestamp;
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
  const startts = obj.startts ?? undefined;
  if (startts !== undefined && obj.startrec !== undefined && obj.startrec !== null) {
    throw GdpError.badRequest("startts", "and startrec exclude each other: give one");
  }
  const numrec = parseInteger(obj.numrec, "numrec", 1, 0, MAX_NUMREC);
  const encoding = parseEncoding(obj.encoding);
  const request: SubscribeRequest = { op: "subscribe", logname, startrec, numrec, encoding };
  if (startts !== undefined) request.startts = parseTime(startts, "startts");
  if (echo.id !== undefined) request.id = echo.id;
  return request;
}

/**
 * A point in time as the protocol takes it: RFC 3339 text, or `{"tv_sec",
 * "tv_nsec"}` as records carry their timestamps (`tv_accuracy` is ignored).
 * Throws a 400 naming `field` (`startts.tv_nsec`, …).
 */
export function parseTime(value: unknown, field: string): Timestamp {
  if (typeof value === "string") {
    const ts = parseRfc3339(value);
    if (typeof ts === "string") throw GdpError.badRequest(field, ts);
    return ts;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw GdpError.badRequest(
      field,
      `must be an RFC 3339 time ("${TIME_EXAMPLE}") or {"tv_sec": …, "tv_nsec": …}`,
    );
  }
  const { tv_sec, tv_nsec } = value as Record<string, unknown>;
  if (tv_sec === undefined || tv_sec === null) {
    throw GdpError.badRequest(`${field}.tv_sec`, "is required");
  }
  const sec = parseInteger(tv_sec, `${field}.tv_sec`, 0, MIN_SEC, MAX_SEC);
  const nsec = parseInteger(tv_nsec, `${field}.tv_nsec`, 0, 0, 999_999_999);
  return { sec, nsec, accuracy: 0 };
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

/** The starting recno for `startrec` on a log whose last record is `last` (docs/protocol.md#subscribe). */
export function resolveStart(startrec: number, last: number): number {
  if (startrec > 0) return startrec;
  if (startrec === 0) return last + 1;
  return Math.max(1, last + startrec + 1);
}
