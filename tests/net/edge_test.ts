/**
 * Issue 18, attacked as deployed: each test starts a gateway with the
 * binary's exact grants (`serveShipped`: no /proc, so no known descriptor
 * limit unless told) under `ulimit -n 1024`, and does what the review did.
 *
 * - Stalled bodies: a burst of POST heads announcing a body that never comes
 *   ended the process (EMFILE in the internal server); now each holds one
 *   counted descriptor and a slot, gets 408 at the body deadline, and goes.
 * - An answer given before the body (401, 413) closes the connection.
 * - One client address cannot take every head slot.
 * - Event-stream readers cut off for falling behind lose their connection,
 *   and a client that never reads its answers loses it at the write deadline.
 * - The process listens on one TCP port: no internal server.
 * - Status lines carry their reason phrase; HEAD works wherever GET does;
 *   targets not in normal form and HTTP/1.1 without Host are 400.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Socket } from "node:net";
import {
  closeAll,
  connectFrom,
  edgeState,
  fatalLines,
  healthz,
  openMany,
  readUntilClosed,
  rssOf,
  stalledPost,
  until,
} from "../helpers/edge.ts";
import { exchange } from "../helpers/http_exchange.ts";
import type { ServeProcess } from "../helpers/process.ts";
import { serveShipped, type ShippedPaths } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const encoder = new TextEncoder();
const LOW_LIMIT = "ulimit -n 1024";

async function withShipped(
  args: string[],
  fn: (gateway: ServeProcess, dir: string) => Promise<void>,
  paths: (dir: string) => Promise<Partial<ShippedPaths>> = () => Promise.resolve({}),
): Promise<void> {
  await withTempDir("gdp-ws-edge-", async (dir) => {
    const data = join(dir, "data");
    const gateway = await serveShipped({ data, ...await paths(dir) }, args, { setup: LOW_LIMIT });
    let exited = false;
    void gateway.child.status.then(() => exited = true);
    try {
      await fn(gateway, dir);
      assert.equal(exited, false, "the gateway died");
      assert.deepEqual(fatalLines(gateway), [], "the gateway ran out of descriptors or threw");
    } finally {
      await gateway.stop();
    }
  });
}

Deno.test("400 POST heads whose 1 MB body never comes: the process lives, each gets 408 at the body deadline and is closed", async () => {
  const args = ["--body-timeout", "2000", "--max-handshakes-per-address", "1000"];
  await withShipped(args, async (gateway) => {
    const rssBefore = await rssOf(gateway.child.pid);
    const stalled = await openMany(gateway.port, 400, stalledPost());
    try {
      // The bodies are pending: each holds one descriptor and one slot, counted.
      await until(
        async () => (await edgeState(gateway.port)).front.handshakes >= 400,
        "400 bodies in progress",
      );
      assert.equal(await healthz(gateway.port), 200, "others are served meanwhile");
      const answers = await Promise.all(stalled.map((conn) => readUntilClosed(conn, 15_000)));
      for (const { text, closed } of answers) {
        assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
        assert.match(text, /did not arrive in time/);
        assert.ok(closed, "the connection is closed after the 408");
      }
      const state = await edgeState(gateway.port);
      assert.equal(state.limits.bodyTimeoutMs!.refused, 400);
      await until(
        async () => (await edgeState(gateway.port)).front.open <= 1,
        "every connection gone",
      );
      const grown = (await rssOf(gateway.child.pid)) - rssBefore;
      console.log(`RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB over 400 stalled bodies`);
      assert.ok(grown < 100 * 2 ** 20, `RSS grew ${grown} bytes`);
    } finally {
      closeAll(stalled);
    }
  });
});

Deno.test("an answer given before the body (401 without a token, 413 for a longer Content-Length) closes the connection", async () => {
  const secret = async (dir: string) => {
    const file = join(dir, "secret");
    await Deno.writeTextFile(file, "a-secret-of-at-least-32-bytes-for-hs256!");
    return { authSecret: file };
  };
  await withShipped([], async (gateway) => {
    for (const [head, status] of [[stalledPost("/logs/x"), 401]] as const) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      try {
        await conn.write(encoder.encode(head));
        const { text, closed } = await readUntilClosed(conn);
        assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} Unauthorized\\r\\n`));
        assert.match(text, /\r\nconnection: close\r\n/);
        assert.ok(closed, `the connection stays open after the ${status}`);
      } finally {
        conn.close();
      }
    }
  }, secret);
  await withShipped(
    ["--max-record-bytes", "1000", "--send-queue-bytes", "4000"],
    async (gateway) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      try {
        await conn.write(encoder.encode(stalledPost("/logs/x", 5_000)));
        const { text, closed } = await readUntilClosed(conn);
        assert.match(text, /^HTTP\/1\.1 413 Content Too Large\r\n/);
        assert.ok(closed, "the connection stays open after the 413");
      } finally {
        conn.close();
      }
    },
  );
});

Deno.test("one client address cannot take every head slot: past --max-handshakes-per-address it gets 503 or is closed, and /healthz is answered meanwhile", async () => {
  await withShipped(
    ["--max-handshakes", "300", "--handshake-timeout", "30000"],
    async (gateway) => {
      const attacker: Socket[] = [];
      const answered: string[] = [];
      let closed = 0;
      try {
        for (let i = 0; i < 600; i++) {
          const socket = await connectFrom(gateway.port, "127.0.0.2");
          attacker.push(socket);
          socket.on("data", (data: Uint8Array) => answered.push(new TextDecoder().decode(data)));
          socket.on("close", () => closed++);
          socket.on("error", () => {});
        }
        // While the refusals are under way, another address is served: they never hold the loop.
        assert.equal(
          await healthz(gateway.port, 2_000),
          200,
          "another address is served meanwhile",
        );
        await until(() => closed >= 500, "500 of 600 refused");
        assert.ok(answered.length >= 1);
        for (const text of answered) {
          assert.match(text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
          assert.match(text, /too many connections from 127\.0\.0\.2/);
        }
        const state = await edgeState(gateway.port);
        assert.equal(state.limits.maxHandshakesPerAddress!.refused, 500);
        assert.equal(state.front.handshakes, 100);
      } finally {
        for (const socket of attacker) socket.destroy();
      }
    },
  );
});

Deno.test("event-stream readers cut off for falling behind lose their connection and its queued bytes", async () => {
  const args = ["--max-record-bytes", "65536", "--send-queue-bytes", "131072"];
  await withShipped(args, async (gateway) => {
    const base = `http://127.0.0.1:${gateway.port}`;
    const first = await fetch(`${base}/logs/es`, { method: "POST", body: "x" });
    assert.equal(first.status, 201);
    await first.body?.cancel();
    const head =
      "GET /logs/es/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n";
    const readers = await openMany(gateway.port, 20, head);
    try {
      await until(
        async () => (await edgeState(gateway.port)).connections === 20,
        "20 streams open",
      );
      const rssBefore = await rssOf(gateway.child.pid);
      const record = "r".repeat(60_000);
      // Far more than the kernel's buffers and the send queue hold for a reader that never reads.
      for (let i = 0; i < 300 && (await edgeState(gateway.port)).connections > 0; i++) {
        const response = await fetch(`${base}/logs/es`, { method: "POST", body: record });
        await response.body?.cancel();
      }
      await until(
        async () => (await edgeState(gateway.port)).connections === 0,
        "every reader cut off",
      );
      await until(
        async () => (await edgeState(gateway.port)).front.open <= 1,
        "their connections closed",
      );
      const grown = (await rssOf(gateway.child.pid)) - rssBefore;
      console.log(`RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB over 20 readers cut off`);
    } finally {
      closeAll(readers);
    }
  });
});

Deno.test("an event-stream client that leaves is noticed at once, not at the next heartbeat", async () => {
  // The heartbeat, the next write, is a minute away: only a read beside the stream sees the end.
  await withShipped(["--idle-timeout", "60"], async (gateway) => {
    const base = `http://127.0.0.1:${gateway.port}`;
    const first = await fetch(`${base}/logs/quiet`, { method: "POST", body: "x" });
    assert.equal(first.status, 201);
    await first.body?.cancel();
    const head =
      "GET /logs/quiet/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n";
    const readers = await openMany(gateway.port, 10, head);
    await until(async () => (await edgeState(gateway.port)).connections === 10, "10 streams open");
    closeAll(readers);
    await until(
      async () => (await edgeState(gateway.port)).connections === 0,
      "the streams of clients that left to end",
      10_000,
    );
    await until(async () => (await edgeState(gateway.port)).front.open <= 1, "their descriptors");
  });
});

Deno.test("a client that never reads is closed at the write deadline, before its send queue fills", async () => {
  // A send queue far larger than what is sent: only the write deadline can end this reader.
  const args = [
    "--write-timeout",
    "1000",
    "--max-record-bytes",
    "65536",
    "--send-queue-bytes",
    "268435456",
  ];
  await withShipped(args, async (gateway) => {
    const base = `http://127.0.0.1:${gateway.port}`;
    const first = await fetch(`${base}/logs/stall`, { method: "POST", body: "x" });
    await first.body?.cancel();
    const head =
      "GET /logs/stall/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n";
    const [reader] = await openMany(gateway.port, 1, head);
    try {
      await until(async () => (await edgeState(gateway.port)).connections === 1, "the stream open");
      const record = "s".repeat(60_000);
      // 18 MB: more than the kernel's buffers hold for a reader that never reads.
      for (let i = 0; i < 300 && (await edgeState(gateway.port)).connections > 0; i++) {
        const response = await fetch(`${base}/logs/stall`, { method: "POST", body: record });
        await response.body?.cancel();
      }
      await until(
        async () => (await edgeState(gateway.port)).front.open <= 1,
        "the connection closed",
      );
      assert.equal((await edgeState(gateway.port)).connections, 0);
    } finally {
      closeAll([reader!]);
    }
  });
});

/** Listening TCP sockets of process `pid`: its socket inodes matched with /proc/net/tcp{,6}. */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    const target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const lines = (await Deno.readTextFile(table)).split("\n").slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === "0A" && inodes.has(fields[9]!)) {
        ports.push(parseInt(fields[1]!.split(":")[1]!, 16));
      }
    }
  }
  return ports;
}

Deno.test("the process listens on one TCP port, the public one: no internal server", async () => {
  await withShipped([], async (gateway) => {
    const res = await fetch(`http://127.0.0.1:${gateway.port}/logs/one.port`, {
      method: "POST",
      body: "a body, which the internal server used to get",
    });
    assert.equal(res.status, 201);
    await res.body?.cancel();
    assert.deepEqual(await listeningPorts(gateway.child.pid), [gateway.port]);
  });
});

Deno.test("status lines carry their reason phrase; HEAD works wherever GET does; bad targets and a missing Host are 400", async () => {
  await withShipped([], async (gateway) => {
    const { port } = gateway;
    const post = await exchange(
      port,
      "POST /logs/phrases HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    assert.equal(post.responses[0]!.statusLine, "HTTP/1.1 201 Created");
    const forbidden = await exchange(
      port,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: https://evil.example\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert.equal(forbidden.responses[0]!.statusLine, "HTTP/1.1 403 Forbidden");
    for (const path of ["/logs", "/healthz", "/logs/phrases", "/readyz"]) {
      const get = await exchange(
        port,
        `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      );
      const head = await exchange(
        port,
        `HEAD ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
        {
          firstIsHead: true,
        },
      );
      const [g, h] = [get.responses[0]!, head.responses[0]!];
      assert.equal(h.status, g.status, `HEAD ${path}`);
      assert.equal(
        h.headers.get("content-length"),
        g.headers.get("content-length"),
        `HEAD ${path}`,
      );
      assert.equal(h.body, "", `HEAD ${path} has no body`);
      assert.equal(head.ended, "closed");
    }
    for (
      const target of [
        "//evil/logs/phrases",
        "/healthz/../logs/phrases",
        "/metrics/%2e%2e/logs/phrases",
      ]
    ) {
      const res = await exchange(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      assert.equal(res.responses[0]!.status, 400, target);
      assert.match(res.responses[0]!.body, /target/);
    }
    const noHost = await exchange(port, "GET /healthz HTTP/1.1\r\n\r\n");
    assert.equal(noHost.responses[0]!.statusLine, "HTTP/1.1 400 Bad Request");
    assert.match(noHost.responses[0]!.body, /Host/);
  });
});
