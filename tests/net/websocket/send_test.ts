/**
 * The server WebSocket's send path on a connection that records its writes:
 * what goes on the wire, and what is shared between sockets.
 */

import assert from "node:assert/strict";
import { ServerWebSocket } from "../../../src/net/websocket/mod.ts";
import { slicesSettled } from "../../../src/io/time_slice.ts";
import { waitFor } from "../../helpers/client.ts";
import { FakeConn, SOCKET_OPTIONS } from "../../helpers/fake_conn.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** A connection that keeps every buffer written to it and never reads a byte. */
class RecordingConn extends FakeConn {
  readonly written: Uint8Array[] = [];

  write(bytes: Uint8Array): Promise<number> {
    this.written.push(bytes);
    return Promise.resolve(bytes.length);
  }
}

/** The payload of an unmasked server frame with a 64-bit length. */
function payloadOf(frame: Uint8Array): string {
  assert.equal(frame[0], 0x81, "a final text frame");
  assert.equal(frame[1], 127, "a 64-bit length");
  const length = Number(new DataView(frame.buffer, frame.byteOffset).getBigUint64(2));
  assert.equal(length, frame.length - 10);
  return new TextDecoder().decode(frame.subarray(10));
}

for (const letter of ["é", "a"]) {
  Deno.test(`a megabyte text frame ("${letter}"…) sent to many sockets, one after another, is encoded once and written whole to each`, async () => {
    const text = `[${
      Array.from({ length: 250 }, (_, i) => JSON.stringify(letter.repeat(4096) + i))
    }]`;
    const conns = Array.from({ length: 20 }, () => new RecordingConn());
    const sockets = conns.map((conn) => new ServerWebSocket(conn.conn, SOCKET_OPTIONS));
    try {
      for (const socket of sockets) {
        socket.start();
        socket.send(text);
      }
      await waitFor(() => conns.every((conn) => conn.written.length === 1), "every frame written");
      const first = conns[0]!.written[0]!;
      assert.equal(payloadOf(first), text);
      for (const conn of conns) {
        assert.equal(conn.written[0]!.buffer, first.buffer, "the same bytes, not a copy");
      }
    } finally {
      for (const socket of sockets) socket.abort();
      await slicesSettled();
    }
  });
}

Deno.test("a text frame sent as UTF-8 parts is the frame of their text, at every length form", async () => {
  const encoder = new TextEncoder();
  // 7-bit, 16-bit and 64-bit payload lengths; ASCII, two-, three- and four-byte characters.
  const cases = [["[", '"é✓😀"', "]"], ["x".repeat(200), "é"], ["é".repeat(40_000), "a"]];
  for (const texts of cases) {
    const text = texts.join("");
    const [asParts, asText] = [new RecordingConn(), new RecordingConn()];
    const sockets = [
      new ServerWebSocket(asParts.conn, SOCKET_OPTIONS),
      new ServerWebSocket(asText.conn, SOCKET_OPTIONS),
    ];
    try {
      for (const socket of sockets) socket.start();
      sockets[0]!.sendUtf8(texts.map((t) => encoder.encode(t)));
      sockets[1]!.send(text);
      await waitFor(() => asParts.written.length === 1 && asText.written.length === 1, "written");
      assert.deepEqual(asParts.written[0], asText.written[0], `${text.length} characters`);
    } finally {
      for (const socket of sockets) socket.abort();
      await slicesSettled();
    }
  }
});

Deno.test("the socket turns Nagle off on its connection: an answer is not held back for the ACK of the one before", async () => {
  class TcpLikeConn extends RecordingConn {
    noDelay: boolean | undefined;
    setNoDelay(on: boolean): void {
      this.noDelay = on;
    }
  }
  const conn = new TcpLikeConn();
  const socket = new ServerWebSocket(conn.conn, SOCKET_OPTIONS);
  try {
    socket.start();
    assert.equal(conn.noDelay, true);
  } finally {
    socket.abort();
    await slicesSettled();
  }
});

Deno.test("lines sent as one stretch of UTF-8 become a text frame each, the frames of their texts, at every length form", async () => {
  const encoder = new TextEncoder();
  // 7-bit and 16-bit payload lengths; ASCII and multi-byte characters; a one-character line.
  const texts = ['{"a": "é✓😀"}', "x".repeat(125), "y".repeat(126), "é".repeat(40_000), "z"];
  const [asLines, asTexts] = [new RecordingConn(), new RecordingConn()];
  const sockets = [
    new ServerWebSocket(asLines.conn, SOCKET_OPTIONS),
    new ServerWebSocket(asTexts.conn, SOCKET_OPTIONS),
  ];
  try {
    for (const socket of sockets) socket.start();
    sockets[0]!.sendLines(encoder.encode(texts.join("\n")));
    for (const text of texts) sockets[1]!.send(text);
    for (const socket of sockets) socket.flush();
    await waitFor(() => asLines.written.length === 1 && asTexts.written.length === 1, "written");
    assert.deepEqual(asLines.written[0], asTexts.written[0]);
  } finally {
    for (const socket of sockets) socket.abort();
    await slicesSettled();
  }
});
