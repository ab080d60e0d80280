/**
 * Issue 18, finding 6: what a token may not read is never named (the `Link`
 * of `GET /logs`), a refresh that fails changes nothing, a client's close
 * code cannot add metric series, and `/readyz` does not publish the
 * descriptor budget. Run under the binary's grants.
 */

import assert from "node:assert/strict";
import { mintToken } from "../../src/auth/tokens.ts";
import { TestClient } from "../helpers/client.ts";
import { withGatewayIn } from "../helpers/gateway.ts";
import { scrape } from "../helpers/prometheus.ts";
import { shippedTest } from "../helpers/shipped.ts";
import { maskedFrame, RawWebSocket } from "../helpers/raw_ws.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const SECRET = new TextEncoder().encode("s".repeat(40));

/** The secret file, written into the data folder before the gateway starts (granted as `secret`). */
async function secretIn(dataDir: string): Promise<string> {
  const path = `${dataDir}/secret`;
  await Deno.writeFile(path, SECRET);
  return path;
}

function token(read: string[], append: string[] = [], lifetimeSec = 600): Promise<string> {
  return mintToken({ secret: SECRET, read, append, lifetimeSec });
}

shippedTest(
  "GET /logs pages never name a log the token may not read, and still reach every one it may",
  async (dataDir) => {
    const authSecretFile = await secretIn(dataDir);
    await withGatewayIn(dataDir, { maxListLogs: 4 }, async ({ backend, http }) => {
      // 30 secret logs between the readable ones, in label order: a.00 … z.09
      const readable: string[] = [];
      for (let i = 0; i < 10; i++) readable.push(`a.${i}`, `z.${i}`);
      const secret = Array.from({ length: 30 }, (_, i) => `m.secret.${String(i).padStart(2, "0")}`);
      for (const name of [...readable, ...secret]) await backend.create(name);
      const reader = await token(["a.*", "z.*"]);
      const seen: string[] = [];
      let next: string | undefined = "/logs?limit=4";
      let pages = 0;
      while (next) {
        const res: Response = await fetch(http(next), {
          headers: { authorization: `Bearer ${reader}` },
        });
        assert.equal(res.status, 200);
        const page = await res.json() as { human: string }[];
        seen.push(...page.map((l) => l.human));
        const link = res.headers.get("link");
        assert.ok(
          !/secret/.test(decodeURIComponent(link ?? "")),
          `the Link names no secret log: ${link}`,
        );
        next = link?.match(/^<([^>]+)>; rel="next"$/)?.[1];
        assert.ok(++pages < 30, "the pages come to an end");
      }
      assert.deepEqual(seen.sort(), readable.sort(), "every readable log, once");
      assert.ok(!seen.some((name) => name.includes("secret")));
      const forged = await fetch(http("/logs?after=~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), {
        headers: { authorization: `Bearer ${reader}` },
      });
      assert.equal(forged.status, 400, "a sealed position this gateway did not make");
      assert.match(await forged.text(), /after is a position this gateway did not make/);
    }, { authSecretFile });
  },
  { authSecret: "secret" },
);

shippedTest(
  "a refresh whose token cannot be honoured is refused and changes nothing",
  async (dataDir) => {
    const authSecretFile = await secretIn(dataDir);
    await withGatewayIn(dataDir, {}, async ({ gateway }) => {
      const first = await token(["a"]);
      const client = await TestClient.connect(gateway.url, `bearer.${first}`);
      const far = await mintToken({ secret: SECRET, read: ["*"], lifetimeSec: 1e13 });
      client.send({ op: "refresh", token: far, id: "r" });
      const answer = await client.next();
      assert.equal(answer.ep_stat[0], 401, JSON.stringify(answer));
      assert.match(answer.ep_stat[1], /past the year 9999/);
      client.send({ logname: "b", startrec: 1, numrec: 1, id: "s" });
      assert.equal((await client.next()).ep_stat[0], 403, "the old claims still apply");
      await client.close();
    }, { authSecretFile });
  },
  { authSecret: "secret" },
);

shippedTest("a client's close code becomes a bounded metric label", async (dataDir) => {
  await withGatewayIn(dataDir, {}, async ({ gateway }) => {
    for (const code of [4001, 4002, 4999, 3000, 3456, 1000]) {
      const ws = await RawWebSocket.connect(gateway.port);
      await ws.sendBytes(maskedFrame(0x8, new Uint8Array([code >> 8, code & 0xff])));
      assert.equal((await ws.readUntilClose()).code, code, "the close is echoed");
      ws.close();
    }
    // Each socket ends in a time slice after its echo: wait for the six closes.
    let labels: (string | undefined)[] = [];
    for (let tries = 0; tries < 500; tries++) {
      const family = (await scrape(gateway.url)).get("gdpws_closes_total");
      labels = family?.metrics.map((s) => s.labels?.code) ?? [];
      const total = family?.metrics.reduce((n, s) => n + Number(s.value ?? 0), 0) ?? 0;
      if (total >= 6) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const raw of ["4001", "4002", "4999", "3000", "3456"]) {
      assert.ok(!labels.includes(raw), `no series for close code ${raw}`);
    }
    assert.ok(labels.includes("4xxx") && labels.includes("3xxx") && labels.includes("1000"));
  });
});

shippedTest(
  "/readyz says how many connections are open, not the descriptor budget",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ http }) => {
      const text = await (await fetch(http("/readyz"))).text();
      assert.doesNotMatch(text, /fdBudget|fdLimit/);
      assert.match(text, /"front":\{"open":/);
    });
  },
);
