/**
 * `--trust-proxy` end to end (issue 22), a gateway under the binary's grants
 * with the test playing the proxy on 127.0.0.1: per-address limits, logs and
 * metrics count the client a trusted proxy names; the host check and the
 * gateway's own origin use the scheme and host it forwards; the same headers
 * from any other peer change nothing; a trusted proxy's malformed headers get
 * 400. Real proxies in front: tests/deploy/.
 */

import assert from "node:assert/strict";
import { withGatewayIn } from "../helpers/gateway.ts";
import { captureLogs } from "../helpers/log_capture.ts";
import { scrape, valueOf } from "../helpers/prometheus.ts";
import { rawRequest, readResponse, upgradeHead } from "../helpers/raw_http.ts";
import { shippedTest } from "../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const encoder = new TextEncoder();

/** Upgrades with `extra` header lines; the connection stays open when it is accepted. */
async function upgrade(
  port: number,
  extra: string[],
): Promise<{ status: number; body: string; conn: Deno.Conn }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(upgradeHead(port, { extra })));
  const { status, body } = await readResponse(conn);
  if (status !== 101) conn.close();
  return { status, body, conn };
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** A plain request with `extra` header lines, answered and closed. */
function request(
  port: number,
  line: string,
  extra: string[],
  body = "",
): ReturnType<typeof rawRequest> {
  const length = body ? [`Content-Length: ${body.length}`] : [];
  const head = [line, `Host: 127.0.0.1:${port}`, ...extra, ...length, "Connection: close"];
  return rawRequest(port, `${head.join("\r\n")}\r\n\r\n${body}`);
}

shippedTest(
  "a trusted proxy's clients are limited one by one; the same headers from others are ignored",
  async (dataDir) => {
    const limits = { maxConnectionsPerAddress: 2 };
    await withGatewayIn(dataDir, limits, async ({ gateway }) => {
      const open: Deno.Conn[] = [];
      try {
        const a = ["X-Forwarded-For: 6.6.6.6, 203.0.113.1"];
        for (let i = 0; i < 2; i++) {
          const accepted = await upgrade(gateway.port, a);
          assert.equal(accepted.status, 101);
          open.push(accepted.conn);
        }
        const third = await upgrade(gateway.port, a);
        assert.equal(third.status, 503, "client A's third connection is refused");
        assert.match(third.body, /too many connections \(2 open from 203\.0\.113\.1\)/);
        const b = await upgrade(gateway.port, ["Forwarded: for=203.0.113.2;proto=http"]);
        assert.equal(b.status, 101, "client B behind the same proxy is not");
        open.push(b.conn);
        // An event stream counts against its client too.
        const stream = await request(gateway.port, "GET /logs/x/events HTTP/1.1", a);
        assert.equal(stream.status, 503);
      } finally {
        closeAll(open);
      }
    }, { trustProxies: ["127.0.0.1"] });

    // Not trusted: every header names someone else, and all count as 127.0.0.1.
    await withGatewayIn(dataDir, limits, async ({ gateway }) => {
      const open: Deno.Conn[] = [];
      try {
        for (const spoof of ["X-Forwarded-For: 203.0.113.1", "Forwarded: for=203.0.113.2"]) {
          const accepted = await upgrade(gateway.port, [spoof]);
          assert.equal(accepted.status, 101);
          open.push(accepted.conn);
        }
        const third = await upgrade(gateway.port, ["X-Forwarded-For: 203.0.113.3"]);
        assert.equal(third.status, 503);
        assert.match(third.body, /open from 127\.0\.0\.1\)/);
        const malformed = await request(gateway.port, "GET /healthz HTTP/1.1", [
          "Forwarded: ((not rfc 7239",
        ]);
        assert.equal(malformed.status, 200, "an untrusted peer's malformed header is not read");
        const metrics = await scrape(gateway.url);
        assert.equal(valueOf(metrics, "gdpws_forwarded_requests_total", { result: "ignored" }), 4);
        assert.equal(valueOf(metrics, "gdpws_forwarded_requests_total", { result: "trusted" }), 0);
      } finally {
        closeAll(open);
      }
    }, { trustProxies: ["10.0.0.0/8"] });
  },
);

shippedTest("log creations are counted per forwarded client", async (dataDir) => {
  await withGatewayIn(dataDir, { maxLogCreatesPerMinute: 1 }, async ({ gateway }) => {
    const post = (name: string, xff: string) =>
      request(gateway.port, `POST /logs/${name} HTTP/1.1`, [`X-Forwarded-For: ${xff}`], "hi");
    assert.equal((await post("demo.a1", "203.0.113.1")).status, 201);
    const again = await post("demo.a2", "203.0.113.1");
    assert.equal(again.status, 429, again.body);
    assert.equal((await post("demo.b1", "203.0.113.2")).status, 201, "another client may");
    assert.equal((await post("demo.a1", "203.0.113.1")).status, 201, "appends to its log go on");
  }, { trustProxies: ["127.0.0.1"], openAppends: true });
});

shippedTest(
  "through a trusted proxy a client is never local, even one it calls 127.0.0.1",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const post = (extra: string[]) =>
        request(gateway.port, "POST /logs/demo.local HTTP/1.1", extra, "hi");
      for (
        const extra of [
          ["X-Forwarded-For: 127.0.0.1"],
          ["Forwarded: for=127.0.0.1"],
          ['Forwarded: for="[::1]"'],
          ["X-Forwarded-Proto: http"],
        ]
      ) {
        const answer = await post(extra);
        assert.equal(answer.status, 403, extra[0]);
        assert.match(answer.body, /only local clients may append/);
      }
      assert.equal((await post([])).status, 201, "the proxy's host itself, speaking for itself");
    }, { trustProxies: ["loopback"] });
  },
);

shippedTest(
  "the host check and the own origin use the scheme and host a trusted proxy forwards",
  async (dataDir) => {
    const settings = { publicOrigins: ["https://gw.example.org"] };
    const browser = [
      "X-Forwarded-For: 203.0.113.1",
      "X-Forwarded-Proto: https",
      "X-Forwarded-Host: gw.example.org:8443",
      "Origin: https://gw.example.org:8443",
    ];
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const accepted = await upgrade(gateway.port, browser);
      assert.equal(
        accepted.status,
        101,
        "a page on https://gw.example.org:8443 is the gateway's own",
      );
      accepted.conn.close();
      const forwarded = await upgrade(gateway.port, [
        'Forwarded: for=203.0.113.1;proto=https;host="gw.example.org:8443"',
        "Origin: https://gw.example.org:8443",
      ]);
      assert.equal(forwarded.status, 101, "as Forwarded says it");
      forwarded.conn.close();
      const plain = await upgrade(gateway.port, [
        ...browser.slice(0, 3),
        "Origin: http://gw.example.org:8443",
      ]);
      assert.equal(plain.status, 403, "the page's scheme is not the one the client used");
      const rebound = await request(gateway.port, "GET /healthz HTTP/1.1", [
        "X-Forwarded-For: 203.0.113.1",
        "X-Forwarded-Host: attacker.example",
      ]);
      assert.equal(rebound.status, 421, "a name the gateway does not answer to, through the proxy");
      assert.match(rebound.body, /does not answer to \\"attacker\.example\\"/);
    }, { ...settings, trustProxies: ["127.0.0.1"] });

    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const refused = await upgrade(gateway.port, browser);
      assert.equal(refused.status, 403, "not trusted: the page is a foreign origin");
      const spoofed = await request(gateway.port, "GET /healthz HTTP/1.1", [
        "X-Forwarded-Host: attacker.example",
      ]);
      assert.equal(spoofed.status, 200, "not trusted: the forwarded host is not read");
    }, settings);
  },
);

shippedTest(
  "a trusted proxy's malformed headers get 400 naming the header; counted and logged once",
  async (dataDir) => {
    await captureLogs(async (lines) => {
      await withGatewayIn(dataDir, {}, async ({ gateway }) => {
        const cases: [string, RegExp][] = [
          ["Forwarded: for=[2001:db8::1]", /Forwarded is not RFC 7239/],
          [
            "X-Forwarded-For: 203.0.113.1, proxy.internal",
            /X-Forwarded-For has \\"proxy\.internal\\"/,
          ],
          ["X-Forwarded-Proto: https, http", /X-Forwarded-Proto holds more than one value/],
        ];
        for (const [line, message] of cases) {
          const answer = await request(gateway.port, "GET /healthz HTTP/1.1", [line]);
          assert.equal(answer.status, 400, line);
          assert.match(answer.body, message);
        }
        await request(gateway.port, "GET /healthz HTTP/1.1", ["Forwarded: for=[2001:db8::1]"]);
        const metrics = await scrape(gateway.url);
        assert.equal(valueOf(metrics, "gdpws_forwarded_requests_total", { result: "refused" }), 4);
        const ok = await request(gateway.port, "GET /healthz HTTP/1.1", [
          "X-Forwarded-For: 203.0.113.1",
        ]);
        assert.equal(ok.status, 200);
      }, { trustProxies: ["127.0.0.1"] });
      const warnings = lines.filter((l) => /Refused 127\.0\.0\.1:\d+: its Forwarded/.test(l.text));
      assert.equal(warnings.length, 1, "a repeat within a minute is counted, not logged");
    });
  },
);

shippedTest("logs name the forwarded client and the proxy it came through", async (dataDir) => {
  await captureLogs(async (lines) => {
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const accepted = await upgrade(gateway.port, ['Forwarded: for="[2001:db8::7]:4711"']);
      assert.equal(accepted.status, 101);
      accepted.conn.close();
      const refused = await upgrade(gateway.port, [
        "X-Forwarded-For: 203.0.113.9",
        "Origin: https://evil.example",
      ]);
      assert.equal(refused.status, 403);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }, { trustProxies: ["127.0.0.1"] });
    const text = lines.map((l) => l.text).join("\n");
    assert.match(text, /Open c\d+ \[2001:db8::7\]:4711 via 127\.0\.0\.1:\d+ /);
    assert.match(
      text,
      /Refused 203\.0\.113\.9 via 127\.0\.0\.1:\d+ \/: .*origin https:\/\/evil\.example/,
    );
  });
});

shippedTest(
  "a trusted proxy is held to --max-handshakes, not to the per-address share of it",
  async (dataDir) => {
    const limits = { maxHandshakes: 4, maxHandshakesPerAddress: 2 };
    const idle = async (port: number, n: number) => {
      const conns: Deno.Conn[] = [];
      for (let i = 0; i < n; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      return conns;
    };
    const healthz = async (conn: Deno.Conn, port: number) => {
      await conn.write(encoder.encode(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
      return (await readResponse(conn)).status;
    };
    for (const [trustProxies, third] of [[["127.0.0.1"], 200], [[], 503]] as const) {
      await withGatewayIn(dataDir, limits, async ({ gateway }) => {
        const conns = await idle(gateway.port, 3);
        try {
          assert.equal(await healthz(conns[2]!, gateway.port), third, `trusted: ${trustProxies}`);
          if (trustProxies.length === 0) return;
          const more = await idle(gateway.port, 2);
          conns.push(...more);
          assert.equal(await healthz(more[1]!, gateway.port), 503, "the fifth: past the total");
        } finally {
          closeAll(conns);
        }
      }, { trustProxies: [...trustProxies] });
    }
  },
);
