/**
 * Writing HTTP/1.1 answers on a front-door connection: the status line with
 * its reason phrase ({@linkcode REASONS}), a bounded body in one write with
 * `content-length`, an event stream chunked as it is produced, and every
 * write under a stall deadline: a client that takes no bytes for
 * `stallMs` loses its connection instead of holding it and the bytes queued
 * for it.
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port });
 * const server = await listener.accept();
 * await writeResponse(server, Response.json({ status: "ok" }), {
 *   headOnly: false,
 *   close: true,
 *   chunked: true,
 *   stallMs: 1000,
 * });
 * statusLine(404); // "HTTP/1.1 404 Not Found"
 * for (const c of [client, server, listener]) c.close();
 * ```
 *
 * @module
 */

import { concat } from "../../io/bytes.ts";
import { closeQuietly, type ConnLike } from "../../io/conn.ts";
import { Deadline, EXPIRED } from "../deadline.ts";

/** Why a request is refused before it reaches the handler, and with which status. */
export interface HttpProblem {
  status: number;
  error: string;
}

/** RFC 9110 §15 (with RFC 6585's 428, 429, 431 and RFC 7725's 451): every status's reason phrase. */
export const REASONS: Readonly<Record<number, string>> = Object.freeze({
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  305: "Use Proxy",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  507: "Insufficient Storage",
});

/** The status line for `status`: its phrase from {@linkcode REASONS}, else its class's. */
export function statusLine(status: number): string {
  const phrase = REASONS[status] ?? REASONS[Math.floor(status / 100) * 100] ?? "Unknown";
  return `HTTP/1.1 ${status} ${phrase}`;
}

/** A client that took no bytes for the stall deadline: its connection was closed. */
export class WriteStalled extends Error {
  override name = "WriteStalled";
}

/**
 * Writes all of `bytes`; a write that makes no progress for `stallMs` closes
 * `conn` and throws {@linkcode WriteStalled}.
 */
export async function writeAll(conn: ConnLike, bytes: Uint8Array, stallMs: number): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const deadline = new Deadline(stallMs);
    const written = conn.write(bytes.subarray(at));
    try {
      const n = await deadline.wait(written);
      if (n === EXPIRED) {
        closeQuietly(conn);
        // The write fails once its connection is gone; nothing waits for it.
        written.catch(() => {});
        throw new WriteStalled(`no bytes taken for ${stallMs} ms`);
      }
      at += n;
    } finally {
      deadline.clear();
    }
  }
}

/** How {@linkcode writeResponse} frames an answer. */
export interface WriteOptions {
  /** HEAD: the head only. */
  headOnly: boolean;
  /** Say `connection: close` (the connection closes after this answer). */
  close: boolean;
  /** The client can take chunked coding (HTTP/1.1); else a stream ends with the connection. */
  chunked: boolean;
  stallMs: number;
  /** Ends a streamed answer: the client has gone (the body is cancelled, so its source stops). */
  gone?: AbortSignal;
}

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/**
 * Writes `response`. An event stream (which never ends), or a body its
 * handler marked `Transfer-Encoding: chunked` (a long one it produces as it
 * is read: a range read), is sent chunked as it is produced, each chunk
 * written before the next is read; any other body is read whole and goes out
 * with its head in one write, since under load each further write waits a
 * turn of the event loop. When a streamed body errors (a reader cut off for
 * falling behind) the connection is closed at once, even while a write to it
 * is waiting, and without the last chunk: the client sees the answer is short.
 */
export async function writeResponse(
  conn: ConnLike,
  response: Response,
  options: WriteOptions,
): Promise<void> {
  const { status } = response;
  const lines = [statusLine(status)];
  for (const [name, value] of response.headers) {
    if (name !== "content-length" && name !== "transfer-encoding" && name !== "connection") {
      lines.push(`${name}: ${value}`);
    }
  }
  if (options.close) lines.push("connection: close");
  const bodiless = status < 200 || status === 204 || status === 304;
  const events = !bodiless && isEventStream(response);
  const stream = events || (!bodiless && response.headers.get("transfer-encoding") === "chunked");
  if (!stream) {
    const body = bodiless || !response.body
      ? new Uint8Array(0)
      : new Uint8Array(await response.arrayBuffer());
    if (response.body && !response.bodyUsed) await response.body.cancel();
    if (!bodiless) lines.push(`content-length: ${body.length}`);
    const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    return await writeAll(conn, options.headOnly ? head : concat([head, body]), options.stallMs);
  }
  if (options.chunked) lines.push("transfer-encoding: chunked");
  const reader = response.body!.getReader();
  reader.closed.catch(() => closeQuietly(conn));
  options.gone?.addEventListener("abort", () => void reader.cancel().catch(() => {}));
  try {
    const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    if (options.headOnly) {
      await writeAll(conn, head, options.stallMs);
      return await reader.cancel();
    }
    const framed = (value: Uint8Array) =>
      options.chunked ? [encoder.encode(`${value.length.toString(16)}\r\n`), value, CRLF] : [value];
    // Events go out as they come (the first may be long in coming). A body that
    // ends goes out a chunk behind, so its head and its end share a write with
    // a chunk: a lone small last write waits for the client's delayed ACK.
    let unsent: Uint8Array[] = [head];
    if (events) {
      await writeAll(conn, head, options.stallMs);
      unsent = [];
    }
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length === 0) continue;
      if (events) {
        await writeAll(conn, concat(framed(value)), options.stallMs);
        continue;
      }
      if (unsent.length > 1) {
        await writeAll(conn, concat(unsent), options.stallMs);
        unsent = [];
      }
      unsent.push(...framed(value));
    }
    if (options.chunked) unsent.push(LAST_CHUNK);
    if (unsent.length > 0) await writeAll(conn, concat(unsent), options.stallMs);
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
}

/** An answer that goes on until the server ends it: Server-Sent Events. */
export function isEventStream(response: Response): boolean {
  return response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
}

/** The JSON answer to a refused request: `{"error": …}` with the problem's status. */
export function problemResponse(problem: HttpProblem, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify({ error: problem.error }), {
    status: problem.status,
    headers: { "content-type": "application/json", ...headers },
  });
}
