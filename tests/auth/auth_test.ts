/**
 * Tokens: every source, every claim allowed and refused, the refusals (bad
 * signature, `none`, wrong audience, expired), expiry at `exp` with 1008,
 * refresh, and ES256/RS256 keys from PEM and JWKS files.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { internalName } from "../../src/core/names.ts";
import type { Gateway } from "../../src/gateway/gateway.ts";
import { TestClient, waitFor } from "../helpers/client.ts";
import { freshStore, httpUrl, type TestSettings, withGateway } from "../helpers/gateway.ts";
import { serveShipped, shippedTest } from "../helpers/shipped.ts";
import { runMain } from "../helpers/process.ts";
import { scrape, valueOf } from "../helpers/prometheus.ts";
import { upgradeStatus } from "../helpers/raw_ws.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import {
  jwksOf,
  keyPair,
  pemOf,
  signToken,
  type TestClaims,
  unsignedToken,
  writeSecret,
} from "../helpers/tokens.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const opts = { sanitizeOps: true, sanitizeResources: true };

/**
 * A test with a gateway that requires HS256 tokens signed with a fresh secret,
 * under the grants of a binary built with that secret.
 */
function tokenTest(
  name: string,
  fn: (gateway: Gateway, token: (claims?: TestClaims) => Promise<string>) => Promise<void>,
  settings: TestSettings = {},
): void {
  shippedTest(name, async (dataDir) => {
    const { path, secret } = await writeSecret(dataDir);
    await withGateway(
      dataDir,
      { authSecretFile: path, ...settings },
      (gateway) => fn(gateway, (claims) => signToken(secret, claims)),
    );
  }, { authSecret: "secret" });
}

const EVERYTHING: TestClaims = { read: ["*"], append: ["*"] };

async function post(gateway: { url: string }, name: string, token?: string, body = "x") {
  const response = await fetch(httpUrl(gateway.url, `/logs/${name}`), {
    method: "POST",
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body,
  });
  const json = await response.json() as { ep_stat?: [number, string] };
  return { status: response.status, json };
}

tokenTest(
  "auth: a token in the Authorization header, access_token or a bearer. subprotocol opens a socket",
  async (gateway, token) => {
    const t = await token(EVERYTHING);
    const byHeader = await TestClient.connect(gateway.url, undefined, {
      authorization: `Bearer ${t}`,
    });
    await byHeader.close();
    const byQuery = await TestClient.connect(`${gateway.url}?access_token=${t}`);
    await byQuery.close();

    // A browser can only send the token as a subprotocol: it is echoed back only when nothing else is offered.
    const alone = await TestClient.connect(gateway.url, [`bearer.${t}`]);
    assert.equal(alone.socket.protocol, `bearer.${t}`);
    await alone.close();
    const withBatch = await TestClient.connect(gateway.url, ["gdp-ws.batch", `bearer.${t}`]);
    assert.equal(withBatch.socket.protocol, "gdp-ws.batch", "only the chosen protocol");
    await withBatch.close();

    const none = await upgradeStatus(gateway.port, "/");
    assert.equal(none.status, 401);
    assert.match(none.head, /www-authenticate: Bearer/i);
    assert.match(none.head, /a bearer token is required/);
    assert.equal((await post(gateway, "demo.none")).status, 401);
    assert.equal((await post(gateway, "demo.header", t)).status, 201);
    const list = await fetch(httpUrl(gateway.url, `/logs?access_token=${t}`));
    assert.equal(list.status, 200);
    await list.body?.cancel();
    const metrics = await scrape(gateway.url);
    assert.equal(valueOf(metrics, "gdpws_handshakes_total", { result: "unauthorized" }), 1);
    assert.equal(valueOf(metrics, "gdpws_handshakes_total", { result: "accepted" }), 4);
  },
);

tokenTest(
  "auth: read and append claims allow and refuse each request; the socket stays open",
  async (gateway, token) => {
    const admin = await token(EVERYTHING);
    for (const name of ["demo.a", "demo.w", "other.x"]) {
      assert.equal((await post(gateway, name, admin)).status, 201);
    }
    const t = await token({ read: ["demo.*", "other.exact"], append: ["demo.w"] });
    const client = await TestClient.connect(`${gateway.url}?access_token=${t}`);

    client.send({ logname: "other.x", startrec: 1, numrec: 1, id: "no" });
    const refused = await client.next();
    assert.deepEqual([refused.id, refused.type, refused.ep_stat[0]], ["no", 6, 403]);
    assert.match(refused.ep_stat[1], /does not allow reading other\.x/);
    client.send({ append: "demo.a", data: "nope", id: "na" });
    const noAppend = await client.next();
    assert.deepEqual([noAppend.id, noAppend.ep_stat[0]], ["na", 403]);
    assert.match(noAppend.ep_stat[1], /does not allow appending to demo\.a/);

    client.send({ logname: "demo.a", startrec: 1, numrec: 1, id: "yes" });
    const [data, done] = await client.take(2);
    assert.deepEqual([data!.id, data!.type, done!.type], ["yes", 1, 2]);
    client.send({ append: "demo.w", data: "ok", id: "w" });
    assert.deepEqual(
      await client.next().then((e) => [e.id, e.type]),
      ["w", 5],
      "the socket stayed open after the refusals",
    );
    // An exact claim covers the log's internal name too.
    await post(gateway, "other.exact", admin);
    client.send({ logname: internalName("other.exact"), startrec: 1, numrec: 1 });
    assert.equal((await client.next()).type, 1);
    await client.close();

    assert.equal((await post(gateway, "demo.a", t)).status, 403);
    assert.equal((await post(gateway, "demo.w", t)).status, 201);
    const info = await fetch(httpUrl(gateway.url, "/logs/other.x"), {
      headers: { authorization: `Bearer ${t}` },
    });
    assert.equal(info.status, 403);
    await info.body?.cancel();
    const listed = await (await fetch(httpUrl(gateway.url, `/logs?access_token=${t}`))).json() as {
      human: string;
    }[];
    assert.deepEqual(listed.map((l) => l.human).sort(), ["demo.a", "demo.w", "other.exact"]);
  },
);

tokenTest(
  "auth: bad signature, none algorithm, wrong audience, expired and exp-less tokens get 401",
  async (gateway, token) => {
    const good = await token(EVERYTHING);
    const [head, payload, signature] = good.split(".");
    const flipped = `${head}.${payload}.${signature!.startsWith("A") ? "B" : "A"}${
      signature!.slice(1)
    }`;
    const other = await signToken(new TextEncoder().encode("x".repeat(40)), EVERYTHING);
    const cases: [string, string, RegExp][] = [
      ["bad signature", flipped, /signature is invalid/],
      ["another secret", other, /signature is invalid/],
      [
        "none algorithm",
        unsignedToken({ read: ["*"], aud: "gdp-ws", exp: 4e9 }),
        /algorithm|malformed/,
      ],
      ["wrong audience", await token({ ...EVERYTHING, aud: "someone-else" }), /aud/],
      ["expired", await token({ ...EVERYTHING, expiresIn: -5 }), /expired/],
      ["no exp", await token({ ...EVERYTHING, noExp: true }), /exp/],
      ["garbage", "not-a-token", /malformed/],
    ];
    for (const [what, bad, reason] of cases) {
      const upgrade = await upgradeStatus(
        gateway.port,
        `/?access_token=${encodeURIComponent(bad)}`,
      );
      assert.equal(upgrade.status, 401, what);
      assert.match(upgrade.head, reason, what);
      const http = await post(gateway, "demo.refused", bad);
      assert.equal(http.status, 401, what);
      assert.match(http.json.ep_stat![1], reason, what);
    }
    const metrics = await scrape(gateway.url);
    assert.equal(
      valueOf(metrics, "gdpws_auth_failures_total", { reason: "token" }),
      2 * cases.length,
    );
  },
);

tokenTest("auth: a socket closes with 1008 at its token's exp", async (gateway, token) => {
  assert.equal((await post(gateway, "demo.exp", await token(EVERYTHING))).status, 201);
  const exp = Math.floor(Date.now() / 1000) + 2;
  const client = await TestClient.connect(
    `${gateway.url}?access_token=${await token({ read: ["*"], exp })}`,
  );
  client.send({ logname: "demo.exp", startrec: 0, numrec: 0 });
  const closed = await client.closed;
  const lagMs = Date.now() - exp * 1000;
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, "token expired");
  // Measured, not asserted tightly (a loaded CI machine): see docs/security.md.
  console.log(`closed ${lagMs} ms after exp`);
  assert.ok(lagMs >= 0, `closed ${-lagMs} ms before exp`);
  assert.ok(lagMs < 5_000, `closed ${lagMs} ms after exp`);
  await waitFor(() => gateway.connections() === 0, "the server to see the close");
  const metrics = await scrape(gateway.url);
  assert.equal(valueOf(metrics, "gdpws_closes_total", { code: "1008" }), 1);
});

tokenTest(
  "auth: refresh extends the deadline and replaces the claims; a bad token changes nothing",
  async (gateway, token) => {
    const admin = await token(EVERYTHING);
    for (const name of ["demo.r1", "demo.r2"]) {
      assert.equal(
        (await post(gateway, name, admin)).status,
        201,
      );
    }
    const exp = Math.floor(Date.now() / 1000) + 2;
    const client = await TestClient.connect(
      `${gateway.url}?access_token=${await token({ read: ["*"], exp })}`,
    );
    client.send({ logname: "demo.r1", startrec: 0, numrec: 0, id: 1 });
    client.send({ logname: "demo.r2", startrec: 0, numrec: 0, id: 2 });
    await waitFor(() => gateway.hub.stats().live === 2, "both subscriptions to go live");

    client.send({ op: "refresh", token: "not-a-token", id: "bad" });
    const bad = await client.next();
    assert.deepEqual([bad.id, bad.type, bad.ep_stat[0]], ["bad", 6, 401]);

    client.send({
      op: "refresh",
      token: await token({ read: ["demo.r1"], expiresIn: 60 }),
      id: "r",
    });
    const events = await client.take(2);
    const ended = events.find((e) => e.id === 2)!;
    assert.deepEqual([ended.type, ended.ep_stat[0]], [6, 403], "demo.r2 is no longer covered");
    const ok = events.find((e) => e.id === "r")!;
    assert.equal(ok.type, 5);
    assert.match(ok.ep_stat[1], /token valid until/);

    // Past the first token's exp the socket is still open and still delivers demo.r1.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now() + 300)));
    assert.equal(client.socket.readyState, WebSocket.OPEN);
    assert.equal((await post(gateway, "demo.r1", admin, "after")).status, 201);
    const record = await client.next();
    assert.deepEqual([record.id, record.datum?.data], [1, "after"]);
    await client.close();
  },
);

shippedTest(
  "auth: refresh on a gateway without tokens is a 400",
  (dataDir) =>
    withGateway(dataDir, {}, async (gateway) => {
      const client = await TestClient.connect(gateway.url);
      client.send({ op: "refresh", token: "x" });
      assert.equal((await client.next()).ep_stat[0], 400);
      client.send({ op: "refresh" });
      assert.match((await client.next()).ep_stat[1], /token must be a non-empty string/);
      await client.close();
    }),
);

shippedTest(
  "auth: ES256 and RS256 keys from a PEM file and from a JWKS file; reloadKeys re-reads them",
  async (dir) => {
    const es = await keyPair("ES256");
    const rs = await keyPair("RS256");
    const stranger = await keyPair("ES256");
    const pem = join(dir, "keys.pem");
    await Deno.writeTextFile(pem, await pemOf(es, rs));
    await withGateway(dir, { authKeyFile: pem }, async (gateway) => {
      for (const pair of [es, rs]) {
        const client = await TestClient.connect(gateway.url, undefined, {
          authorization: `Bearer ${await signToken(pair, EVERYTHING)}`,
        });
        await client.close();
      }
      const foreign = await signToken(stranger, EVERYTHING);
      assert.equal((await upgradeStatus(gateway.port, `/?access_token=${foreign}`)).status, 401);
      const hs = await signToken(new TextEncoder().encode("s".repeat(40)), EVERYTHING);
      assert.match(
        (await upgradeStatus(gateway.port, `/?access_token=${hs}`)).head,
        /algorithm is not allowed/,
      );
      // Rotate: the file now holds only the new key.
      await Deno.writeTextFile(pem, await pemOf(stranger));
      await gateway.reloadKeys();
      assert.equal((await upgradeStatus(gateway.port, `/?access_token=${foreign}`)).status, 101);
      const old = await signToken(es, EVERYTHING);
      assert.equal((await upgradeStatus(gateway.port, `/?access_token=${old}`)).status, 401);
      // A broken file keeps the keys in force.
      await Deno.writeTextFile(pem, "garbage");
      await assert.rejects(() => gateway.reloadKeys(), /no PEM PUBLIC KEY/);
      assert.equal((await upgradeStatus(gateway.port, `/?access_token=${foreign}`)).status, 101);
    });

    const jwks = join(dir, "keys.json");
    await Deno.writeTextFile(jwks, await jwksOf(es, rs));
    // Another gateway, as a binary whose key file is the JWKS one would run, on its own store.
    await withGateway(await freshStore(dir), { authKeyFile: jwks }, async (gateway) => {
      for (const [pair, kid] of [[es, "k0"], [rs, "k1"]] as const) {
        const token = await signToken(pair, EVERYTHING, kid);
        assert.equal((await upgradeStatus(gateway.port, `/?access_token=${token}`)).status, 101);
      }
      const foreign = await signToken(stranger, EVERYTHING, "k0");
      assert.equal((await upgradeStatus(gateway.port, `/?access_token=${foreign}`)).status, 401);
    });
  },
  { authKeys: "keys.pem" },
);

tokenTest(
  "auth: event streams need a token, a read claim and a known origin, and end at exp",
  async (gateway, token) => {
    assert.equal((await post(gateway, "demo.sse", await token(EVERYTHING))).status, 201);
    const stream = (query: string, headers: Record<string, string> = {}) =>
      fetch(httpUrl(gateway.url, `/logs/demo.sse/events${query}`), {
        headers: { accept: "text/event-stream", ...headers },
      });
    const statusOf = async (response: Response) => {
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await statusOf(await stream("?start=1")), 401);
    const other = await token({ read: ["other.*"] });
    assert.equal(await statusOf(await stream(`?start=1&access_token=${other}`)), 403);
    const good = await token({ read: ["demo.*"] });
    const foreign = await stream(`?start=1&access_token=${good}`, {
      origin: "https://evil.example",
    });
    assert.equal(await statusOf(foreign), 403);

    const exp = Math.floor(Date.now() / 1000) + 2;
    const short = await token({ read: ["demo.*"], exp });
    const response = await stream(`?start=1&access_token=${short}`);
    assert.equal(response.status, 200);
    const text = await response.text(); // the stream ends at exp
    assert.ok(Date.now() >= exp * 1000, "ended after exp");
    assert.match(text, /id: 1\n/);
    assert.match(text, /event: failure\ndata: .*401.*the token has expired/);
  },
);

// The gateway runs as a process under the binary's grants; the test itself starts the CLI.
Deno.test({
  name: "auth: gdp-ws tail --token follows a log on a gateway that requires tokens",
  ...opts,
  fn: () =>
    withTempDir("gdp-ws-auth-", async (dir) => {
      const { path, secret } = await writeSecret(dir);
      const gateway = await serveShipped({ data: join(dir, "data"), authSecret: path });
      const token = (claims: TestClaims) => signToken(secret, claims);
      try {
        const admin = await token(EVERYTHING);
        assert.equal((await post(gateway, "demo.tail", admin, "first")).status, 201);
        const reader = await token({ read: ["demo.tail"] });
        const out = await runMain(["--allow-net"], [
          "tail",
          "demo.tail",
          "--start",
          "1",
          "--count",
          "1",
          "--url",
          gateway.url,
          "--token",
          reader,
        ]);
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /^1\t\S+\tfirst\n$/);
      } finally {
        await gateway.stop();
      }
    }),
});
