/**
 * Issue 7, the front door and the WebSocket it runs: heads under a timeout,
 * frames refused from their header, RFC 6455 close codes, idle pings, and
 * HTTP answered on kept-alive connections.
 */

import assert from "node:assert/strict";
import { TestClient, waitFor } from "../helpers/client.ts";
import { httpUrl, withGatewayIn } from "../helpers/gateway.ts";
import { rawRequest, readResponse, upgradeHead } from "../helpers/raw_http.ts";
import { maskedFrame, RawWebSocket } from "../helpers/raw_ws.ts";
import { CountedConn } from "../../src/net/counted_conn.ts";
import { ServerWebSocket } from "../../src/net/websocket/mod.ts";
import { SOCKET_OPTIONS } from "../helpers/fake_conn.ts";
import { shippedTest } from "../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const encoder = new TextEncoder();

interface Readyz {
  limits: Record<"maxFrameBytes" | "handshakeTimeoutMs" | "maxHandshakes", { refused: number }>;
  front: { open: number; handshakes: number };
}

async function readyz(http: (path: string) => string): Promise<Readyz> {
  return await (await fetch(http("/readyz"))).json() as Readyz;
}

/** Reads until the server closes (or `enough` of it came); the bytes read, as text. */
async function readToEnd(conn: Deno.Conn, enough = (_text: string) => false): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(4096);
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(decoder.decode(buffer.subarray(0, n)));
      if (enough(chunks.join(""))) break;
    }
  } catch {
    // A reset ends it too.
  }
  return chunks.join("");
}

const protocolErrors: [string, Uint8Array, number][] = [
  ["invalid UTF-8 in a text frame", maskedFrame(0x1, new Uint8Array([0xc3, 0x28])), 1007],
  ["opcode 3", maskedFrame(0x3, new Uint8Array(0)), 1002],
  ["a 126-byte ping", maskedFrame(0x9, new Uint8Array(126)), 1002],
  ["a fragmented ping", maskedFrame(0x9, new Uint8Array(1), { fin: false }), 1002],
  ["reserved bits", maskedFrame(0x1, encoder.encode("{}"), { rsv: 4 }), 1002],
  ["an unmasked frame", maskedFrame(0x1, encoder.encode("{}"), { unmasked: true }), 1002],
  ["a continuation with nothing to continue", maskedFrame(0x0, encoder.encode("x")), 1002],
  ["close code 999", maskedFrame(0x8, new Uint8Array([0x03, 0xe7])), 1002],
];

for (const [what, frame, code] of protocolErrors) {
  shippedTest(
    `${what} gets a close frame with ${code}, and the gateway goes on`,
    async (dataDir) => {
      await withGatewayIn(dataDir, {}, async ({ gateway }) => {
        const ws = await RawWebSocket.connect(gateway.port);
        await ws.sendBytes(frame);
        const closed = await ws.readUntilClose();
        assert.equal(closed.code, code);
        ws.close();
        const other = await TestClient.connect(gateway.url);
        other.send({ logname: "no.such" });
        assert.equal((await other.next()).ep_stat[0], 600);
        await other.close();
      });
    },
  );
}

shippedTest(
  "a message in three fragments and one larger than a read, both sent in pieces, are read whole",
  async (dataDir) => {
    await withGatewayIn(dataDir, { maxRecordBytes: 512 * 1024 }, async ({ gateway }) => {
      const ws = await RawWebSocket.connect(gateway.port);
      const small = encoder.encode(
        JSON.stringify({ append: "pieces", data: "a".repeat(3000), id: 1 }),
      );
      const large = encoder.encode(
        JSON.stringify({ append: "pieces", data: "b".repeat(300_000), id: 2 }),
      );
      const frames = [
        maskedFrame(0x1, small.subarray(0, 1000), { fin: false }),
        maskedFrame(0x0, small.subarray(1000, 2000), { fin: false }),
        maskedFrame(0x0, small.subarray(2000)),
        maskedFrame(0x1, large),
      ];
      for (const frame of frames) {
        for (let at = 0; at < frame.length; at += 700) {
          await ws.sendBytes(frame.subarray(at, at + 700));
        }
      }
      for (const id of [1, 2]) {
        const reply = JSON.parse(new TextDecoder().decode((await ws.nextFrame()).payload));
        assert.equal(reply.id, id);
        assert.equal(reply.ep_stat[0], 200);
      }
      ws.close();
    });
  },
);

shippedTest(
  "a 100 MiB frame is refused from its header: 413, then close 1009, payload never sent",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway, http }) => {
      const ws = await RawWebSocket.connect(gateway.port);
      // Only the header: the gateway must answer without waiting for 100 MiB.
      const header = maskedFrame(0x1, new Uint8Array(0), { declaredLength: 100 * 1024 * 1024 });
      await ws.sendBytes(header);
      const error = await ws.nextFrame();
      assert.equal(error.opcode, 0x1);
      assert.match(new TextDecoder().decode(error.payload), /413.*over the 2097152-byte limit/);
      const closed = await ws.readUntilClose();
      assert.equal(closed.code, 1009);
      ws.close();
      assert.equal((await readyz(http)).limits.maxFrameBytes.refused, 1);
    });
  },
);

shippedTest("a message fragmented past the limit is refused as one", async (dataDir) => {
  await withGatewayIn(
    dataDir,
    { maxFrameBytes: 1000, maxRecordBytes: 100 },
    async ({ gateway }) => {
      const ws = await RawWebSocket.connect(gateway.port);
      await ws.sendBytes(maskedFrame(0x1, new Uint8Array(600).fill(32), { fin: false }));
      await ws.sendBytes(maskedFrame(0x0, new Uint8Array(600).fill(32), { fin: false }));
      assert.equal((await ws.readUntilClose()).code, 1009);
      ws.close();
    },
  );
});

shippedTest(
  "a connection that never sends its head gets 408 after the timeout, and so does a partial one",
  async (dataDir) => {
    await withGatewayIn(dataDir, { handshakeTimeoutMs: 300 }, async ({ gateway, http }) => {
      const silent = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      const partial = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      await partial.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: localhost\r\n"));
      for (const conn of [silent, partial]) {
        const text = await readToEnd(conn);
        assert.match(text, /^HTTP\/1\.1 408 /);
        assert.match(text, /did not arrive in time/);
        conn.close();
      }
      const state = await readyz(http);
      assert.equal(state.limits.handshakeTimeoutMs.refused, 2);
      assert.equal(state.front.handshakes, 0);
    });
  },
);

shippedTest(
  "connections still in their head are capped: one more gets 503 at once",
  async (dataDir) => {
    await withGatewayIn(
      dataDir,
      { maxHandshakes: 3, handshakeTimeoutMs: 60_000 },
      async ({ gateway, http }) => {
        const held = await Promise.all(
          [1, 2, 3].map(() => Deno.connect({ hostname: "127.0.0.1", port: gateway.port })),
        );
        await waitFor(() => gateway.frontDoor.stats().handshakes === 3, "three heads in progress");
        const extra = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
        const text = await readToEnd(extra);
        assert.match(text, /^HTTP\/1\.1 503 /);
        assert.match(text, /still sending their request/);
        extra.close();
        for (const conn of held) conn.close();
        await waitFor(() => gateway.frontDoor.stats().handshakes === 0, "the heads given up");
        assert.equal((await readyz(http)).limits.maxHandshakes.refused, 1);
      },
    );
  },
);

shippedTest("HTTP/1.0 upgrades get 400, not 101", async (dataDir) => {
  await withGatewayIn(dataDir, {}, async ({ gateway }) => {
    const res = await rawRequest(gateway.port, upgradeHead(gateway.port, { version: "HTTP/1.0" }));
    assert.equal(res.status, 400);
    assert.match(res.body, /needs HTTP\/1\.1/);
  });
});

shippedTest("two requests on one kept-alive connection are both answered", async (dataDir) => {
  await withGatewayIn(dataDir, {}, async ({ gateway }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
    for (const path of ["/healthz", "/logs"]) {
      await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`));
      const res = await readResponse(conn);
      assert.equal(res.status, 200);
    }
    conn.close();
  });
});

shippedTest(
  "a frame sent with the upgrade, before the 101, is answered; closing frees the connection",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      const head = encoder.encode(upgradeHead(gateway.port));
      const frame = maskedFrame(0x1, encoder.encode('{"logname":"no.such"}'));
      const both = new Uint8Array(head.length + frame.length);
      both.set(head);
      both.set(frame, head.length);
      await conn.write(both);
      const text = await readToEnd(conn, (seen) => seen.includes('"ep_stat"'));
      assert.match(text, /^HTTP\/1\.1 101 /);
      assert.match(text, /"ep_stat": \[600/);
      conn.close();
      await waitFor(() => gateway.frontDoor.stats().open === 0, "the connection released");
    });
  },
);

shippedTest(
  "a bounded answer goes out whole, with content-length; an event stream is chunked",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway, http }) => {
      // One write per answer: under load each further write waits a turn of the event loop.
      for (const path of ["/healthz", "/logs"]) {
        const res = await rawRequest(
          gateway.port,
          `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
        );
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("transfer-encoding"), null);
        assert.equal(
          Number(res.headers.get("content-length")),
          new TextEncoder().encode(res.body).length,
        );
        assert.ok(res.body.length > 0);
      }
      await fetch(http("/logs/chunked.stream"), { method: "POST", body: "one" }).then((r) =>
        r.body?.cancel()
      );
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      await conn.write(encoder.encode(
        "GET /logs/chunked.stream/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n",
      ));
      const res = await readResponse(conn, true);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("transfer-encoding"), "chunked");
      conn.close();
    });
  },
);

shippedTest(
  "silence gets a ping after --idle-timeout, then close 1001 with one Close",
  async (dataDir) => {
    await withGatewayIn(dataDir, { idleTimeoutSec: 1 }, async ({ gateway }) => {
      const quiet = await RawWebSocket.connect(gateway.port);
      const ping = await quiet.nextFrame();
      assert.equal(ping.opcode, 0x9);
      const closed = await quiet.readUntilClose();
      assert.equal(closed.code, 1001);
      assert.match(closed.reason, /idle/);
      quiet.close();
      // A client that answers stays: after its pong the next frame is another ping.
      const alive = await RawWebSocket.connect(gateway.port);
      assert.equal((await alive.nextFrame()).opcode, 0x9);
      await alive.sendBytes(maskedFrame(0xa, new Uint8Array(0)));
      assert.equal((await alive.nextFrame()).opcode, 0x9);
      alive.close();
    });
  },
);

shippedTest(
  "among many sockets on one idle timer, the silent ones are closed and the answering ones stay",
  async (dataDir) => {
    await withGatewayIn(dataDir, { idleTimeoutSec: 1 }, async ({ gateway }) => {
      const sockets = await Promise.all(
        Array.from({ length: 20 }, () => RawWebSocket.connect(gateway.port)),
      );
      const silent = sockets.filter((_, i) => i % 2 === 0);
      const answering = sockets.filter((_, i) => i % 2 === 1);
      // Three pings answered span more than the silent ones' ping and close.
      const answer = async (ws: RawWebSocket) => {
        for (let i = 0; i < 3; i++) {
          assert.equal((await ws.nextFrame()).opcode, 0x9);
          await ws.sendBytes(maskedFrame(0xa, new Uint8Array(0)));
        }
      };
      const [closes] = await Promise.all([
        Promise.all(silent.map((ws) => ws.readUntilClose())),
        Promise.all(answering.map(answer)),
      ]);
      for (const closed of closes) assert.equal(closed.code, 1001);
      for (const ws of sockets) ws.close();
    });
  },
);

shippedTest(
  "requests with a body are read by the front door: a Content-Length one and a chunked one on one kept-alive connection",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      await conn.write(encoder.encode(
        "POST /logs/bodies HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi",
      ));
      const first = await readResponse(conn);
      assert.equal(first.status, 201);
      assert.equal(first.headers.get("connection"), null, "kept alive");
      await conn.write(encoder.encode(
        "POST /logs/bodies HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
          "3;ext=1\r\nthe\r\n5\r\n body\r\n0\r\nX-Trailer: dropped\r\n\r\n",
      ));
      const second = await readResponse(conn);
      assert.equal(second.status, 201);
      assert.equal(JSON.parse(second.body).recno, 2);
      conn.close();
      const got = await fetch(httpUrl(gateway.url, "/logs/bodies"));
      assert.equal((await got.json()).count, 2);
    });
  },
);

Deno.test("a socket whose 101 could not be written is aborted: its handler hears the close and the connection closes", async () => {
  // The front door aborts the accepted socket when writing the 101 fails, so the
  // gateway's session (sessions, per-address count) lets go of it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const server = await listener.accept();
  listener.close();
  const socket = new ServerWebSocket(server, SOCKET_OPTIONS);
  const closes: number[] = [];
  socket.handler = { onClose: (info) => closes.push(info.code) };
  socket.abort();
  assert.deepEqual(closes, [1006]);
  assert.equal(socket.readyState, 3);
  assert.equal(await client.read(new Uint8Array(1)), null, "the client sees the connection end");
  client.close();
});

Deno.test("a WebSocket over the front door's counted connection turns Nagle off on the TCP connection under it", async () => {
  // The socket asked the connection it was given; a counted connection had no setNoDelay and
  // the ask went nowhere, so every gateway WebSocket kept Nagle's delay.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const tcp = await listener.accept();
  listener.close();
  const asked: (boolean | undefined)[] = [];
  const setNoDelay = tcp.setNoDelay.bind(tcp);
  tcp.setNoDelay = (noDelay?: boolean) => {
    asked.push(noDelay);
    setNoDelay(noDelay);
  };
  const socket = new ServerWebSocket(new CountedConn(tcp).conn, SOCKET_OPTIONS);
  socket.start();
  assert.deepEqual(asked, [true]);
  socket.abort();
  client.close();
});
