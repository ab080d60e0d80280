/**
 * Issue 18: request bodies read by the front door itself (src/net/http1/
 * body.ts), bounded in bytes and time: Content-Length and chunked bodies,
 * what each malformed one is answered, and that nothing is read from the
 * connection before the handler asks.
 */

import assert from "node:assert/strict";
import { type BodyOptions, RequestBody } from "../../src/net/http1/body.ts";
import type { BodyFraming } from "../../src/net/http1/head.ts";
import { ConnInput } from "../../src/net/http1/input.ts";
import { bytesOf } from "../helpers/http_exchange.ts";
import { ScriptedConn } from "../helpers/scripted_conn.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const OPTIONS: BodyOptions = { maxBytes: 1000, timeoutMs: 5_000 };

/** Reads the whole body as the handler would: its text, or the error its stream gave. */
async function readBody(
  script: string,
  framing: BodyFraming,
  options: Partial<BodyOptions> = {},
  perRead = 3,
): Promise<{ body: RequestBody; text?: string; error?: unknown; conn: ScriptedConn }> {
  const conn = new ScriptedConn(bytesOf(script), {
    perRead,
    ends: options.timeoutMs === undefined,
  });
  // Not paced: bodies in 3-byte reads would be (tests/net/http1_head_test.ts tests pacing).
  const body = new RequestBody(new ConnInput(conn, 64 * 1024, 0), framing, {
    ...OPTIONS,
    ...options,
  });
  try {
    const bytes = await new Response(body.stream).bytes();
    return { body, text: String.fromCharCode(...bytes), conn };
  } catch (error) {
    return { body, error, conn };
  } finally {
    conn.close();
  }
}

Deno.test("a Content-Length body is read in pieces to its end, and not a byte past it", async () => {
  const { body, text } = await readBody("hello worldGET / HTTP/1.1", {
    kind: "length",
    length: 11,
  });
  assert.equal(text, "hello world");
  assert.ok(body.done);
  assert.equal(body.problem, undefined);
});

Deno.test("a chunked body: sizes in hex, extensions and trailers dropped, data kept", async () => {
  const script = '5;name=value\r\nhello\r\nA;q="a b"\r\n 012345678\r\n0\r\nX-Trailer: t\r\n\r\n';
  const { body, text } = await readBody(script, { kind: "chunked" });
  assert.equal(text, "hello 012345678");
  assert.ok(body.done);
});

const MALFORMED: [string, string, BodyFraming, number, RegExp][] = [
  ["a bare LF after a size", "5\nhello\r\n0\r\n\r\n", { kind: "chunked" }, 400, /bare LF/],
  ["a size in 0x", "0x5\r\nhello\r\n0\r\n\r\n", { kind: "chunked" }, 400, /size line/],
  ["a negative size", "-5\r\nhello\r\n0\r\n\r\n", { kind: "chunked" }, 400, /size line/],
  ["a size of 9 digits", "100000005\r\nhello\r\n0\r\n\r\n", { kind: "chunked" }, 400, /size line/],
  [
    "data past its size",
    "3\r\nhello\r\n0\r\n\r\n",
    { kind: "chunked" },
    400,
    /longer than its size/,
  ],
  [
    "an extension with a control",
    "5;a\x01\r\nhello\r\n0\r\n\r\n",
    { kind: "chunked" },
    400,
    /size line/,
  ],
  ["a folded trailer", "0\r\nX: 1\r\n 2\r\n\r\n", { kind: "chunked" }, 400, /trailer/],
  ["a chunk line over 4 KiB", `5;a=${"b".repeat(5000)}\r\n`, { kind: "chunked" }, 400, /too long/],
  [
    "chunks past the limit",
    "3e8\r\n" + "x".repeat(1000) + "\r\n1\r\nx\r\n0\r\n\r\n",
    { kind: "chunked" },
    413,
    /1000-byte limit/,
  ],
  ["a body cut short", "hel", { kind: "length", length: 5 }, 400, /ended before/],
];

for (const [what, script, framing, status, error] of MALFORMED) {
  Deno.test(`a body with ${what}: ${status}`, async () => {
    const result = await readBody(script, framing);
    assert.ok(result.error, "the stream failed");
    assert.equal(result.body.problem?.status, status);
    assert.match(result.body.problem!.error, error);
    assert.equal(result.body.done, false);
  });
}

Deno.test("a Content-Length past the limit is refused without reading a byte", async () => {
  const { body, error, conn } = await readBody("x".repeat(2000), { kind: "length", length: 2000 });
  assert.ok(error);
  assert.equal(body.problem?.status, 413);
  assert.equal(conn.readBuffers.size, 0, "nothing was read");
});

Deno.test("a body that stops arriving fails at its deadline with 408", async () => {
  const { body, error } = await readBody("he", { kind: "length", length: 5 }, { timeoutMs: 50 });
  assert.ok(error);
  assert.equal(body.problem?.status, 408);
});

Deno.test("nothing is read before the handler pulls; the 100 Continue goes before the first read only", async () => {
  const conn = new ScriptedConn(bytesOf("hello"), { perRead: 5 });
  const calls: string[] = [];
  const settled: string[] = [];
  const body = new RequestBody(new ConnInput(conn, 4096), { kind: "length", length: 5 }, {
    ...OPTIONS,
    beforeFirstRead: () => {
      calls.push(`continue after ${conn.readBuffers.size} reads`);
      return Promise.resolve();
    },
    onSettled: () => settled.push("settled"),
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(conn.readBuffers.size, 0, "nothing read unasked");
  assert.equal(await new Response(body.stream).text(), "hello");
  assert.deepEqual(calls, ["continue after 0 reads"]);
  assert.deepEqual(settled, ["settled"]);
  conn.close();
});

Deno.test("a body the handler never read is abandoned: its deadline stops, it is not done", () => {
  const conn = new ScriptedConn(new Uint8Array(0));
  const settled: string[] = [];
  const body = new RequestBody(new ConnInput(conn, 4096), { kind: "length", length: 5 }, {
    ...OPTIONS,
    onSettled: () => settled.push("settled"),
  });
  body.abandon();
  assert.equal(body.done, false);
  assert.deepEqual(settled, ["settled"]);
  conn.close();
});
