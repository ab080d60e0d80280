/**
 * Issue 18: answers as the front door writes them (src/net/http1/response.ts):
 * a reason phrase for every status (there were `200 Error` and `403 Error`
 * lines), no body for HEAD, 204 and 304, and every write under a stall
 * deadline, an event stream's connection closed the moment its stream fails.
 */

import { GATEWAY_STATUSES } from "../helpers/statuses.ts";
import assert from "node:assert/strict";
import {
  REASONS,
  statusLine,
  writeAll,
  writeResponse,
  WriteStalled,
} from "../../src/net/http1/response.ts";
import { ScriptedConn } from "../helpers/scripted_conn.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const OPTIONS = { headOnly: false, close: false, chunked: true, stallMs: 1_000 };

Deno.test("every status the gateway sends has its RFC 9110 reason phrase", () => {
  for (const status of [...GATEWAY_STATUSES, 500, 507]) {
    assert.ok(REASONS[status], `${status}`);
    assert.equal(statusLine(status), `HTTP/1.1 ${status} ${REASONS[status]}`);
  }
  assert.equal(statusLine(299), "HTTP/1.1 299 OK", "an unlisted code gets its class's phrase");
  assert.doesNotMatch(Object.values(REASONS).join(" "), /Error(?! )/);
});

Deno.test("a bounded answer in one write with content-length; HEAD the same head, no body; 204 neither", async () => {
  const full = new ScriptedConn(new Uint8Array(0));
  await writeResponse(full, Response.json({ a: 1 }, { status: 201 }), OPTIONS);
  assert.equal(full.written.length, 1);
  assert.match(full.text, /^HTTP\/1\.1 201 Created\r\n/);
  assert.match(full.text, /\r\ncontent-length: 7\r\n\r\n\{"a":1\}$/);
  const head = new ScriptedConn(new Uint8Array(0));
  await writeResponse(head, Response.json({ a: 1 }, { status: 201 }), {
    ...OPTIONS,
    headOnly: true,
  });
  assert.equal(head.text, full.text.slice(0, full.text.indexOf("\r\n\r\n") + 4));
  const empty = new ScriptedConn(new Uint8Array(0));
  await writeResponse(empty, new Response(null, { status: 204 }), { ...OPTIONS, close: true });
  assert.equal(empty.text, "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
});

Deno.test("a write the client does not take within the stall deadline closes the connection", async () => {
  const conn = new ScriptedConn(new Uint8Array(0), { stallWrites: true });
  await assert.rejects(writeAll(conn, new Uint8Array(10), 50), WriteStalled);
  assert.ok(conn.closed);
});

Deno.test("an event stream that fails (a reader cut off) closes its connection at once, even while a write waits", async () => {
  const conn = new ScriptedConn(new Uint8Array(0), { stallWrites: true });
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  const response = new Response(body, { headers: { "content-type": "text/event-stream" } });
  const writing = writeResponse(conn, response, { ...OPTIONS, stallMs: 60_000 });
  controller.error(new Error("the reader fell behind"));
  await assert.rejects(writing);
  assert.ok(conn.closed, "closed without waiting for the stall deadline");
});

Deno.test("an event stream to an HTTP/1.0 client ends with the connection, not chunked", async () => {
  const conn = new ScriptedConn(new Uint8Array(0));
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("data: 1\n\n"));
      controller.close();
    },
  });
  const response = new Response(body, { headers: { "content-type": "text/event-stream" } });
  await writeResponse(conn, response, { ...OPTIONS, chunked: false, close: true });
  assert.match(conn.text, /connection: close\r\n\r\ndata: 1\n\n$/);
  assert.doesNotMatch(conn.text, /transfer-encoding/);
});
