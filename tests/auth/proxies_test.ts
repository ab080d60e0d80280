/**
 * Trusted proxies (issue 22): who the client is when a `--trust-proxy` peer
 * says so, and that nobody else can say so. The same rules run end to end in
 * tests/gateway/trusted_proxy_test.ts and, behind real proxies, in
 * tests/deploy/.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Client,
  type ForwardedProblem,
  parseForwarded,
  trustedProxies,
} from "../../src/auth/proxies.ts";
import { ConfigError } from "../../src/config.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const PROXY: Deno.NetAddr = { transport: "tcp", hostname: "10.0.0.5", port: 40000 };
const STRANGER: Deno.NetAddr = { transport: "tcp", hostname: "198.51.100.9", port: 50000 };

function request(headers: Record<string, string>, host = "gw.internal:8080"): Request {
  return new Request(`http://${host}/`, { headers: { host, ...headers } });
}

function resolved(result: Client | ForwardedProblem): Client {
  if ("problem" in result) assert.fail(`refused: ${result.header} ${result.problem}`);
  return result;
}

function refused(result: Client | ForwardedProblem): ForwardedProblem {
  if (!("problem" in result)) assert.fail(`not refused: ${JSON.stringify(result)}`);
  return result;
}

const proxies = trustedProxies(["10.0.0.0/8", "2001:db8:aa::/48"]);

Deno.test("from a peer not trusted, forwarding headers are ignored: the client is the peer", () => {
  const spoofs = [
    { "x-forwarded-for": "203.0.113.7" },
    { "forwarded": "for=203.0.113.7;proto=https;host=gw.example.org" },
    { "x-forwarded-proto": "https", "x-forwarded-host": "gw.example.org" },
    { "x-forwarded-for": "not an address", "forwarded": "garbage((" },
  ];
  for (const headers of spoofs) {
    const client = resolved(proxies.resolve(request(headers), STRANGER));
    assert.deepEqual(client, {
      address: "198.51.100.9",
      host: "gw.internal:8080",
      label: "198.51.100.9:50000",
      forwarding: "ignored",
    }, JSON.stringify(headers));
  }
  // Off by default: no peer is trusted, not even loopback.
  const off = trustedProxies([]);
  const loopback: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
  assert.equal(off.trusts(loopback), false);
  assert.equal(
    resolved(off.resolve(request({ "x-forwarded-for": "1.2.3.4" }), loopback)).address,
    "127.0.0.1",
  );
});

Deno.test("X-Forwarded-For: the rightmost hop that is not a trusted proxy", () => {
  const cases: [string, string][] = [
    ["203.0.113.7", "203.0.113.7"],
    // A client's own entries stand left of what the proxies appended.
    ["6.6.6.6, 203.0.113.7", "203.0.113.7"],
    ["6.6.6.6, 203.0.113.7, 10.1.1.1", "203.0.113.7"],
    ["203.0.113.7, 10.1.1.1, 10.2.2.2", "203.0.113.7"],
    // Every hop trusted: the leftmost is the client.
    ["10.9.9.9, 10.1.1.1", "10.9.9.9"],
    ["2001:DB8::7", "2001:db8::7"],
    ["[2001:db8::7]:4711", "2001:db8::7"],
    ["203.0.113.7:4711", "203.0.113.7"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    [" 203.0.113.7 ,, ", "203.0.113.7"],
    // Not read: left of the client, whatever it is.
    ["<script>, 203.0.113.7", "203.0.113.7"],
  ];
  for (const [xff, address] of cases) {
    const client = resolved(proxies.resolve(request({ "x-forwarded-for": xff }), PROXY));
    assert.equal(client.address, address, xff);
    assert.equal(client.forwarding, "trusted");
    assert.equal(client.via, "10.0.0.5:40000");
    assert.equal(client.host, "gw.internal:8080", "the Host, without X-Forwarded-Host");
    assert.equal(client.scheme, undefined);
  }
  const first = resolved(proxies.resolve(request({ "x-forwarded-for": "203.0.113.7" }), PROXY));
  assert.equal(first.label, "203.0.113.7 via 10.0.0.5:40000");
});

Deno.test("X-Forwarded-Proto and -Host name the scheme and host the client used", () => {
  const client = resolved(proxies.resolve(
    request({
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-proto": "HTTPS",
      "x-forwarded-host": "gw.example.org:8443",
    }),
    PROXY,
  ));
  assert.equal(client.scheme, "https");
  assert.equal(client.host, "gw.example.org:8443");
  const ws = resolved(proxies.resolve(request({ "x-forwarded-proto": "wss" }), PROXY));
  assert.equal(ws.scheme, "https", "a WebSocket scheme is its HTTP one");
  assert.equal(ws.address, "10.0.0.5", "no X-Forwarded-For: the proxy itself");
});

Deno.test("Forwarded (RFC 7239): for=, host=, proto=, quoted IPv6, ports, and the walk", () => {
  const cases: [string, Partial<Client>][] = [
    ["for=203.0.113.7", { address: "203.0.113.7", label: "203.0.113.7 via 10.0.0.5:40000" }],
    ['for="203.0.113.7:4711"', {
      address: "203.0.113.7",
      label: "203.0.113.7:4711 via 10.0.0.5:40000",
    }],
    ['For="[2001:db8:cafe::17]:4711"', {
      address: "2001:db8:cafe::17",
      label: "[2001:db8:cafe::17]:4711 via 10.0.0.5:40000",
    }],
    ['for="[2001:db8:cafe::17]"', { address: "2001:db8:cafe::17" }],
    ['for=203.0.113.7;proto=https;host="gw.example.org"', {
      address: "203.0.113.7",
      scheme: "https",
      host: "gw.example.org",
    }],
    // Whitespace around separators, as proxies write it.
    ["for=203.0.113.7 ; proto=https , for=10.1.1.1", { address: "203.0.113.7", scheme: "https" }],
    // The client's element carries where the client sent the request; trusted hops' do not count.
    ['for=203.0.113.7;host=gw.example.org;proto=https, for=10.1.1.1;host="inner:8080";proto=http', {
      address: "203.0.113.7",
      host: "gw.example.org",
      scheme: "https",
    }],
    // A client's forged element, left of the proxy's: not read.
    ["for=6.6.6.6;host=evil.example, for=203.0.113.7", {
      address: "203.0.113.7",
      host: "gw.internal:8080",
    }],
    ['for="[2001:db8:aa::1]", for=10.1.1.1', { address: "2001:db8:aa::1" }],
    // Extensions are ignored; quoted-pair escapes are read.
    ['for=203.0.113.7;by=_proxy;secret="a\\"b"', { address: "203.0.113.7" }],
  ];
  for (const [forwarded, want] of cases) {
    const client = resolved(proxies.resolve(request({ forwarded }), PROXY));
    for (const [key, value] of Object.entries(want)) {
      assert.equal(client[key as keyof Client], value, `${forwarded}: ${key}`);
    }
  }
});

Deno.test("Forwarded wins over X-Forwarded-*, which are then not read", () => {
  const client = resolved(proxies.resolve(
    request({
      forwarded: "for=203.0.113.7",
      "x-forwarded-for": "6.6.6.6",
      "x-forwarded-proto": "not, even, one",
    }),
    PROXY,
  ));
  assert.equal(client.address, "203.0.113.7");
  assert.equal(client.scheme, undefined);
});

Deno.test("unknown and obfuscated clients count as the trusted hop that reported them", () => {
  const cases: [Record<string, string>, string, string][] = [
    [{ forwarded: "for=unknown" }, "10.0.0.5", "unknown via 10.0.0.5:40000"],
    [{ forwarded: "for=_hidden;proto=https" }, "10.0.0.5", "_hidden via 10.0.0.5:40000"],
    [{ forwarded: 'for="_gazonk:_port"' }, "10.0.0.5", "_gazonk via 10.0.0.5:40000"],
    [{ forwarded: "for=unknown, for=10.1.1.1" }, "10.1.1.1", "unknown via 10.0.0.5:40000"],
    [{ forwarded: "proto=https" }, "10.0.0.5", "unknown via 10.0.0.5:40000"],
    [{ "x-forwarded-for": "unknown" }, "10.0.0.5", "unknown via 10.0.0.5:40000"],
    [
      { "x-forwarded-for": "203.0.113.7, unknown, 10.2.2.2" },
      "10.2.2.2",
      "unknown via 10.0.0.5:40000",
    ],
  ];
  for (const [headers, address, label] of cases) {
    const client = resolved(proxies.resolve(request(headers), PROXY));
    assert.equal(client.address, address, JSON.stringify(headers));
    assert.equal(client.label, label, JSON.stringify(headers));
  }
  const scheme = resolved(
    proxies.resolve(request({ forwarded: "for=_hidden;proto=https" }), PROXY),
  );
  assert.equal(scheme.scheme, "https", "where it was sent still counts");
});

Deno.test("from a trusted peer, headers that do not parse are refused, naming the header", () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ forwarded: "for=[2001:db8::1]" }, "Forwarded", /not RFC 7239/],
    [{ forwarded: "for=2001:db8::1" }, "Forwarded", /not RFC 7239/],
    [{ forwarded: 'for="2001:db8::1"' }, "Forwarded", /bracketed IPv6/],
    [{ forwarded: 'for="[203.0.113.7]"' }, "Forwarded", /not an IPv4 address/],
    [{ forwarded: "for=gw.example.org" }, "Forwarded", /not an IPv4 address/],
    [{ forwarded: "for=203.0.113.7;for=203.0.113.8" }, "Forwarded", /for= twice/],
    [{ forwarded: "for = 203.0.113.7" }, "Forwarded", /expected name=value/],
    [{ forwarded: "for=" }, "Forwarded", /has no value/],
    [{ forwarded: 'for="203.0.113.7' }, "Forwarded", /quoted string does not end/],
    [{ forwarded: "for=203.0.113.7 x" }, "Forwarded", /unexpected "x"/],
    [{ forwarded: 'for="203.0.113.7:http"' }, "Forwarded", /port/],
    [{ forwarded: "for=203.0.113.7;proto=gopher" }, "Forwarded", /proto="gopher" is not http/],
    [{ forwarded: 'for=203.0.113.7;host="a b"' }, "Forwarded", /host="a b" is not a host/],
    [{ "x-forwarded-for": "203.0.113.7, localhost" }, "X-Forwarded-For", /"localhost" where an IP/],
    [{ "x-forwarded-for": "203.0.113.07" }, "X-Forwarded-For", /where an IP/],
    [{ "x-forwarded-proto": "https, http" }, "X-Forwarded-Proto", /more than one value/],
    [{ "x-forwarded-proto": "ftp" }, "X-Forwarded-Proto", /"ftp" is not http or https/],
    [{ "x-forwarded-host": "a.example, b.example" }, "X-Forwarded-Host", /more than one value/],
    [{ "x-forwarded-host": "user@gw.example.org" }, "X-Forwarded-Host", /not a host/],
    [{ "x-forwarded-host": "gw.example.org/path" }, "X-Forwarded-Host", /not a host/],
    [{ "x-forwarded-host": "[::1" }, "X-Forwarded-Host", /not a host/],
  ];
  for (const [headers, header, problem] of cases) {
    const result = refused(proxies.resolve(request(headers), PROXY));
    assert.equal(result.header, header, JSON.stringify(headers));
    assert.match(result.problem, problem, JSON.stringify(headers));
  }
});

Deno.test("a trusted peer that sends no forwarding header speaks for itself", () => {
  const client = resolved(proxies.resolve(request({}), PROXY));
  assert.deepEqual(client, {
    address: "10.0.0.5",
    host: "gw.internal:8080",
    label: "10.0.0.5:40000",
    forwarding: "none",
  });
});

Deno.test("--trust-proxy entries that are not ranges stop the start, naming the flag", () => {
  assert.throws(() => trustedProxies(["10.0.0.0/8", "proxy.internal"]), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^--trust-proxy proxy\.internal: not an IP address or range/);
    return true;
  });
});

Deno.test("no Forwarded value, however odd, throws or is read past its end", () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[ -~\t]{0,80}$/),
      (value) => {
        const parsed = parseForwarded(value);
        if (typeof parsed === "string") return;
        for (const element of parsed) {
          assert.ok(element.size > 0);
          for (const [name] of element) assert.match(name, /^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
        }
      },
    ),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 120 }), fc.string({ maxLength: 60 }), (forwarded, xff) => {
      // Headers refuses some characters itself; what it takes must resolve or be refused.
      let sent: Request;
      try {
        sent = request({ forwarded, "x-forwarded-for": xff });
      } catch {
        return;
      }
      const answer = proxies.resolve(sent, PROXY);
      assert.ok("problem" in answer || typeof answer.address === "string");
    }),
    { numRuns: 2000 },
  );
});
