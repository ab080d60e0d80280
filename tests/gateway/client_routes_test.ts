/**
 * The routes the CLI, the client library and the console added: `PUT /logs/NAME` (create, under
 * the append rules), `GET /ws` without Upgrade (why an upgrade would be refused) and
 * `GET /status` (the console's status card).
 */

import assert from "node:assert/strict";
import { TestClient } from "../helpers/client.ts";
import { freshStore, httpUrl, withGateway } from "../helpers/gateway.ts";
import { shippedTest } from "../helpers/shipped.ts";
import { signToken, writeSecret } from "../helpers/tokens.ts";

Deno.test.sanitizer({ ops: true, resources: true });

async function call(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json(), headers: response.headers };
}

shippedTest(
  "PUT /logs/NAME creates a log (201), finds an existing one (200), under the append rules",
  async (dataDir) => {
    await withGateway(dataDir, {}, async (gateway) => {
      const url = (path: string) => httpUrl(gateway.url, path);
      const made = await call(url("/logs/made.by.put"), { method: "PUT" });
      assert.equal(made.status, 201);
      assert.equal(made.body.human, "made.by.put");
      assert.equal(made.body.count, 0);
      const again = await call(url("/logs/made.by.put"), { method: "PUT" });
      assert.equal(again.status, 200);
      assert.equal(again.body.name, made.body.name);
      // Through a proxy, a client is not local: without tokens it may not create.
      const proxied = await call(url("/logs/from.afar"), {
        method: "PUT",
        headers: { "x-forwarded-for": "203.0.113.9" },
      });
      assert.equal(proxied.status, 403);
      assert.match(String((proxied.body.ep_stat as unknown[])[1]), /only local clients may append/);
      const bad = await call(url("/logs/%00"), { method: "PUT" });
      assert.equal(bad.status, 400);
    });
    await withGateway(await freshStore(dataDir), {}, async (gateway) => {
      const url = (path: string) => httpUrl(gateway.url, path);
      assert.equal((await call(url("/logs/first"), { method: "PUT" })).status, 201);
      const second = await call(url("/logs/second"), { method: "PUT" });
      assert.equal(second.status, 429, "--max-log-creates counts creates by PUT");
    }, { maxLogCreatesPerMinute: 1 });
  },
);

shippedTest(
  "GET /ws answers why an upgrade would be refused, readable from any origin",
  async (dataDir) => {
    const { path, secret } = await writeSecret(dataDir);
    await withGateway(dataDir, { authSecretFile: path }, async (gateway) => {
      const check = httpUrl(gateway.url, "/ws");
      const none = await call(check);
      assert.equal(none.status, 401);
      assert.deepEqual(none.body.ep_stat, [
        401,
        "ERROR: 401 unauthenticated: a bearer token is required",
      ]);
      assert.equal(none.headers.get("access-control-allow-origin"), "*");
      const malformed = await call(check, { headers: { authorization: "Bearer nope" } });
      assert.equal(malformed.status, 401);
      assert.match(String((malformed.body.ep_stat as unknown[])[1]), /malformed/);
      const token = await signToken(secret, { read: ["x.*"] });
      const good = await call(check, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(good.status, 426);
      assert.equal(good.headers.get("upgrade"), "websocket");
      const query = await call(`${check}?access_token=${token}`);
      assert.equal(query.status, 426, "a page on another origin sends it in the query");
      const foreign = await call(check, {
        headers: { origin: "https://evil.example", authorization: `Bearer ${token}` },
      });
      assert.equal(foreign.status, 403);
      assert.match(
        String((foreign.body.ep_stat as unknown[])[1]),
        /origin https:\/\/evil\.example/,
      );
      assert.equal(foreign.headers.get("access-control-allow-origin"), "*");
      // The upgrade itself is unchanged at /ws.
      const client = await TestClient.connect(gateway.url + "ws", [`bearer.${token}`]);
      client.close();
      await client.closed;
    });
  },
  { authSecret: "secret" },
);

shippedTest(
  "GET /status: uptime, connections, subscriptions, feeds and records in and out",
  async (dataDir) => {
    const { path } = await writeSecret(dataDir);
    await withGateway(dataDir, { authSecretFile: path }, async (gateway) => {
      const status = await call(httpUrl(gateway.url, "/status"));
      assert.equal(status.status, 200, "public, like /readyz and /metrics");
      assert.deepEqual(Object.keys(status.body), [
        "backend",
        "ready",
        "state",
        "uptimeSec",
        "connections",
        "subscriptions",
        "feeds",
        "recordsIn",
        "recordsOut",
      ]);
      assert.equal(status.body.backend, "embedded");
      assert.equal(status.body.ready, true);
      assert.equal(typeof status.body.uptimeSec, "number");
    });
    await withGateway(await freshStore(dataDir), {}, async (gateway) => {
      const url = (path: string) => httpUrl(gateway.url, path);
      for (const data of ["1", "2"]) {
        const response = await fetch(url("/logs/counted"), { method: "POST", body: data });
        await response.body?.cancel();
      }
      const client = await TestClient.connect(gateway.url);
      try {
        client.send({ logname: "counted", startrec: 1, numrec: 0, id: "s" });
        await client.next();
        await client.next();
        client.send({ append: "counted", data: "3", id: "a" });
        const events = [await client.next(), await client.next()];
        assert.deepEqual(events.map((e) => e.type).sort(), [1, 5]);
        const status = (await call(url("/status"))).body;
        assert.equal(status.connections, 1);
        assert.equal(status.subscriptions, 1);
        assert.equal(status.feeds, 1);
        assert.equal(status.recordsIn, 3, "two over HTTP, one over the WebSocket");
        assert.equal(status.recordsOut, 3, "two replayed, one live");
      } finally {
        client.close();
        await client.closed;
      }
    });
  },
  { authSecret: "secret" },
);
