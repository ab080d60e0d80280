/**
 * The connection input's buffer: what a WebSocket takes over at the upgrade,
 * and that the input keeps nothing of it afterwards (an idle socket held
 * 2 KiB there; BENCHMARKS.md's idle memory row).
 */

import assert from "node:assert/strict";
import { Deadline } from "../../src/net/deadline.ts";
import { ConnInput } from "../../src/net/http1/input.ts";
import { bytesOf } from "../helpers/http_exchange.ts";
import { ScriptedConn } from "../helpers/scripted_conn.ts";

Deno.test("takeAll hands over the unread bytes as a copy and lets the buffer go", async () => {
  const conn = new ScriptedConn(bytesOf("GET / HTTP/1.1\r\n\r\n\x81\x80"), { perRead: 64 });
  const input = new ConnInput(conn, 16 * 1024);
  const deadline = new Deadline(1000);
  assert.equal(await input.fill(deadline), "data");
  deadline.clear();
  const head = "GET / HTTP/1.1\r\n\r\n".length;
  const seen = input.buffered;
  input.consume(head);
  const taken = input.takeAll();
  assert.deepEqual([...taken], [0x81, 0x80]);
  assert.notEqual(taken.buffer, seen.buffer, "a copy, not a view of the input's buffer");
  assert.equal(input.buffered.length, 0);
  assert.equal(input.buffered.buffer.byteLength, 0, "the input's buffer is let go");
  conn.close();
});

Deno.test("an input whose bytes were taken reads again into a fresh buffer", async () => {
  const conn = new ScriptedConn(bytesOf("ab"), { perRead: 1 });
  const input = new ConnInput(conn, 16 * 1024);
  const deadline = new Deadline(1000);
  assert.equal(await input.fill(deadline), "data");
  assert.deepEqual([...input.takeAll()], [0x61]);
  assert.equal(await input.fill(deadline), "data");
  assert.deepEqual([...input.buffered], [0x62]);
  deadline.clear();
  conn.close();
});
