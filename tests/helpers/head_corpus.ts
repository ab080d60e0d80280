/**
 * Request heads for the parser tests: valid ones, every malformed case the
 * edge's review found (issue 18), the classic request-smuggling set (CL.TE,
 * TE.CL, TE.TE obfuscations, chunk-size tricks) and the RFC 9112 rules, plus a
 * fast-check generator of variants. Requests are written as latin1 text: each
 * character one byte (`bytesOf`), so `\xa0` is the byte 0xA0 and `\xc2\xa0` is
 * U+00A0 in UTF-8.
 *
 * Body-less requests ask for `/healthz` and requests with a body POST to
 * `/logs/corpus`, which the gateway answers 200 and 201: any other answer is
 * the parser's (or the front door's) refusal.
 */

import fc from "fast-check";

export interface HeadCase {
  name: string;
  request: string;
  /**
   * Why the gateway refuses this although `node:http` accepts it (the
   * gateway may be stricter, never more lenient); absent when both should
   * agree.
   */
  stricter?: string;
}

/** The request pipelined after each case, so a body that swallows it shows. */
export const FOLLOW_UP = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

const GET = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
const POST = "POST /logs/corpus HTTP/1.1\r\nHost: localhost\r\n";
const CHUNKED = "Transfer-Encoding: chunked\r\n";

function get(headers: string): string {
  return `${GET}${headers}\r\n`;
}

function post(headers: string, body: string): string {
  return `${POST}${headers}\r\n${body}`;
}

const NOT_NORMAL = "a target not in normal form is refused so what is routed is what was sent";

export const HEAD_CORPUS: readonly HeadCase[] = [
  // Valid requests: both accept.
  { name: "a plain GET", request: get("") },
  { name: "HEAD", request: "HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" },
  { name: "HTTP/1.0 without Host", request: "GET /healthz HTTP/1.0\r\n\r\n" },
  { name: "an empty line before the request line", request: `\r\n${get("")}` },
  { name: "a query", request: "GET /healthz?a=1&b=%20 HTTP/1.1\r\nHost: localhost\r\n\r\n" },
  {
    name: "query characters browsers leave raw",
    request: "GET /healthz?a|b{}^ HTTP/1.1\r\nHost: localhost\r\n\r\n",
  },
  { name: "Host with a port", request: "GET /healthz HTTP/1.1\r\nHost: localhost:8080\r\n\r\n" },
  { name: "Host as an IPv6 literal", request: "GET /healthz HTTP/1.1\r\nHost: [::1]:80\r\n\r\n" },
  { name: "tabs and spaces around a value", request: get("X-A: \t v \t\r\n") },
  { name: "obs-text in a value", request: get("X-A: caf\xe9\r\n") },
  { name: "a BOM inside an ordinary value", request: get("X-A: \xef\xbb\xbfv\r\n") },
  { name: "an empty value", request: get("X-A:\r\n") },
  { name: "Content-Length body", request: post("Content-Length: 5\r\n", "hello") },
  { name: "Content-Length with leading zeros", request: post("Content-Length: 005\r\n", "hello") },
  { name: "Content-Length: 0", request: post("Content-Length: 0\r\n", "") },
  { name: "chunked body", request: post(CHUNKED, "5\r\nhello\r\n0\r\n\r\n") },
  {
    name: "chunked, upper-case coding",
    request: post("Transfer-Encoding: CHUNKED\r\n", "5\r\nhello\r\n0\r\n\r\n"),
  },
  { name: "chunked with an extension", request: post(CHUNKED, "5;a=b\r\nhello\r\n0\r\n\r\n") },
  {
    name: "chunked with a quoted extension",
    request: post(CHUNKED, '5;a="b c"\r\nhello\r\n0\r\n\r\n'),
  },
  { name: "chunked with a trailer", request: post(CHUNKED, "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n") },
  { name: "chunked, hex size", request: post(CHUNKED, "a\r\n0123456789\r\n0\r\n\r\n") },
  {
    name: "Expect: 100-continue",
    request: post("Expect: 100-continue\r\nContent-Length: 2\r\n", "hi"),
  },

  // Issue 18's findings.
  { name: "space before the colon (CL)", request: post("Content-Length : 5\r\n", "hello") },
  {
    name: "space before the colon (TE)",
    request: post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"),
  },
  { name: "VT before the colon", request: post("Transfer-Encoding\x0b: chunked\r\n", "0\r\n\r\n") },
  { name: "U+00A0 in a header name", request: get("X\xc2\xa0Y: a\r\n") },
  { name: "0xA0 in a header name", request: get("X\xa0Y: a\r\n") },
  {
    name: "a BOM before Content-Length's value",
    request: post("Content-Length: \xef\xbb\xbf5\r\n", "hello"),
  },
  {
    name: "a BOM before chunked",
    request: post("Transfer-Encoding: \xef\xbb\xbfchunked\r\n", "0\r\n\r\n"),
  },
  { name: "obs-fold", request: get("X-A: a\r\n b\r\n") },
  {
    name: "obs-fold of Transfer-Encoding",
    request: post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"),
  },
  {
    name: "whitespace before the first header",
    request: `GET /healthz HTTP/1.1\r\n Host: localhost\r\n\r\n`,
  },
  { name: "HTTP/1.1 without Host", request: "GET /healthz HTTP/1.1\r\n\r\n" },
  {
    name: "two Hosts",
    request: get("Host: y\r\n"),
    stricter: "RFC 9112 §3.2: a second Host is a 400 (node:http takes the first)",
  },
  {
    name: "empty Host",
    request: "GET /healthz HTTP/1.1\r\nHost: \r\n\r\n",
    stricter: "an http URI has an authority; an empty Host names none",
  },
  {
    name: "Host with a space",
    request: "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n",
    stricter: "RFC 9112 §3.2: a Host that is no valid host[:port] is a 400",
  },
  {
    name: "Host with userinfo",
    request: "GET /healthz HTTP/1.1\r\nHost: u@x\r\n\r\n",
    stricter: "RFC 9110 §7.2: Host is uri-host[:port], no userinfo",
  },
  {
    name: "//authority in the target",
    request: "GET //evil/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: NOT_NORMAL,
  },
  {
    name: "dot-dot in the target",
    request: "GET /metrics/../healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: NOT_NORMAL,
  },
  {
    name: "encoded dot-dot in the target",
    request: "GET /metrics/%2e%2e/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: NOT_NORMAL,
  },
  {
    name: "dot in the target",
    request: "GET /./healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: NOT_NORMAL,
  },
  {
    name: "backslash in the target",
    request: "GET /\\healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: NOT_NORMAL,
  },
  {
    name: "a quote in the path",
    request: 'GET /healthz" HTTP/1.1\r\nHost: localhost\r\n\r\n',
    stricter: NOT_NORMAL,
  },
  {
    name: "a bad percent-encoding",
    request: "GET /healthz%zz HTTP/1.1\r\nHost: localhost\r\n\r\n",
  },
  {
    name: "absolute-form target",
    request: "GET http://x/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: "only origin-form is served: the gateway is no proxy",
  },
  {
    name: "asterisk-form target",
    request: "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: "only origin-form is served",
  },
  { name: "authority-form target", request: "CONNECT x:443 HTTP/1.1\r\nHost: localhost\r\n\r\n" },
  {
    name: "a GET with a body",
    request: `${GET}Content-Length: 5\r\n\r\nhello`,
    stricter: "a GET or HEAD body has no meaning here; refusing it keeps framing simple",
  },

  // Request line.
  {
    name: "two spaces after the method",
    request: "GET  /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    stricter: "RFC 9112 §3: one SP between method, target and version",
  },
  { name: "a tab after the method", request: "GET\t/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" },
  {
    name: "a trailing space after the version",
    request: "GET /healthz HTTP/1.1 \r\nHost: localhost\r\n\r\n",
  },
  { name: "lower-case version", request: "GET /healthz http/1.1\r\nHost: localhost\r\n\r\n" },
  { name: "HTTP/1.2", request: "GET /healthz HTTP/1.2\r\nHost: localhost\r\n\r\n" },
  {
    name: "HTTP/2.0",
    request: "GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n",
    stricter: "505: only HTTP/1.0 and 1.1 are served (llhttp reads 2.0 as 1.x)",
  },
  {
    name: "HTTP/0.9",
    request: "GET /healthz\r\n\r\n",
    stricter: "HTTP/0.9 (a request line without a version) is not served",
  },
  { name: "a space in the target", request: "GET /health z HTTP/1.1\r\nHost: localhost\r\n\r\n" },
  { name: "NUL in the target", request: "GET /healthz\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n" },
  { name: "a non-token method", request: "G(T /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" },
  {
    name: "a request line of 9,000 bytes",
    request: `GET /healthz?${"a".repeat(9000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
  },
  {
    name: "a request line of 17,000 bytes",
    request: `GET /healthz?${"a".repeat(17000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
  },

  // Line endings and controls.
  { name: "bare LF line endings", request: "GET /healthz HTTP/1.1\nHost: localhost\n\n" },
  { name: "one bare LF among CRLFs", request: get("X-A: a\nX-B: b\r\n") },
  { name: "bare CR in a value", request: get("X-A: a\rb\r\n") },
  { name: "NUL in a value", request: get("X-A: a\x00b\r\n") },
  { name: "SOH in a value", request: get("X-A: a\x01b\r\n") },
  { name: "DEL in a value", request: get("X-A: a\x7fb\r\n") },
  { name: "DEL in a name", request: get("X\x7fA: a\r\n") },
  { name: "no colon", request: get("X-A a\r\n") },
  { name: "empty name", request: get(": a\r\n") },
  {
    name: "101 header lines",
    request: get("X-A: a\r\n".repeat(101)),
    stricter: "431 past 100 field lines (node:http: 2,000)",
  },
  { name: "a 17 KiB header", request: get(`X-A: ${"a".repeat(17 * 1024)}\r\n`) },

  // Framing: the smuggling set.
  { name: "CL and TE (CL.TE)", request: post("Content-Length: 6\r\n" + CHUNKED, "0\r\n\r\nX") },
  {
    name: "TE and CL (TE.CL)",
    request: post(CHUNKED + "Content-Length: 3\r\n", "5\r\nhello\r\n0\r\n\r\n"),
  },
  {
    name: "two Content-Lengths, different",
    request: post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
  },
  {
    name: "two Content-Lengths, same",
    request: post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
  },
  { name: "Content-Length list", request: post("Content-Length: 5, 5\r\n", "hello") },
  { name: "Content-Length +5", request: post("Content-Length: +5\r\n", "hello") },
  { name: "Content-Length -1", request: post("Content-Length: -1\r\n", "") },
  { name: "Content-Length 0x5", request: post("Content-Length: 0x5\r\n", "hello") },
  { name: "Content-Length 5.0", request: post("Content-Length: 5.0\r\n", "hello") },
  {
    name: "Content-Length with a space inside",
    request: post("Content-Length: 1 0\r\n", "0123456789"),
  },
  {
    name: "Content-Length past 2^53",
    request: post("Content-Length: 99999999999999999999\r\n", ""),
  },
  { name: "TE xchunked", request: post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n") },
  {
    name: "TE chunked, then TE x",
    request: post(CHUNKED + "Transfer-Encoding: x\r\n", "0\r\n\r\n"),
  },
  {
    name: "TE chunked twice",
    request: post(CHUNKED + CHUNKED, "0\r\n\r\n"),
  },
  {
    name: "TE chunked, chunked",
    request: post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
  },
  {
    name: "TE gzip, chunked",
    request: post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
    stricter: "501: only chunked is decoded",
  },
  {
    name: "TE chunked, identity",
    request: post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"),
  },
  { name: "TE identity", request: post("Transfer-Encoding: identity\r\n", "") },
  { name: "TE quoted", request: post('Transfer-Encoding: "chunked"\r\n', "0\r\n\r\n") },
  { name: "TE with a tab value", request: post("Transfer-Encoding:\tchunked\r\n", "0\r\n\r\n") },
  {
    name: "TE in HTTP/1.0",
    request: "POST /logs/corpus HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    stricter: "RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing",
  },
  {
    name: "TE with a bare LF before the colon",
    request: post("Transfer-Encoding\n: chunked\r\n", "0\r\n\r\n"),
  },
  { name: "chunk size 0x5", request: post(CHUNKED, "0x5\r\nhello\r\n0\r\n\r\n") },
  { name: "chunk size with a leading space", request: post(CHUNKED, " 5\r\nhello\r\n0\r\n\r\n") },
  {
    name: "chunk size with a trailing space",
    request: post(CHUNKED, "5 \r\nhello\r\n0\r\n\r\n"),
  },
  { name: "chunk size -5", request: post(CHUNKED, "-5\r\nhello\r\n0\r\n\r\n") },
  {
    name: "chunk size overflowing 64 bits",
    request: post(CHUNKED, "10000000000000005\r\nhello\r\n0\r\n\r\n"),
  },
  { name: "chunk size with a bare LF", request: post(CHUNKED, "5\nhello\r\n0\r\n\r\n") },
  {
    name: "chunk extension with a bare LF",
    request: post(CHUNKED, "5;a\nb\r\nhello\r\n0\r\n\r\n"),
  },
  { name: "chunk data longer than its size", request: post(CHUNKED, "3\r\nhello\r\n0\r\n\r\n") },
  { name: "chunk data without its CRLF", request: post(CHUNKED, "5\r\nhello0\r\n\r\n") },
  { name: "trailer with obs-fold", request: post(CHUNKED, "0\r\nX-T: 1\r\n 2\r\n\r\n") },
  {
    name: "Expect: something else",
    request: post("Expect: magic\r\nContent-Length: 2\r\n", "hi"),
  },
];

/** One edit of a valid request, for the generated variants. */
type Edit =
  | { kind: "insert"; at: number; byte: string }
  | { kind: "delete"; at: number }
  | { kind: "replace"; at: number; byte: string };

/** Bytes that parsers have disagreed about. */
const TRICKY = [
  "\x00",
  "\t",
  "\x0b",
  "\x0c",
  "\r",
  "\n",
  " ",
  ":",
  ",",
  ";",
  '"',
  "\\",
  "/",
  ".",
  "%",
  "\x7f",
  "\x80",
  "\xa0",
  "\xff",
  "0",
  "a",
  "A",
];

const TEMPLATES = [
  get(""),
  get("X-A: v\r\n"),
  post("Content-Length: 5\r\n", "hello"),
  post(CHUNKED, "5\r\nhello\r\n0\r\n\r\n"),
  "GET /healthz HTTP/1.0\r\n\r\n",
];

function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = text;
  for (const edit of edits) {
    const at = edit.at % (out.length + 1);
    if (edit.kind === "insert") out = out.slice(0, at) + edit.byte + out.slice(at);
    else if (edit.kind === "delete") out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at) + edit.byte + out.slice(at + 1);
  }
  return out;
}

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(200),
    byte: fc.constantFrom(...TRICKY),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(200) }),
  fc.record({
    kind: fc.constant("replace" as const),
    at: fc.nat(200),
    byte: fc.constantFrom(...TRICKY),
  }),
);

/** A valid request (one of a few) with one to three bytes inserted, deleted or replaced. */
export const headVariant: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...TEMPLATES), fc.array(edit, { minLength: 1, maxLength: 3 }))
  .map(([template, edits]) => applyEdits(template, edits));

/** Any case of the corpus, or a variant of one. */
export const headCase: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...HEAD_CORPUS.map((c) => c.request)),
  fc.tuple(fc.constantFrom(...HEAD_CORPUS.map((c) => c.request)), fc.array(edit, { maxLength: 2 }))
    .map(([request, edits]) => applyEdits(request, edits)),
  headVariant,
);
