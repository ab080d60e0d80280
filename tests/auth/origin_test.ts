/** Origins: allowed, refused, absent, patterns, the default, and CORS with preflight. */

import assert from "node:assert/strict";
import { TestClient } from "../helpers/client.ts";
import { httpUrl, withGateway } from "../helpers/gateway.ts";
import { shippedTest } from "../helpers/shipped.ts";
import { scrape, valueOf } from "../helpers/prometheus.ts";
import { upgradeStatus } from "../helpers/raw_ws.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const ALLOWED = ["https://app.example.org", "*.example.net"];

/** Opens and closes a socket with `origin`; true when the upgrade was accepted. */
async function opens(url: string, origin?: string): Promise<boolean> {
  try {
    const client = await TestClient.connect(url, undefined, origin ? { origin } : {});
    await client.close();
    return true;
  } catch {
    return false;
  }
}

shippedTest(
  "origin: absent, own, listed and pattern origins open a socket; others get 403",
  (dataDir) =>
    withGateway(dataDir, { allowOrigins: ALLOWED }, async (gateway) => {
      const own = `http://127.0.0.1:${gateway.port}`;
      assert.equal(await opens(gateway.url), true, "no Origin: a non-browser client");
      assert.equal(await opens(gateway.url, own), true, "the gateway's own origin");
      assert.equal(await opens(gateway.url, "https://app.example.org"), true, "listed");
      assert.equal(await opens(gateway.url, "https://a.b.example.net"), true, "pattern");
      for (
        const origin of ["https://evil.example", "https://example.net", "http://app.example.org"]
      ) {
        const refused = await upgradeStatus(gateway.port, "/", { origin });
        assert.equal(refused.status, 403, origin);
        assert.match(
          refused.head,
          new RegExp(`origin ${origin.replace(/\./g, "\\.")} is not allowed`),
        );
      }
      const metrics = await scrape(gateway.url);
      assert.equal(valueOf(metrics, "gdpws_handshakes_total", { result: "origin" }), 3);
      assert.equal(valueOf(metrics, "gdpws_auth_failures_total", { reason: "origin" }), 3);
    }),
);

shippedTest(
  "origin: a cross-site POST is refused before it appends; GET stays readable without CORS",
  (dataDir) =>
    withGateway(dataDir, { allowOrigins: ALLOWED }, async (gateway) => {
      const url = httpUrl(gateway.url, "/logs/demo.csrf");
      const post = (origin: string | undefined) =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "text/plain", ...(origin ? { origin } : {}) },
          body: "csrf",
        });
      const evil = await post("https://evil.example");
      assert.equal(evil.status, 403);
      assert.equal(((await evil.json()) as { ep_stat: [number, string] }).ep_stat[0], 403);
      const missing = await fetch(url);
      assert.equal(missing.status, 404, "nothing was appended");
      await missing.body?.cancel();

      const allowed = await post("https://app.example.org");
      assert.equal(allowed.status, 201);
      assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example.org");
      assert.match(allowed.headers.get("vary") ?? "", /Origin/);
      await allowed.body?.cancel();
      const plain = await post(undefined);
      assert.equal(plain.status, 201, "no Origin: curl and other non-browser clients");
      assert.equal(plain.headers.get("access-control-allow-origin"), null);
      await plain.body?.cancel();

      const read = await fetch(url, { headers: { origin: "https://evil.example" } });
      assert.equal(read.status, 200);
      assert.equal(read.headers.get("access-control-allow-origin"), null, "no CORS grant");
      assert.equal(((await read.json()) as { count: number }).count, 2);
    }),
);

shippedTest(
  "origin: without --allow-origin only the gateway's own origin is allowed",
  (dataDir) =>
    withGateway(dataDir, {}, async (gateway) => {
      assert.equal(await opens(gateway.url, `http://127.0.0.1:${gateway.port}`), true);
      assert.equal(await opens(gateway.url), true);
      assert.equal(
        (await upgradeStatus(gateway.port, "/", { origin: "https://evil.example" })).status,
        403,
      );
      const posted = await fetch(httpUrl(gateway.url, "/logs/demo.default"), {
        method: "POST",
        headers: { origin: "https://evil.example" },
        body: "x",
      });
      assert.equal(posted.status, 403);
      await posted.body?.cancel();
    }),
);

shippedTest(
  "origin: --allow-origin '*' allows any origin",
  (dataDir) =>
    withGateway(dataDir, { allowOrigins: ["*"] }, async (gateway) => {
      assert.equal(await opens(gateway.url, "https://anywhere.example"), true);
    }),
);

shippedTest(
  "CORS preflight: an allowed origin gets methods and headers, a foreign one 403",
  (dataDir) =>
    withGateway(dataDir, { allowOrigins: ALLOWED }, async (gateway) => {
      const preflight = (origin: string) =>
        fetch(httpUrl(gateway.url, "/logs/demo.cors"), {
          method: "OPTIONS",
          headers: {
            origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
          },
        });
      const ok = await preflight("https://x.example.net");
      assert.equal(ok.status, 204);
      assert.equal(ok.headers.get("access-control-allow-origin"), "https://x.example.net");
      assert.match(ok.headers.get("access-control-allow-methods") ?? "", /POST/);
      assert.match(ok.headers.get("access-control-allow-headers") ?? "", /authorization/);
      await ok.body?.cancel();
      const refused = await preflight("https://evil.example");
      assert.equal(refused.status, 403);
      assert.equal(refused.headers.get("access-control-allow-origin"), null);
      await refused.body?.cancel();
    }),
);

shippedTest(
  "origin: a malformed --allow-origin entry stops the gateway at start-up",
  async (dataDir) => {
    await assert.rejects(
      () =>
        withGateway(
          dataDir,
          { allowOrigins: ["https://*.*.example.org"] },
          () => Promise.resolve(),
        ),
      /--allow-origin/,
    );
    await assert.rejects(
      () =>
        withGateway(
          dataDir,
          { allowOrigins: ["https://app.example.org/path"] },
          () => Promise.resolve(),
        ),
      /an origin is SCHEME:\/\/HOST/,
    );
  },
);
