/**
 * Operations: lame duck (`/readyz` 503 before SHUTDOWN), the signals of a
 * running `gdp-ws serve` (SIGTERM drains, SIGHUP re-reads the keys), log lines
 * that carry connection ids and never a token, and `gdp-ws token`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { Auth } from "../../src/auth/auth.ts";
import { TestClient, waitFor } from "../helpers/client.ts";
import { httpUrl, postEmpty, withGateway } from "../helpers/gateway.ts";
import { serveShipped, shippedTest } from "../helpers/shipped.ts";
import { runMain } from "../helpers/process.ts";
import { scrape, valueOf } from "../helpers/prometheus.ts";
import { upgradeStatus } from "../helpers/raw_ws.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { keyPair, pemOf, signToken, writeSecret } from "../helpers/tokens.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const opts = { sanitizeOps: true, sanitizeResources: true };

async function readyz(url: string): Promise<{ status: number; state: string }> {
  const response = await fetch(httpUrl(url, "/readyz"));
  return { status: response.status, state: ((await response.json()) as { state: string }).state };
}

shippedTest(
  "lame duck: /readyz turns 503 first, SHUTDOWN and 1001 follow after drainMs",
  (dataDir) =>
    withGateway(dataDir, {}, async (gateway) => {
      await postEmpty(gateway, "demo.drain");
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: "demo.drain", startrec: 0, numrec: 0 });
      await waitFor(() => gateway.hub.stats().live === 1, "the subscription to go live");
      assert.equal((await readyz(gateway.url)).status, 200);

      const drained = gateway.drain();
      assert.deepEqual(await readyz(gateway.url), { status: 503, state: "draining" });
      assert.equal(valueOf(await scrape(gateway.url), "gdpws_draining"), 1);
      assert.equal(client.pending, 0, "no SHUTDOWN while the load balancer drains");
      assert.equal(client.socket.readyState, WebSocket.OPEN);

      const shutdown = await client.next(10_000);
      assert.deepEqual([shutdown.type, shutdown.ep_stat[0]], [3, 200]);
      assert.equal((await client.closed).code, 1001);
      await drained;
    }, { drainMs: 3_000 }),
);

shippedTest(
  "shutdown ends when the connections have closed, not when the grace period has",
  (dataDir) =>
    withGateway(dataDir, {}, async (gateway) => {
      const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(gateway.url)));
      const stopped = gateway.shutdown();
      for (const client of clients) assert.equal((await client.closed).code, 1001);
      // The grace is 10 minutes: only the sessions' closes can end this wait sooner.
      await stopped;
    }, { shutdownGraceMs: 600_000 }),
);

Deno.test({
  name:
    "serve: SIGHUP re-reads the keys, SIGTERM drains; log lines carry connection ids, never tokens",
  ...opts,
  fn: () =>
    withTempDir("gdp-ws-ops-", async (dir) => {
      const first = await keyPair("ES256");
      const second = await keyPair("ES256");
      const pem = join(dir, "keys.pem");
      await Deno.writeTextFile(pem, await pemOf(first));
      // As the binary built for this data folder and key file runs: its grants, its defaults.
      const gateway = await serveShipped({ data: join(dir, "data"), authKeys: pem }, [
        "--drain-ms",
        "2000",
      ]);
      const claims = { read: ["demo.*"], append: ["demo.*"] };
      const oldToken = await signToken(first, claims);
      const newToken = await signToken(second, claims);
      const status = async (token: string) =>
        (await upgradeStatus(gateway.port, `/?access_token=${token}`)).status;
      assert.equal(await status(oldToken), 101);
      assert.equal(await status(newToken), 401);

      await Deno.writeTextFile(pem, await pemOf(second));
      gateway.child.kill("SIGHUP");
      await waitFor(
        () => gateway.logs.some((l) => l.message === "Token keys reloaded"),
        "a reload",
      );
      assert.equal(await status(newToken), 101);
      assert.equal(await status(oldToken), 401);

      const client = await TestClient.connect(gateway.url, undefined, {
        authorization: `Bearer ${newToken}`,
      });
      client.send({ append: "demo.ops", data: "x" });
      assert.equal((await client.next()).type, 5);
      client.send({ logname: "demo.ops", startrec: 0, numrec: 0 });

      gateway.child.kill("SIGTERM");
      await waitFor(
        () => gateway.logs.some((l) => String(l.message).startsWith("Draining")),
        "drain",
      );
      assert.deepEqual(await readyz(gateway.url), { status: 503, state: "draining" });
      assert.equal((await client.next(10_000)).type, 3);
      assert.equal((await client.closed).code, 1001);
      assert.equal((await gateway.child.status).code, 0);

      const lines = gateway.logs.map((l) => JSON.stringify(l));
      for (const token of [oldToken, newToken]) {
        assert.ok(!lines.some((l) => l.includes(token.split(".")[2]!)), "no token in the logs");
      }
      const refusals = gateway.logs.filter((l) => String(l.message).startsWith("Refused"));
      assert.equal(refusals.length, 2, "each refusal logged once");
      assert.match(String(refusals[0]!.message), /127\.0\.0\.1.*no key matches|signature/);
      const props = (l: Record<string, unknown>) => l.properties as Record<string, unknown>;
      const opened = gateway.logs.filter((l) => String(l.message).startsWith("Open"));
      const closed = gateway.logs.filter((l) => String(l.message).startsWith("Close"));
      const ids = (list: typeof opened) => list.map((l) => props(l).conn).sort();
      assert.equal(new Set(ids(opened)).size, opened.length, "one id per connection");
      assert.deepEqual(ids(closed), ids(opened), "the close line carries the open line's id");
      assert.ok(opened.every((l) => /^c\d+$/.test(String(props(l).conn))));
    }),
});

Deno.test("gdp-ws token mints an HS256 token with the claims asked for", async () => {
  await withTempDir("gdp-ws-token-", async (dir) => {
    const { path, secret } = await writeSecret(dir);
    const out = await runMain(["--allow-read"], [
      "token",
      "--secret",
      path,
      "--read",
      "demo.*",
      "--read",
      "edu.berkeley.demo.temp",
      "--append",
      "demo.w",
      "--lifetime",
      "120",
      "--subject",
      "alice",
    ]);
    assert.equal(out.code, 0, out.stderr);
    const token = out.stdout.trim();
    const { payload, protectedHeader } = await jwtVerify(token, secret, { audience: "gdp-ws" });
    assert.equal(protectedHeader.alg, "HS256");
    assert.deepEqual(payload.read, ["demo.*", "edu.berkeley.demo.temp"]);
    assert.deepEqual(payload.append, ["demo.w"]);
    assert.equal(payload.sub, "alice");
    assert.ok(Math.abs(payload.exp! - Date.now() / 1000 - 120) < 30);
    const grant = await (await Auth.load({ secretFile: path })).verify(token);
    assert.deepEqual(grant.read, ["demo.*", "edu.berkeley.demo.temp"]);

    const missing = await runMain(["--allow-read"], ["token", "--read", "x"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--secret FILE is required/);
    await Deno.writeTextFile(join(dir, "short"), "tooshort\n");
    const short = await runMain(["--allow-read"], ["token", "--secret", join(dir, "short")]);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 32/);
  });
});
