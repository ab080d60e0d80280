/**
 * Issue 18, finding 8: open by default no more. Without tokens only clients on
 * the gateway's own machine may append or create logs; a request through a
 * proxy is not one of them; `--open-appends` lets everyone; with tokens their
 * claims decide. Run under the binary's grants.
 */

import assert from "node:assert/strict";
import { TestClient } from "../helpers/client.ts";
import { withGatewayIn } from "../helpers/gateway.ts";
import { serveShipped, shippedTest } from "../helpers/shipped.ts";
import { rawRequestAt } from "../helpers/raw_http.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { signToken, writeSecret } from "../helpers/tokens.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** An address of this machine that is not loopback: a remote client's view of the gateway. */
const REMOTE = Deno.networkInterfaces()
  .find((i) => i.family === "IPv4" && !i.address.startsWith("127."))?.address;
if (!REMOTE) console.log("SKIPPED: no non-loopback IPv4 address to play a remote client from");

/** `POST /logs/NAME` to `host:port`, with more header lines; the status and body. */
function post(host: string, port: number, name: string, extra = "") {
  const head = `POST /logs/${name} HTTP/1.1\r\nHost: ${host}:${port}\r\n${extra}` +
    "Content-Length: 2\r\nConnection: close\r\n\r\nhi";
  return rawRequestAt(host, port, head);
}

shippedTest(
  "without tokens, a remote client may read but not append; a local one may",
  async (dataDir) => {
    if (!REMOTE) return;
    await withGatewayIn(dataDir, {}, async ({ gateway, backend }) => {
      const port = gateway.port;
      const local = await post("127.0.0.1", port, "demo.local");
      assert.equal(local.status, 201, "a local client appends");
      const remote = await post(REMOTE, port, "demo.remote");
      assert.equal(remote.status, 403);
      assert.match(remote.body, /only local clients may append.*--open-appends/);
      await assert.rejects(backend.info("demo.remote"), "no log was created");
      const proxied = await post(
        "127.0.0.1",
        port,
        "demo.proxied",
        "X-Forwarded-For: 203.0.113.9\r\n",
      );
      assert.equal(proxied.status, 403, "through a proxy on this machine: not a local client");
      const forwarded = await post(
        "127.0.0.1",
        port,
        "demo.proxied",
        "Forwarded: for=203.0.113.9\r\n",
      );
      assert.equal(forwarded.status, 403);

      const ws = await TestClient.connect(`ws://${REMOTE}:${port}/`);
      ws.send({ append: "demo.local", data: "x", id: 1 });
      const refused = await ws.next();
      assert.equal(refused.ep_stat[0], 403, "the WebSocket append op is refused too");
      ws.send({ logname: "demo.local", startrec: 1, numrec: 1 });
      assert.equal((await ws.next()).datum?.data, "hi", "reading stays open");
      await ws.close();
    }, { hostname: "0.0.0.0" });
  },
);

shippedTest("--open-appends lets a remote client append without tokens", async (dataDir) => {
  if (!REMOTE) return;
  await withGatewayIn(dataDir, {}, async ({ gateway }) => {
    const remote = await post(REMOTE, gateway.port, "demo.open");
    assert.equal(remote.status, 201);
  }, { hostname: "0.0.0.0", openAppends: true });
});

Deno.test("with tokens, their claims decide for remote clients; the start-up log says who may append", async () => {
  if (!REMOTE) return;
  await withTempDir("gdp-ws-local-", async (dir) => {
    const { path, secret } = await writeSecret(dir);
    const gateway = await serveShipped({ data: dir, authSecret: path }, ["--hostname", "0.0.0.0"]);
    try {
      const token = await signToken(secret, { append: ["demo.*"] });
      const remote = await post(
        REMOTE,
        gateway.port,
        "demo.token",
        `Authorization: Bearer ${token}\r\n`,
      );
      assert.equal(remote.status, 201, remote.body);
    } finally {
      await gateway.stop();
    }
    assert.ok(!gateway.logs.some((l) => /only local clients may append/.test(String(l.message))));
  });
  await withTempDir("gdp-ws-local-", async (dir) => {
    const gateway = await serveShipped({ data: dir }, []);
    await gateway.stop();
    assert.ok(
      gateway.logs.some((l) => /No tokens: only local clients may append/.test(String(l.message))),
      "the start-up log says so",
    );
  });
});
