/**
 * An HTTP/1.1 request head, read as strictly as RFC 9112 asks of a server:
 * §2.2 (CRLF only, no bare LF or CR; leading empty lines skipped), §3 (one
 * space between method, target and version; origin-form targets only, in
 * normal form), §3.2 (exactly one valid Host in HTTP/1.1), §5 (field names
 * are tokens with no space before the colon; no obs-fold; values without
 * control characters, trimmed of spaces and tabs only) and §6 (one
 * Content-Length of digits, or Transfer-Encoding exactly `chunked` in
 * HTTP/1.1, never both). Whatever one parser accepts and another reads
 * differently is how a proxy in front is made to pass a second request, so
 * anything else is a 400 naming the rule, and the connection is closed.
 *
 * {@linkcode HeadScanner} finds a head's end as bytes arrive, looking at each
 * byte once; {@linkcode parseHead} then parses it in one pass.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
 * const found = new HeadScanner().scan(bytes);
 * if (typeof found === "object" && "end" in found) {
 *   const head = parseHead(bytes.subarray(found.start, found.end));
 *   console.log("status" in head ? head.error : head.target); // "/healthz"
 * }
 * ```
 *
 * @module
 */

import { Deadline } from "../deadline.ts";
import type { ConnInput } from "./input.ts";
import type { HttpProblem } from "./response.ts";

/** Fixed bounds on a request head. */
export const HEAD_LIMITS = Object.freeze({
  /** The whole head, request line and field lines (431 past it). */
  headBytes: 16 * 1024,
  /** The request line (414 past it): room for a 1,024-character logname, percent-encoded. */
  requestLineBytes: 16 * 1024,
  /** Field lines (431 past it). */
  fieldLines: 100,
});

/** How a request's body is delimited (RFC 9112 §6.3). */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" };

/** A request head that passed every check. */
export interface RequestHead {
  method: string;
  /** The origin-form target as sent: a path in normal form and maybe a query. */
  target: string;
  version: "HTTP/1.1" | "HTTP/1.0";
  /**
   * The header fields as sent, name (lowercase) and value one after another:
   * the request's `Headers` is made from them once, by {@linkcode requestOf}
   * (a `Headers` made here and handed to `new Request` is copied through
   * WebIDL's conversion, a third of what a WebSocket handshake allocated).
   */
  fields: readonly string[];
  /** The Host header's value (required in HTTP/1.1). */
  host: string | undefined;
  body: BodyFraming;
  /** The client asked to close after this request (or spoke HTTP/1.0). */
  close: boolean;
  /** `Upgrade: websocket`. */
  upgrade: boolean;
  /** `Expect: 100-continue`: the client waits for a 100 before sending its body. */
  expectContinue: boolean;
}

/** Where requests arrive: the scheme served and the address a request without Host names. */
export interface Origin {
  scheme: "http" | "https";
  /** `host:port` of the listening socket. */
  host: string;
}

/**
 * The `Request` a head makes (with `body` as its stream), or undefined when
 * its Host and target make no URL.
 */
export function requestOf(
  head: RequestHead,
  method: string,
  body: ReadableStream<Uint8Array> | undefined,
  origin: Origin,
): Request | undefined {
  try {
    const request = new Request(`${origin.scheme}://${head.host ?? origin.host}${head.target}`, {
      method,
      ...(body ? { body } : {}),
    });
    const { headers } = request;
    const fields = head.fields;
    for (let i = 0; i < fields.length; i += 2) headers.append(fields[i]!, fields[i + 1]!);
    return request;
  } catch {
    return undefined;
  }
}

/**
 * Methods a route may answer (a route that does not gets 405 with `Allow`);
 * any other is a 501 (RFC 9110 §9.1), CONNECT and TRACE included.
 */
export const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "OPTIONS",
  "PATCH",
]);

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = byteSet("!#$%&'*+-.^_`|~0123456789" + letters());
/** RFC 3986 pchar, "/" and "%" (checked as pct-encoding separately): an origin-form path. */
const PATH_CHAR = byteSet("-._~!$&'()*+,;=:@/%0123456789" + letters());
/** Printable ASCII but "#": a query (browsers leave `{|}^` and the like unencoded there). */
const QUERY_CHAR = new Uint8Array(256).map((_, b) => b > 0x20 && b < 0x7f && b !== 0x23 ? 1 : 0);
/** RFC 9110 §5.5 field-vchar, SP and HTAB: VCHAR and obs-text, no controls. */
const VALUE_CHAR = new Uint8Array(256).map((_, b) =>
  b === HTAB || b === SP || (b > 0x20 && b !== 0x7f) ? 1 : 0
);
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{1,5})?$/;

function letters(): string {
  return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
}

function byteSet(chars: string): Uint8Array {
  const set = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) set[chars.charCodeAt(i)] = 1;
  return set;
}

function problem(status: number, error: string): HttpProblem {
  return { status, error };
}

/**
 * Finds the end of a head in a buffer that grows between calls (the same
 * buffer, more bytes): each call looks only at bytes not seen before.
 */
export class HeadScanner {
  #scanned = 0;
  #lineStart = 0;
  /** Where the request line starts: after any empty lines before it. */
  #headStart = 0;
  #fieldLines = 0;

  /**
   * `{start, end}` of the head in `bytes` (end just past its empty line), -1
   * while it is incomplete, or the problem that ends it.
   */
  scan(bytes: Uint8Array): { start: number; end: number } | -1 | HttpProblem {
    for (;;) {
      const lf = bytes.indexOf(LF, this.#scanned);
      if (lf < 0) {
        this.#scanned = bytes.length;
        return this.#tooLong(bytes.length) ?? -1;
      }
      if (lf === 0 || bytes[lf - 1] !== CR) {
        return problem(400, "a line of the request head ends in a bare LF, not CRLF");
      }
      this.#scanned = lf + 1;
      const tooLong = this.#tooLong(lf - 1);
      if (tooLong) return tooLong;
      const empty = lf - 1 === this.#lineStart;
      const requestLine = this.#lineStart === this.#headStart;
      this.#lineStart = lf + 1;
      if (empty && requestLine) {
        this.#headStart = lf + 1; // RFC 9112 §2.2: empty lines before the request line
        continue;
      }
      if (empty) return { start: this.#headStart, end: lf + 1 };
      if (!requestLine && ++this.#fieldLines > HEAD_LIMITS.fieldLines) {
        return problem(431, `the request has over ${HEAD_LIMITS.fieldLines} header lines`);
      }
    }
  }

  /** The problem when `at` bytes in (the current line's end so far) is past a limit. */
  #tooLong(at: number): HttpProblem | undefined {
    if (
      this.#lineStart === this.#headStart && at - this.#headStart > HEAD_LIMITS.requestLineBytes
    ) {
      return problem(414, `the request line is over ${HEAD_LIMITS.requestLineBytes} bytes`);
    }
    if (at > HEAD_LIMITS.headBytes) {
      return problem(431, `the request head is over ${HEAD_LIMITS.headBytes} bytes`);
    }
    return undefined;
  }
}

/**
 * Reads the next request head from `input` within `timeoutMs`: the head, a
 * problem to answer (408 when late), or undefined when the client left, or,
 * kept alive (`first` false), stayed silent past the timeout (to be closed
 * without a word). Each byte is looked at once however the head is split.
 */
export async function readHead(
  input: ConnInput,
  timeoutMs: number,
  first: boolean,
): Promise<RequestHead | HttpProblem | undefined> {
  const deadline = new Deadline(timeoutMs);
  const scanner = new HeadScanner();
  input.newStage();
  try {
    for (;;) {
      const found = scanner.scan(input.buffered);
      if (found !== -1) {
        if ("status" in found) return found;
        const head = parseHead(input.buffered.subarray(found.start, found.end));
        input.consume(found.end);
        return head;
      }
      const outcome = await input.fill(deadline);
      if (outcome === "end") return undefined;
      if (outcome === "full") {
        return problem(431, `the request head is over ${HEAD_LIMITS.headBytes} bytes`);
      }
      if (outcome === "timeout") {
        if (!first && input.buffered.length === 0) return undefined;
        return problem(408, "the request head did not arrive in time");
      }
    }
  } finally {
    deadline.clear();
  }
}

/** Parses a head found by {@linkcode HeadScanner}: its request line up to the final CRLFCRLF. */
export function parseHead(bytes: Uint8Array): RequestHead | HttpProblem {
  let lineEnd = bytes.indexOf(LF) - 1;
  const line = requestLine(bytes.subarray(0, lineEnd));
  if ("status" in line) return line;
  const fields: string[] = [];
  const seen = { host: [] as string[], length: [] as string[], coding: [] as string[] };
  const connection: string[] = [];
  let upgrade = false;
  let expect: string | undefined;
  for (let start = lineEnd + 2; start < bytes.length - 2; start = lineEnd + 2) {
    lineEnd = bytes.indexOf(LF, start) - 1;
    const field = fieldLine(bytes.subarray(start, lineEnd));
    if ("status" in field) return field;
    const [name, value] = field;
    switch (name) {
      case "host":
        seen.host.push(value);
        break;
      case "content-length":
        seen.length.push(value);
        break;
      case "transfer-encoding":
        seen.coding.push(value);
        break;
      case "connection":
        connection.push(...value.toLowerCase().split(",").map(trimOws));
        break;
      case "upgrade":
        upgrade ||= value.toLowerCase() === "websocket";
        break;
      case "expect":
        if (expect !== undefined) return problem(400, "the request has two Expect headers");
        expect = value.toLowerCase();
    }
    fields.push(name, value);
  }
  const host = checkHost(seen.host, line.version);
  if (typeof host === "object") return host;
  const body = framing(seen.length, seen.coding, line.version);
  if ("status" in body) return body;
  if (expect !== undefined && expect !== "100-continue") {
    return problem(417, `the expectation ${JSON.stringify(expect)} is not supported`);
  }
  return {
    ...line,
    fields,
    host,
    body,
    close: line.version === "HTTP/1.0" || connection.includes("close"),
    upgrade,
    expectContinue: expect === "100-continue" && body.kind !== "none",
  };
}

interface RequestLine {
  method: string;
  target: string;
  version: "HTTP/1.1" | "HTTP/1.0";
}

/** RFC 9112 §3: `method SP request-target SP HTTP-version`, one space each. */
function requestLine(bytes: Uint8Array): RequestLine | HttpProblem {
  const malformed = problem(400, "the request line is not METHOD SP TARGET SP HTTP/1.1");
  const first = bytes.indexOf(SP);
  const second = first < 0 ? -1 : bytes.indexOf(SP, first + 1);
  if (first <= 0 || second < 0 || bytes.indexOf(SP, second + 1) >= 0) return malformed;
  for (let i = 0; i < first; i++) if (!TCHAR[bytes[i]!]) return malformed;
  const version = ascii(bytes.subarray(second + 1));
  if (!/^HTTP\/[0-9]\.[0-9]$/.test(version)) return malformed;
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    return problem(505, "only HTTP/1.1 (and 1.0) are served");
  }
  const method = ascii(bytes.subarray(0, first));
  if (!METHODS.has(method)) return problem(501, `the method ${method} is not implemented`);
  const target = bytes.subarray(first + 1, second);
  const wrong = targetProblem(target);
  if (wrong) return problem(400, wrong);
  return { method, target: ascii(target), version };
}

/**
 * Why `target` is refused, or undefined: it must be origin-form (RFC 9112
 * §3.2.1) and already in normal form, so that what is routed is what was
 * sent: no `//` authority, no `.` or `..` segment (nor `%2e`), no character a
 * URL parser would encode or rewrite. A `%` not followed by two hex digits is
 * left to the routes (a URL parser keeps it as it is; decoding a name refuses it).
 */
export function targetProblem(target: Uint8Array): string | undefined {
  if (target[0] !== 0x2f) return "the request target must be a path starting with /";
  if (target[1] === 0x2f) return "the request target must not start with //";
  let query = target.indexOf(0x3f);
  if (query < 0) query = target.length;
  for (let i = 0; i < target.length; i++) {
    const b = target[i]!;
    if (!(i < query ? PATH_CHAR[b] : QUERY_CHAR[b])) {
      return `the request target holds ${describe(b)}, which must be percent-encoded`;
    }
  }
  const path = ascii(target.subarray(0, query));
  for (const segment of path.split("/")) {
    const dots = segment.replace(/%2e/gi, ".");
    if (dots === "." || dots === "..") {
      return "the request target holds a . or .. segment: send the path it stands for";
    }
  }
  // What the URL parser would still rewrite (anything the rules above missed).
  if (new URL(path, "http://h").pathname !== path) {
    return "the request target is not in normal form";
  }
  return undefined;
}

/** RFC 9112 §5.1: `name ":" OWS value OWS`, no space before the colon, no obs-fold. */
function fieldLine(bytes: Uint8Array): [string, string] | HttpProblem {
  if (bytes[0] === SP || bytes[0] === HTAB) {
    return problem(400, "a header line starts with whitespace (obs-fold is not accepted)");
  }
  const colon = bytes.indexOf(0x3a);
  if (colon <= 0) return problem(400, "a header line has no name and colon");
  for (let i = 0; i < colon; i++) {
    if (!TCHAR[bytes[i]!]) {
      return problem(400, `a header name holds ${describe(bytes[i]!)} (names are tokens)`);
    }
  }
  let start = colon + 1;
  let end = bytes.length;
  while (start < end && (bytes[start] === SP || bytes[start] === HTAB)) start++;
  while (end > start && (bytes[end - 1] === SP || bytes[end - 1] === HTAB)) end--;
  for (let i = start; i < end; i++) {
    if (!VALUE_CHAR[bytes[i]!]) {
      return problem(400, `a header value holds ${describe(bytes[i]!)}`);
    }
  }
  return [ascii(bytes.subarray(0, colon)).toLowerCase(), latin1(bytes.subarray(start, end))];
}

/** RFC 9112 §3.2: one Host in HTTP/1.1 (at most one in 1.0), a valid authority. */
function checkHost(values: string[], version: string): string | undefined | HttpProblem {
  if (values.length > 1) return problem(400, "the request has more than one Host header");
  const host = values[0];
  if (host === undefined) {
    return version === "HTTP/1.1" ? problem(400, "an HTTP/1.1 request needs a Host header") : host;
  }
  if (!HOST.test(host)) return problem(400, "the Host header is not a valid host[:port]");
  return host;
}

/** RFC 9112 §6.1-6.3: how the body is delimited, or why that cannot be trusted. */
function framing(lengths: string[], codings: string[], version: string): BodyFraming | HttpProblem {
  if (lengths.length > 0 && codings.length > 0) {
    return problem(400, "the request has both Content-Length and Transfer-Encoding");
  }
  if (lengths.length > 1) return problem(400, "the request has more than one Content-Length");
  if (codings.length > 1) return problem(400, "the request has more than one Transfer-Encoding");
  const length = lengths[0];
  if (length !== undefined) {
    if (!/^[0-9]{1,15}$/.test(length)) {
      return problem(400, "Content-Length must be one decimal number");
    }
    const n = Number(length);
    return n === 0 ? { kind: "none" } : { kind: "length", length: n };
  }
  const coding = codings[0];
  if (coding === undefined) return { kind: "none" };
  if (version !== "HTTP/1.1") return problem(400, "Transfer-Encoding is not allowed in HTTP/1.0");
  const list = coding.toLowerCase().split(",").map(trimOws);
  if (list.length === 1 && list[0] === "chunked") return { kind: "chunked" };
  const tokens = list.every((c) => c.length > 0 && [...c].every((ch) => TCHAR[ch.charCodeAt(0)]));
  if (tokens && list.at(-1) === "chunked" && list.indexOf("chunked") === list.length - 1) {
    return problem(501, "only the chunked transfer coding is supported");
  }
  return problem(400, "Transfer-Encoding must be exactly chunked");
}

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, "");
}

function describe(b: number): string {
  return b > 0x20 && b < 0x7f ? `"${String.fromCharCode(b)}"` : `byte 0x${hex2(b)}`;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}

const asciiDecoder = new TextDecoder();

/** Bytes already checked to be ASCII. */
function ascii(bytes: Uint8Array): string {
  return asciiDecoder.decode(bytes);
}

/** One character per byte (obs-text kept as U+0080-U+00FF, as `Headers` expects). */
function latin1(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) return String.fromCharCode(...bytes);
  }
  return asciiDecoder.decode(bytes);
}
