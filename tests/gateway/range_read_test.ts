/**
 * GET /logs/NAME/records beyond what the protocol suite checks on every
 * backend: the body is streamed as the client reads it (the backend is read a
 * chunk at a time, not a page at once), a read that fails mid-page cuts the
 * response off, a range read counts as a connection while it streams, its
 * page never passes --max-history-records, and tokens need the read claim.
 */

import assert from "node:assert/strict";
import type { Backend, LogHandle, LogRecord } from "../../src/backend/backend.ts";
import { GdpError } from "../../src/core/errors.ts";
import { readResponse } from "../helpers/raw_http.ts";
import { openEmbedded } from "../../src/backend/embedded/store.ts";
import { serveForTest, withGatewayIn } from "../helpers/gateway.ts";
import { shippedTest } from "../helpers/shipped.ts";
import { signToken, writeSecret } from "../helpers/tokens.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const encoder = new TextEncoder();

/** `backend` whose handles count the records they read into `counts.read`, and can fail at `failAt`. */
function counting(backend: Backend, counts: { read: number; failAt?: number }): Backend {
  const wrap = (handle: LogHandle): LogHandle => ({
    name: handle.name,
    last: () => handle.last(),
    seek: (ts, last) => handle.seek(ts, last),
    follow: (from, onRecord, onError) => handle.follow(from, onRecord, onError),
    append: (data) => handle.append(data),
    close: () => handle.close(),
    read: async function* (from: number, count: number): AsyncIterable<LogRecord> {
      for await (const record of handle.read(from, count)) {
        if (record.recno === counts.failAt) throw GdpError.of(503, "the log server went away");
        counts.read++;
        yield record;
      }
    },
  });
  const open = async (name: string) => wrap(await backend.open(name));
  return new Proxy(backend, {
    get: (target, key) => {
      if (key === "open") return open;
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Appends `n` records of `size` bytes to `name` in one commit. */
async function fill(backend: Backend, name: string, n: number, size: number): Promise<void> {
  await backend.create(name);
  const log = await backend.open(name);
  const payload = encoder.encode("x".repeat(size));
  await Promise.all(Array.from({ length: n }, () => log.append(payload)));
  await log.close();
}

shippedTest(
  "the body is read from the backend as the client takes it, not a page at once",
  async (dataDir) => {
    const store = openEmbedded({ dataDir });
    const counts = { read: 0 };
    await fill(store, "big", 10_000, 4096); // 40 MB, far more than the kernel's socket buffers
    const gateway = await serveForTest(counting(store, counts), { maxPageRecords: 10_000 });
    const port = Number(new URL(gateway.url).port);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(encoder.encode(
        "GET /logs/big/records?start=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      ));
      const first = new Uint8Array(64 * 1024);
      assert.ok((await conn.read(first)) !== null);
      // The client reads nothing more for a while: the gateway stops reading too.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(
        counts.read < 5_000,
        `${counts.read} of 10,000 records read while the client waits`,
      );
      assert.equal(gateway.connections(), 1, "the read counts as a connection while it streams");
      // Then it reads on, to the end: every record arrives.
      let text = new TextDecoder().decode(first);
      const buffer = new Uint8Array(1024 * 1024);
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      assert.ok(text.endsWith("]\r\n0\r\n\r\n"), "the body is complete");
      assert.equal(counts.read, 10_000);
      assert.equal((text.match(/"recno":/g) ?? []).length, 10_000);
    } finally {
      conn.close();
      await gateway.shutdown();
      await store.close();
    }
  },
);

shippedTest(
  "a read that fails mid-page cuts the response off: no last chunk, the connection closed",
  async (dataDir) => {
    const store = openEmbedded({ dataDir });
    await fill(store, "flaky", 2_000, 100);
    const gateway = await serveForTest(counting(store, { read: 0, failAt: 1_500 }));
    try {
      const url = gateway.url.replace(/^ws/, "http") + "logs/flaky/records?start=1";
      const response = await fetch(url);
      assert.equal(response.status, 200, "the head went out before the failure");
      await assert.rejects(response.text(), "the body does not end well");
      const port = Number(new URL(gateway.url).port);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(encoder.encode(
          "GET /logs/flaky/records?start=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        ));
        let text = "";
        const buffer = new Uint8Array(256 * 1024);
        for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
          text += new TextDecoder().decode(buffer.subarray(0, n));
        }
        assert.ok(!text.endsWith("0\r\n\r\n"), "no last chunk");
        assert.ok(!text.includes('"recno":1500'), "nothing from the failed record on");
      } finally {
        conn.close();
      }
      assert.equal(gateway.connections(), 0, "its connection count is let go");
    } finally {
      await gateway.shutdown();
      await store.close();
    }
  },
);

shippedTest(
  "a page never passes --max-history-records; limit may not ask for more",
  async (dataDir) => {
    await withGatewayIn(
      dataDir,
      { maxHistoryRecords: 5, maxPageRecords: 100 },
      async ({ backend, http }) => {
        await fill(backend, "capped", 12, 10);
        const page = await fetch(http("/logs/capped/records?start=1"));
        assert.equal((await page.json()).length, 5);
        assert.equal(page.headers.get("link"), '</logs/capped/records?start=6>; rel="next"');
        const over = await fetch(http("/logs/capped/records?start=1&limit=6"));
        assert.equal(over.status, 400);
        assert.match((await over.json()).ep_stat[1], /limit must be an integer from 1 to 5/);
      },
    );
  },
);

shippedTest(
  "a range read counts against the connection limits while it streams; HEAD sends no body",
  async (dataDir) => {
    await withGatewayIn(dataDir, { maxConnections: 1 }, async ({ backend, gateway, http }) => {
      await fill(backend, "held", 3, 10);
      const session = await new Promise<WebSocket>((resolve, reject) => {
        const socket = new WebSocket(gateway.url);
        socket.onopen = () => resolve(socket);
        socket.onerror = reject;
      });
      try {
        const refused = await fetch(http("/logs/held/records"));
        assert.equal(refused.status, 503);
        assert.match((await refused.json()).ep_stat[1], /too many connections/);
      } finally {
        const closed = new Promise((resolve) => session.onclose = resolve);
        session.close();
        await closed;
      }
      const port = Number(new URL(gateway.url).port);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(encoder.encode(
          "HEAD /logs/held/records HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        ));
        const head = await readResponse(conn, true);
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-type"), "application/json");
        assert.equal(head.body, "");
      } finally {
        conn.close();
      }
      assert.equal(gateway.connections(), 0, "HEAD let its hold go");
      assert.equal((await (await fetch(http("/logs/held/records"))).json()).length, 3);
    });
  },
);

shippedTest("with tokens a range read needs the read claim on the log", async (dataDir) => {
  const { path, secret } = await writeSecret(dataDir);
  await withGatewayIn(dataDir, {}, async ({ backend, http }) => {
    await fill(backend, "secret.log", 2, 10);
    await fill(backend, "open.log", 2, 10);
    const token = await signToken(secret, { read: ["open.*"] });
    const get = (name: string, auth?: string) =>
      fetch(http(`/logs/${name}/records`), auth ? { headers: { authorization: auth } } : {});
    const none = await get("open.log");
    assert.equal(none.status, 401);
    await none.body?.cancel();
    const other = await get("secret.log", `Bearer ${token}`);
    assert.equal(other.status, 403);
    assert.match((await other.json()).ep_stat[1], /does not allow reading secret.log/);
    const mine = await get("open.log", `Bearer ${token}`);
    assert.equal(mine.status, 200);
    assert.equal((await mine.json()).length, 2);
  }, { authSecretFile: path });
});
