/**
 * Issue 18, finding 6: which `Host` the gateway answers to (DNS rebinding) and
 * which `Origin` is its own (scheme and host), run under the binary's grants.
 */

import assert from "node:assert/strict";
import { Hosts } from "../../src/auth/hosts.ts";
import { Origins } from "../../src/auth/origins.ts";
import { withGatewayIn } from "../helpers/gateway.ts";
import { rawRequest, upgradeHead } from "../helpers/raw_http.ts";
import { shippedTest } from "../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("Hosts: loopback names, IP addresses, the listen name and public origins' hosts", () => {
  const hosts = new Hosts({ own: ["https://gw.example.org"], listen: "gateway.internal" });
  for (
    const host of [
      "localhost",
      "localhost:8080",
      "app.localhost:1",
      "127.0.0.1:8080",
      "192.0.2.7",
      "[::1]:8080",
      "gw.example.org",
      "GW.EXAMPLE.ORG:443",
      "gw.example.org.",
      "gateway.internal:8080",
    ]
  ) {
    assert.equal(hosts.allows(host), true, host);
  }
  for (
    const host of [
      "attacker.example",
      "attacker.example:8080",
      "gw.example.org.attacker.example",
      "localhost.attacker.example",
      "a@127.0.0.1",
      "127.0.0.1/x",
      "",
      " ",
    ]
  ) {
    assert.equal(hosts.allows(host), false, host);
  }
  assert.equal(hosts.allows(null), true, "HTTP/1.0 without Host");
});

Deno.test("Origins: the gateway's own origin is its scheme and Host; public origins are its own", () => {
  const origins = new Origins({ own: ["https://gw.example.org"] });
  const plain = { scheme: "http" as const, host: "127.0.0.1:8080" };
  assert.equal(origins.allows("http://127.0.0.1:8080", plain), true);
  assert.equal(origins.allows("https://127.0.0.1:8080", plain), false, "another scheme");
  assert.equal(origins.allows("http://127.0.0.1:8081", plain), false, "another port");
  assert.equal(origins.allows("https://gw.example.org", plain), true, "a public origin");
  assert.equal(origins.allows("http://gw.example.org", plain), false);
  const tls = { scheme: "https" as const, host: "gw.example.org" };
  assert.equal(origins.allows("https://gw.example.org:443", tls), true, "default port");
  assert.equal(origins.allows("null", plain), false);
});

/** `METHOD path` with `Host: host` and more header lines; the status and body. */
async function send(port: number, head: string): Promise<{ status: number; body: string }> {
  const response = await rawRequest(port, head);
  return { status: response.status, body: response.body };
}

shippedTest(
  "a DNS-rebinding page is refused 421 before any route: no append, no upgrade, no read",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway, backend }) => {
      const port = gateway.port;
      const rebound = "attacker.example:" + port;
      const origin = `http://${rebound}`;
      const post = await send(
        port,
        `POST /logs/demo.rebind HTTP/1.1\r\nHost: ${rebound}\r\nOrigin: ${origin}\r\n` +
          "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
      );
      assert.equal(post.status, 421);
      assert.match(post.body, /"ep_stat":\[421,"ERROR: 421 misdirected request: .*--public-origin/);
      await assert.rejects(backend.info("demo.rebind"), "nothing was appended");
      const upgrade = await send(
        port,
        upgradeHead(port, { drop: ["host"], extra: [`Host: ${rebound}`, `Origin: ${origin}`] }),
      );
      assert.equal(upgrade.status, 421, "no 101 for a rebinding page");
      for (const path of ["/healthz", "/readyz", "/metrics", "/logs", "/"]) {
        const read = await send(
          port,
          `GET ${path} HTTP/1.1\r\nHost: ${rebound}\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(read.status, 421, path);
      }
      const own = await send(
        port,
        `GET /healthz HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(own.status, 200, "localhost is served");
    });
  },
);

shippedTest(
  "--public-origin: its host is served and its pages are the gateway's own origin",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const port = gateway.port;
      const host = `Host: gw.example.org`;
      const health = await send(
        port,
        `GET /healthz HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(health.status, 200);
      const upgrade = await send(
        port,
        upgradeHead(port, { drop: ["host"], extra: [host, "Origin: https://gw.example.org"] }),
      );
      assert.equal(upgrade.status, 101, "the public origin's page may open a socket");
      const other = await send(
        port,
        upgradeHead(port, { drop: ["host"], extra: [host, "Origin: https://app.example.org"] }),
      );
      assert.equal(other.status, 403, "another origin is not the gateway's own");
    }, { publicOrigins: ["https://gw.example.org"] });
  },
);

shippedTest(
  "the gateway's own origin includes its scheme: https:// pages may not use a plain http gateway",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const port = gateway.port;
      const same = await send(
        port,
        upgradeHead(port, { extra: [`Origin: http://127.0.0.1:${port}`] }),
      );
      assert.equal(same.status, 101);
      const https = await send(
        port,
        upgradeHead(port, { extra: [`Origin: https://127.0.0.1:${port}`] }),
      );
      assert.equal(https.status, 403);
    });
  },
);
