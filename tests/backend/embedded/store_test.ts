/** The embedded store through the gateway: durability, HTTP API, slow consumers. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type EmbeddedBackend, openEmbedded } from "../../../src/backend/embedded/store.ts";
import type { Limits } from "../../../src/config.ts";
import type { Gateway } from "../../../src/gateway/gateway.ts";
import { range, recnos, TestClient, waitFor } from "../../helpers/client.ts";
import { serveForTest } from "../../helpers/gateway.ts";
import { RawWebSocket } from "../../helpers/raw_ws.ts";
import { shippedTest } from "../../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** A test with a gateway on a fresh embedded store, under the binary's grants. */
function gatewayTest(
  name: string,
  limits: Partial<Limits>,
  fn: (gateway: Gateway, backend: EmbeddedBackend) => Promise<void>,
): void {
  shippedTest(name, async (dataDir) => {
    const backend = openEmbedded({ dataDir });
    const gateway = await serveForTest(backend, limits);
    try {
      await fn(gateway, backend);
    } finally {
      await gateway.shutdown();
    }
  });
}

function http(gatewayUrl: string, path: string): string {
  return gatewayUrl.replace(/^ws/, "http").replace(/\/$/, "") + path;
}

shippedTest(
  "a restart on the same data folder keeps every acknowledged record",
  async (dataDir) => {
    const first = await serveForTest(openEmbedded({ dataDir }));
    const acked: number[] = [];
    await Promise.all(
      range(1, 100).map(async (n) => {
        const res = await fetch(http(first.url, "/logs/demo.durable"), {
          method: "POST",
          body: `v${n}`,
        });
        assert.equal(res.status, 201);
        acked.push(((await res.json()) as { recno: number }).recno);
      }),
    );
    await first.shutdown();
    assert.deepEqual(acked.sort((a, b) => a - b), range(1, 100));

    const second = await serveForTest(openEmbedded({ dataDir }));
    const client = await TestClient.connect(second.url);
    client.send({ logname: "demo.durable", startrec: 1, numrec: 100 });
    const events = await client.take(101);
    assert.deepEqual(recnos(events), range(1, 100));
    assert.deepEqual(
      new Set(events.slice(0, 100).map((e) => e.datum!.data)),
      new Set(range(1, 100).map((n) => `v${n}`)),
    );
    await client.close();
    await second.shutdown();
  },
);

gatewayTest("HTTP API: append, list, info, health, errors", {}, async (gateway) => {
  const url = (p: string) => http(gateway.url, p);
  const posted = await fetch(url("/logs/demo.http"), {
    method: "POST",
    body: new Uint8Array([1, 2, 3]),
  });
  assert.equal(posted.status, 201);
  const body = await posted.json() as { logname: string; recno: number; ts: { tv_sec: number } };
  assert.ok(Math.abs(body.ts.tv_sec - Date.now() / 1000) < 600);
  assert.equal(body.recno, 1);
  assert.equal(body.logname, "demo.http");

  const list = await (await fetch(url("/logs"))).json() as { human: string; count: number }[];
  assert.deepEqual(list.map((l) => [l.human, l.count]), [["demo.http", 1]]);
  const info = await (await fetch(url("/logs/demo.http"))).json() as {
    name: string;
    count: number;
  };
  assert.equal(info.count, 1);
  assert.match(info.name, /^[A-Za-z0-9_-]{43}$/);
  const byInternal = await (await fetch(url(`/logs/${info.name}`))).json() as { human: string };
  assert.equal(byInternal.human, "demo.http");

  const malformed = await fetch(url("/logs/%E0%A4%A"));
  assert.equal(malformed.status, 400);
  assert.match(
    ((await malformed.json()) as { ep_stat: [number, string] }).ep_stat[1],
    /percent-encoding/,
  );
  const missing = await fetch(url("/logs/no.such.log"));
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { ep_stat: [number, string] }).ep_stat[0], 600);
  const big = await fetch(url("/logs/demo.http"), {
    method: "POST",
    body: new Uint8Array(2 * 1024 * 1024),
  });
  assert.equal(big.status, 413);
  await big.body?.cancel();
  const wrong = await fetch(url("/logs/demo.http"), { method: "DELETE" });
  assert.equal(wrong.status, 405);
  await wrong.body?.cancel();

  assert.deepEqual(await (await fetch(url("/healthz"))).json(), { status: "ok" });
  const ready = await fetch(url("/readyz"));
  assert.equal(ready.status, 200);
  assert.equal(((await ready.json()) as { state: string }).state, "ok");
  const page = await fetch(url("/"));
  assert.match(await page.text(), /gdp-ws/);
});

shippedTest(
  "with autoCreate off, appending to a missing log is 600",
  async (dataDir) => {
    const gateway = await serveForTest(openEmbedded({ dataDir }), {}, { autoCreate: false });
    const res = await fetch(http(gateway.url, "/logs/demo.none"), { method: "POST", body: "x" });
    assert.equal(res.status, 404);
    await res.body?.cancel();
    const client = await TestClient.connect(gateway.url);
    client.send({ append: "demo.none", data: "x" });
    assert.equal((await client.next()).ep_stat[0], 600);
    await client.close();
    await gateway.shutdown();
  },
);

gatewayTest("a slow consumer is closed with 1013 while a fast one keeps receiving", {
  sendQueueBytes: 256 * 1024,
  maxRecordBytes: 64 * 1024,
}, async (gateway, backend) => {
  await backend.create("demo.flood");
  const fast = await TestClient.connect(gateway.url);
  fast.send({ logname: "demo.flood", numrec: 0 });
  const slow = await RawWebSocket.connect(gateway.port);
  await slow.sendText(JSON.stringify({ logname: "demo.flood", numrec: 0 }));
  await waitFor(() => gateway.hub.stats().live === 2, "both subscriptions live");

  const log = await backend.open("demo.flood");
  const payload = new TextEncoder().encode("x".repeat(64 * 1024));
  const total = 400; // 25 MiB: more than loopback's socket buffers hold
  for (let n = 1; n <= total; n++) {
    await log.append(payload);
    assert.equal((await fast.next()).datum!.recno, n);
  }
  assert.equal(gateway.hub.stats().live, 1, "the slow subscription was dropped");
  const closed = await slow.readUntilClose();
  assert.equal(closed.code, 1013);
  assert.match(closed.reason, /send queue/);
  assert.ok(closed.textFrames < total, "the slow client did not get everything");
  slow.close();
  await fast.close();
});

gatewayTest("limits: subscriptions per connection (429) and connections (HTTP 503)", {
  maxSubscriptions: 3,
  maxConnections: 2,
}, async (gateway, backend) => {
  await backend.create("demo.limits");
  const client = await TestClient.connect(gateway.url);
  for (let i = 0; i < 4; i++) client.send({ logname: "demo.limits", numrec: 0, id: i });
  const refused = await client.next();
  assert.equal(refused.type, 6);
  assert.equal(refused.ep_stat[0], 429);
  assert.equal(refused.id, 3);
  await waitFor(() => gateway.hub.stats().live === 3, "three subscriptions live");

  const second = await TestClient.connect(gateway.url);
  await assert.rejects(TestClient.connect(gateway.url), /cannot connect/);
  const res = await fetch(http(gateway.url, "/"), {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    },
  });
  assert.equal(res.status, 503);
  await res.body?.cancel();
  await second.close();
  await waitFor(() => gateway.connections() === 1, "a connection slot freed");
  const third = await TestClient.connect(gateway.url);
  await third.close();
  await client.close();
});

gatewayTest("a long history to a client that reads slowly pauses instead of overflowing", {
  sendQueueBytes: 512 * 1024,
  maxRecordBytes: 64 * 1024,
}, async (gateway, backend) => {
  await backend.create("demo.history");
  const log = await backend.open("demo.history");
  const payload = new TextEncoder().encode("y".repeat(16 * 1024));
  await Promise.all(range(1, 2000).map(() => log.append(payload))); // 32 MiB of history
  const slow = await RawWebSocket.connect(gateway.port);
  await slow.sendText(JSON.stringify({ logname: "demo.history", startrec: 1, numrec: 2000 }));
  await new Promise((resolve) => setTimeout(resolve, 300)); // not reading: buffers fill
  assert.equal(gateway.hub.stats().subscriptions, 1, "still subscribed, waiting");
  const frames = await slow.readUntilText(2001);
  assert.equal(frames, 2001, "every record, then DONE");
  slow.close();
});

gatewayTest("/ws is an alias of /", {}, async (gateway) => {
  const client = await TestClient.connect(`${gateway.url}ws`);
  client.send({ logname: "no.such" });
  assert.equal((await client.next()).ep_stat[0], 600);
  await client.close();
});

/** A CA and a leaf certificate for 127.0.0.1, made here (openssl runs under the runner's grants). */
const TLS = await hasOpenssl() ? await tlsFiles() : undefined;

shippedTest(
  "with --cert and --key the gateway serves TLS (wss:// and https://)",
  async (dataDir) => {
    const { cert, key, caText } = TLS!;
    const gateway = await serveForTest(openEmbedded({ dataDir }), {}, { cert, key });
    assert.match(gateway.url, /^wss:\/\//);
    const client = Deno.createHttpClient({ caCerts: [caText] });
    const res = await fetch(`https://127.0.0.1:${gateway.port}/healthz`, { client });
    assert.deepEqual(await res.json(), { status: "ok" });
    client.close();
    await gateway.shutdown();
  },
  { ignore: !TLS, ...(TLS ? { cert: TLS.cert, key: TLS.key } : {}) },
);

/** The PEM files of a gateway's TLS, in a folder removed when the module unloads. */
async function tlsFiles(): Promise<{ cert: string; key: string; caText: string }> {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-tls-" });
  addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
  const ca = await makeCertificates(dir, cert, key);
  return { cert, key, caText: await Deno.readTextFile(ca) };
}

/** A throwaway CA and a leaf certificate for 127.0.0.1 signed by it; returns the CA's path. */
async function makeCertificates(dir: string, cert: string, key: string): Promise<string> {
  const [ca, caKey, csr, ext] = ["ca.pem", "ca.key", "leaf.csr", "leaf.ext"].map((f) =>
    join(dir, f)
  );
  await Deno.writeTextFile(
    ext!,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
  );
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const steps = [
    [
      "req",
      "-x509",
      ...ec,
      "-days",
      "1",
      "-subj",
      "/CN=gdp-ws test CA",
      "-keyout",
      caKey!,
      "-out",
      ca!,
    ],
    ["req", ...ec, "-subj", "/CN=localhost", "-keyout", key, "-out", csr!],
    ["x509", "-req", "-in", csr!, "-CA", ca!, "-CAkey", caKey!, "-CAcreateserial", "-days", "1"],
  ];
  steps[2]!.push("-extfile", ext!, "-out", cert);
  for (const args of steps) {
    const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  }
  return ca!;
}

async function hasOpenssl(): Promise<boolean> {
  try {
    return (await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}
