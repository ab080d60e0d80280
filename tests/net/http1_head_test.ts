/**
 * Issue 18: the request head parser on its own (src/net/http1/head.ts). What
 * each malformed head is answered (status and rule), what a valid one yields,
 * and that reading a head costs time linear in its size however it is split:
 * a 16 KiB head sent a byte at a time is looked at a few times per byte and
 * copied a bounded number of times (before, each read copied and rescanned everything
 * gathered so far: 0.5 s of CPU).
 */

import assert from "node:assert/strict";
import {
  HEAD_LIMITS,
  HeadScanner,
  parseHead,
  readHead,
  type RequestHead,
  targetProblem,
} from "../../src/net/http1/head.ts";
import { ConnInput, FREE_READS } from "../../src/net/http1/input.ts";
import type { HttpProblem } from "../../src/net/http1/response.ts";
import { bytesOf } from "../helpers/http_exchange.ts";
import { ScriptedConn } from "../helpers/scripted_conn.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** The whole text as one head: scanned, then parsed. */
function parse(text: string): RequestHead | HttpProblem {
  const bytes = bytesOf(text);
  const found = new HeadScanner().scan(bytes);
  assert.notEqual(found, -1, "a complete head");
  if (typeof found === "object" && "status" in found) return found;
  const { start, end } = found as { start: number; end: number };
  return parseHead(bytes.subarray(start, end));
}

function refused(text: string): HttpProblem {
  const result = parse(text);
  assert.ok("status" in result, `accepted: ${JSON.stringify(text)}`);
  return result;
}

Deno.test("a valid head: its parts, framing, Host, keep-alive and expectations", () => {
  const head = parse(
    "\r\nPOST /logs/a%2Fb?x=1 HTTP/1.1\r\nHost: example.org:8080\r\nContent-Length: 12\r\n" +
      "Connection: keep-alive\r\nExpect: 100-continue\r\nX-Obs: caf\xe9\r\nX-Pad: \t v \t\r\n\r\n",
  ) as RequestHead;
  assert.equal(head.method, "POST");
  assert.equal(head.target, "/logs/a%2Fb?x=1");
  assert.equal(head.version, "HTTP/1.1");
  assert.equal(head.host, "example.org:8080");
  assert.deepEqual(head.body, { kind: "length", length: 12 });
  assert.equal(head.close, false);
  assert.equal(head.expectContinue, true);
  const field = (name: string) => head.fields[head.fields.indexOf(name) + 1];
  assert.equal(field("x-obs"), "caf\xe9", "obs-text kept, byte for byte");
  assert.equal(field("x-pad"), "v", "only spaces and tabs are trimmed");
  const chunked = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n");
  assert.deepEqual((chunked as RequestHead).body, { kind: "chunked" });
  const old = parse("GET /healthz HTTP/1.0\r\n\r\n") as RequestHead;
  assert.equal(old.close, true, "HTTP/1.0 closes");
  assert.equal(old.host, undefined);
  const upgrade = parse(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: close\r\n\r\n",
  );
  assert.equal((upgrade as RequestHead).upgrade, true);
  assert.equal((upgrade as RequestHead).close, true);
});

const REFUSED: [string, string, number, RegExp][] = [
  [
    "space before the colon",
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n",
    400,
    /header name holds byte 0x20/,
  ],
  [
    "VT before the colon",
    "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\x0b: chunked\r\n\r\n",
    400,
    /byte 0x0b/,
  ],
  ["U+00A0 in a name", "GET / HTTP/1.1\r\nHost: x\r\nX\xc2\xa0Y: a\r\n\r\n", 400, /byte 0xc2/],
  [
    "a BOM before a length",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xef\xbb\xbf5\r\n\r\n",
    400,
    /Content-Length must be one decimal number/,
  ],
  [
    "a BOM before chunked",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \xef\xbb\xbfchunked\r\n\r\n",
    400,
    /exactly chunked/,
  ],
  ["obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, /obs-fold/],
  ["no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400, /needs a Host/],
  ["two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, /more than one Host/],
  ["a bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, /not a valid host/],
  [
    "two lengths",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
    400,
    /more than one Content-Length/,
  ],
  [
    "length and chunked",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
    /both/,
  ],
  ["TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, /HTTP\/1\.0/],
  [
    "TE gzip, chunked",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    501,
    /only the chunked/,
  ],
  [
    "TE chunked, gzip",
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    400,
    /exactly chunked/,
  ],
  ["a NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400, /byte 0x00/],
  ["a bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400, /byte 0x0d/],
  ["a bare LF", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400, /bare LF/],
  ["two spaces in the request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, /METHOD SP TARGET/],
  ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, /only HTTP\/1\.1/],
  ["an unknown method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, /BREW is not implemented/],
  ["//authority", "GET //evil/logs/x HTTP/1.1\r\nHost: x\r\n\r\n", 400, /must not start with \/\//],
  ["dot-dot", "GET /healthz/../logs/x HTTP/1.1\r\nHost: x\r\n\r\n", 400, /\.\. segment/],
  [
    "encoded dot-dot",
    "GET /metrics/%2e%2E/logs/x HTTP/1.1\r\nHost: x\r\n\r\n",
    400,
    /\.\. segment/,
  ],
  ["absolute-form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, /starting with \//],
  [
    "an unknown expectation",
    "POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\n",
    417,
    /expectation/,
  ],
  [
    "101 header lines",
    `GET / HTTP/1.1\r\nHost: x\r\n${"X: a\r\n".repeat(100)}\r\n`,
    431,
    /over 100 header lines/,
  ],
  [
    "a head over 16 KiB",
    `GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(17_000)}\r\n\r\n`,
    431,
    /over 16384 bytes/,
  ],
  [
    "a request line over 16 KiB",
    `GET /${"a".repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    414,
    /request line is over/,
  ],
];

for (const [what, text, status, error] of REFUSED) {
  Deno.test(`refused: ${what} (${status})`, () => {
    const problem = refused(text);
    assert.equal(problem.status, status);
    assert.match(problem.error, error);
  });
}

Deno.test("a target is taken only in normal form: what is routed is what was sent", () => {
  const ok = [
    "/",
    "/logs/a%2Fb",
    "/logs?after=x&limit=1",
    "/healthz?a|b{}^",
    "/a:b@c;d=e,f!$&'()*+",
  ];
  for (const target of ok) assert.equal(targetProblem(bytesOf(target)), undefined, target);
  const bad = [
    "//x",
    "/./a",
    "/a/.",
    "/a/..",
    "/%2E/a",
    "/a/%2e%2e",
    "/a b",
    '/a"b',
    "/a\\b",
    "/\xe9",
    "*",
    "x",
    "/a#b",
    "/a?b#c",
  ];
  for (const target of bad) assert.ok(targetProblem(bytesOf(target)), target);
  // A URL parser keeps a bad %-sequence as it is: the routes refuse it when they decode a name.
  assert.equal(targetProblem(bytesOf("/logs/%E0%A4%A")), undefined);
});

Deno.test("the scanner finds a head's end across reads, each byte looked at once", () => {
  const text = bytesOf("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\nrest");
  const scanner = new HeadScanner();
  let found: ReturnType<HeadScanner["scan"]> = -1;
  for (let n = 1; n <= text.length && found === -1; n++) found = scanner.scan(text.subarray(0, n));
  assert.deepEqual(found, { start: 0, end: text.length - 4 });
  assert.equal(new HeadScanner().scan(bytesOf("GET / HTTP/1.1\r\nHost: x\r\n")), -1);
});

/** Counts the bytes `Uint8Array.prototype.indexOf` looks at while `fn` runs. */
async function countingIndexOf(fn: () => Promise<void>): Promise<number> {
  const original = Uint8Array.prototype.indexOf;
  let examined = 0;
  Uint8Array.prototype.indexOf = function (this: Uint8Array, value: number, from = 0) {
    const found = original.call(this, value, from);
    examined += (found < 0 ? this.length : found + 1) - Math.max(0, from);
    return found;
  };
  try {
    await fn();
  } finally {
    Uint8Array.prototype.indexOf = original;
  }
  return examined;
}

Deno.test("a 16 KiB head sent a byte at a time: each byte looked at a few times, the buffer grown 3 times", async () => {
  const headers = Array.from({ length: 90 }, (_, i) => `X-${i}: ${"v".repeat(170)}\r\n`).join("");
  const text = `GET /healthz HTTP/1.1\r\nHost: x\r\n${headers}\r\n`;
  assert.ok(text.length > 15_000 && text.length < HEAD_LIMITS.headBytes);
  const conn = new ScriptedConn(bytesOf(text), { perRead: 1 });
  // Not paced: this is about the work per read (the next test is about pacing).
  const input = new ConnInput(conn, 64 * 1024, 0);
  let head: Awaited<ReturnType<typeof readHead>>;
  const examined = await countingIndexOf(async () => {
    head = await readHead(input, 10_000, true);
  });
  assert.ok(head! && !("status" in head!), "the head is read");
  // The scan looks at each byte once; parsing the finished head once more (its colons a third
  // time). Rescanning what had arrived at each read, as before, is 16,044²/2: 128 million.
  assert.ok(examined <= 3 * text.length, `${examined} bytes examined for ${text.length}`);
  // 2 KiB doubled to 16 KiB: a copy at each growth, not one per read.
  assert.ok(conn.readBuffers.size <= 5, `${conn.readBuffers.size} buffers`);
  conn.close();
});

Deno.test("readHead: late is 408, a silent kept-alive connection closes without a word, a client that leaves is undefined", async () => {
  const partial = new ScriptedConn(bytesOf("GET / HTTP/1.1\r\n"), { perRead: 100 });
  const late = await readHead(new ConnInput(partial, 4096), 50, false);
  assert.equal((late as HttpProblem).status, 408);
  partial.close();
  const silent = new ScriptedConn(new Uint8Array(0));
  assert.equal(await readHead(new ConnInput(silent, 4096), 50, false), undefined);
  const first = await readHead(new ConnInput(silent, 4096), 50, true);
  assert.equal((first as HttpProblem).status, 408, "a first head that never comes is late");
  silent.close();
  assert.equal(await readHead(new ConnInput(silent, 4096), 50, true), undefined, "closed: left");
});

Deno.test("reads past a stage's first 64 are paced: a byte-at-a-time sender gets a read per 100 ms, not one per byte", async () => {
  const conn = new ScriptedConn(
    bytesOf(`GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(500)}\r\n\r\n`),
  );
  const input = new ConnInput(conn, 4096);
  const reading = readHead(input, 250, true);
  const result = await reading;
  // 250 ms: 64 reads at once, then at most 3 paced ones (a slower machine reads fewer).
  assert.equal((result as HttpProblem).status, 408);
  assert.ok(conn.readBuffers.size >= 1);
  assert.ok(input.buffered.length <= FREE_READS + 3, `${input.buffered.length} reads in 250 ms`);
  conn.close();
});
