/**
 * Issue 7: every limit refuses what is over it with a clear answer and a
 * counter, and nothing a client sends blocks or kills the gateway.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { DB_FILE, openEmbedded } from "../src/backend/embedded/store.ts";
import { range, TestClient } from "./helpers/client.ts";
import { withGatewayIn } from "./helpers/gateway.ts";
import { rawRequest, upgradeHead } from "./helpers/raw_http.ts";
import { shippedTest } from "./helpers/shipped.ts";
import { withTempDir } from "./helpers/temp_dir.ts";
import { defaultText, flagUsage, SERVE_FLAGS } from "../src/cli/serve_flags.ts";

Deno.test.sanitizer({ ops: true, resources: true });

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn });
}

async function status(response: Promise<Response>): Promise<[number, string]> {
  const res = await response;
  return [res.status, await res.text()];
}

interface Readyz {
  limits: Record<string, { limit: number; refused: number }>;
}

async function refused(http: (path: string) => string, limit: string): Promise<number> {
  const body = await (await fetch(http("/readyz"))).json() as Readyz;
  return body.limits[limit]!.refused;
}

shippedTest(
  "one logname rule everywhere: NUL, lone surrogates and long names get 400",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway, http }) => {
      for (const path of ["/logs/nul%00byte", `/logs/${"x".repeat(10_000)}`, "/logs/tab%09name"]) {
        const [code, body] = await status(fetch(http(path), { method: "POST", body: "x" }));
        assert.equal(code, 400, path);
        assert.match(body, /logname (must not contain control|is longer than 1024)/);
      }
      const client = await TestClient.connect(gateway.url);
      client.send(`{"logname": "\\ud800", "startrec": 0}`);
      const event = await client.next();
      assert.equal(event.ep_stat[0], 400);
      assert.match(event.ep_stat[1], /well-formed Unicode/);
      client.send({ append: "a\u0000b", data: "x" });
      assert.match((await client.next()).ep_stat[1], /control characters/);
      await client.close();
      const list = await (await fetch(http("/logs"))).json() as unknown[];
      assert.deepEqual(list, []);
    });
  },
);

test("the CLI's store refuses the same names", async () => {
  await withTempDir("gdp-ws-names-", async (dataDir) => {
    const store = openEmbedded({ dataDir });
    try {
      await assert.rejects(store.create("\ud800"), /well-formed/);
      await assert.rejects(store.create("a\nb"), /control characters/);
    } finally {
      await store.close();
    }
  });
});

shippedTest(
  "a chunked POST body is refused with 413 as soon as it passes the limit",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ http }) => {
      const total = 256 * 1024 * 1024;
      const chunk = new Uint8Array(64 * 1024);
      let sent = 0;
      let answered = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          // Once answered, end the upload rather than leave it pending past the test.
          if (sent >= total || answered) return controller.close();
          sent += chunk.length;
          controller.enqueue(chunk);
        },
      });
      const res = await fetch(http("/logs/big"), { method: "POST", body }).catch(() => undefined);
      answered = true;
      if (res) {
        assert.equal(res.status, 413);
        assert.match(await res.text(), /over the 1048576-byte limit/);
      }
      // Unfixed, the whole body was read before the check.
      assert.ok(sent < total / 4, `the gateway read ${sent} bytes of an oversized body`);
      assert.ok(await refused(http, "maxRecordBytes") >= 1);
    });
  },
);

test("a full disk is reported as 507 naming it, and appends resume after", async () => {
  await withTempDir("gdp-ws-full-", async (dataDir) => {
    const store = openEmbedded({ dataDir });
    try {
      await store.create("full");
      const log = await store.open("full");
      store.limitPages(40);
      const record = new Uint8Array(4096);
      let error: unknown;
      for (let i = 0; i < 1000 && !error; i++) {
        await log.append(record).catch((e) => error = e);
      }
      assert.ok(error, "the capped store never filled");
      assert.equal((error as { code: number }).code, 507);
      assert.match((error as Error).message, /database or disk is full/);
      assert.doesNotMatch((error as Error).message, /rollback/);
      const before = await log.last();
      store.limitPages(1_000_000);
      assert.equal((await log.append(record)).recno, before + 1);
    } finally {
      await store.close();
    }
  });
});

shippedTest("another process's write lock never blocks the event loop", async (dataDir) => {
  await withGatewayIn(dataDir, {}, async ({ backend, dataDir, http }) => {
    await backend.create("locked");
    // A second connection stands in for `gdp-ws append` in another process.
    const other = new DatabaseSync(join(dataDir, DB_FILE));
    other.exec("BEGIN IMMEDIATE");
    let settled = false;
    const append = fetch(http("/logs/locked"), { method: "POST", body: "x" }).finally(() =>
      settled = true
    );
    const health = await fetch(http("/healthz"));
    assert.equal(health.status, 200);
    await health.body?.cancel();
    // Unfixed, SQLite waited inside the event loop and the append had failed by now.
    assert.equal(settled, false, "the append did not wait for the lock off the loop");
    other.exec("COMMIT");
    other.close();
    const res = await append;
    assert.equal(res.status, 201);
    assert.equal((await res.json() as { recno: number }).recno, 1);
  });
});

shippedTest("GET /logs comes in pages with a Link to the next", async (dataDir) => {
  await withGatewayIn(dataDir, { maxListLogs: 10 }, async ({ backend, http }) => {
    for (let i = 0; i < 25; i++) await backend.create(`page.${String(i).padStart(2, "0")}`);
    const seen: string[] = [];
    let next: string | undefined = "/logs";
    let pages = 0;
    while (next) {
      const res: Response = await fetch(http(next));
      assert.equal(res.status, 200);
      const page = await res.json() as { human: string }[];
      assert.ok(page.length <= 10);
      seen.push(...page.map((l) => l.human));
      next = res.headers.get("link")?.match(/^<([^>]+)>; rel="next"$/)?.[1];
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => `page.${String(i).padStart(2, "0")}`),
    );
    for (const limit of ["0", "11", "x"]) {
      const [code, body] = await status(fetch(http(`/logs?limit=${limit}`)));
      assert.equal(code, 400);
      assert.match(body, /limit must be an integer from 1 to 10/);
    }
  });
});

shippedTest(
  "log creation is rate limited per client address; appends to existing logs are not",
  async (dataDir) => {
    await withGatewayIn(dataDir, { maxLogCreatesPerMinute: 3 }, async ({ gateway, http }) => {
      const client = await TestClient.connect(gateway.url);
      for (let i = 0; i < 3; i++) client.send({ append: `new.${i}`, data: "x" });
      for (const event of await client.take(3)) assert.equal(event.ep_stat[0], 200);
      client.send({ append: "new.3", data: "x" });
      const refusedEvent = await client.next();
      assert.equal(refusedEvent.ep_stat[0], 429);
      assert.match(refusedEvent.ep_stat[1], /more than 3 new logs per minute/);
      const [code] = await status(fetch(http("/logs/new.4"), { method: "POST", body: "x" }));
      assert.equal(code, 429);
      client.send({ append: "new.0", data: "y" });
      assert.equal((await client.next()).ep_stat[0], 200);
      await client.close();
      assert.equal(await refused(http, "maxLogCreatesPerMinute"), 2);
    });
  },
);

shippedTest("subscriptions over all connections and feeds are capped with 503", async (dataDir) => {
  const limits = { maxTotalSubscriptions: 3, maxFeeds: 2 };
  await withGatewayIn(dataDir, limits, async ({ gateway, backend, http }) => {
    for (const name of ["a", "b", "c"]) await backend.create(name);
    const one = await TestClient.connect(gateway.url);
    const two = await TestClient.connect(gateway.url);
    one.send({ logname: "a", startrec: 0, numrec: 0 });
    one.send({ logname: "a", startrec: 0, numrec: 0, id: "a2" });
    two.send({ logname: "b", startrec: 0, numrec: 0 });
    await waitForSubscriptions(http, 3);
    two.send({ logname: "b", startrec: 0, numrec: 0, id: "fourth" });
    const full = await two.next();
    assert.equal(full.id, "fourth");
    assert.equal(full.ep_stat[0], 503);
    assert.match(full.ep_stat[1], /limit of 3 subscriptions/);
    one.send({ unsubscribe: "a2" });
    assert.equal((await one.next()).type, 2);
    two.send({ logname: "c", startrec: 0, numrec: 0 });
    const noFeed = await two.next();
    assert.equal(noFeed.ep_stat[0], 503);
    assert.match(noFeed.ep_stat[1], /limit of 2 logs/);
    await Promise.all([one.close(), two.close()]);
    assert.equal(await refused(http, "maxTotalSubscriptions"), 1);
    assert.equal(await refused(http, "maxFeeds"), 1);
  });
});

async function waitForSubscriptions(http: (path: string) => string, n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const body = await (await fetch(http("/readyz"))).json() as { subscriptions: number };
    if (body.subscriptions >= n) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never saw ${n} subscriptions`);
}

shippedTest(
  "a replay of more stored records than allowed gets 413; a shorter one works",
  async (dataDir) => {
    await withGatewayIn(dataDir, { maxHistoryRecords: 10 }, async ({ gateway, backend }) => {
      await backend.create("h");
      const log = await backend.open("h");
      for (let i = 0; i < 20; i++) await log.append(new TextEncoder().encode(`${i}`));
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: "h", startrec: 1, numrec: 0 });
      const event = await client.next();
      assert.equal(event.ep_stat[0], 413);
      assert.match(event.ep_stat[1], /20 stored records asked for; the limit is 10/);
      client.send({ logname: "h", startrec: 1, numrec: 10 });
      const got = await client.take(11);
      assert.equal(got.at(-1)!.type, 2);
      client.send({ logname: "h", startrec: -5, numrec: 5 });
      assert.equal((await client.take(6)).filter((e) => e.type === 1).length, 5);
      await client.close();
    });
  },
);

shippedTest(
  "requests past the per-connection rate are held back, not refused: every one is answered, in order, malformed ones counted too",
  async (dataDir) => {
    await withGatewayIn(dataDir, { maxRequestRate: 20 }, async ({ gateway, http }) => {
      const client = await TestClient.connect(gateway.url);
      // A burst twice the bucket: half must wait for the rate. Every fifth is malformed.
      for (let i = 0; i < 40; i++) {
        client.send(i % 5 === 4 ? `not json ${i}` : { append: "rate", data: `${i}`, id: i });
      }
      const events = await client.take(40, 10_000);
      assert.equal(events.filter((e) => e.ep_stat[0] === 400).length, 8, "each malformed one: 400");
      // The appends were handled in the order sent: their recnos follow their ids.
      const appended = events.filter((e) => e.ep_stat[0] === 200);
      appended.sort((a, b) => Number(a.id) - Number(b.id));
      assert.deepEqual(
        appended.map((e) => e.id),
        Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 5 !== 4),
      );
      assert.deepEqual(appended.map((e) => e.datum!.recno), range(1, 32));
      const stored = await (await fetch(http("/logs/rate"))).json() as { count: number };
      assert.equal(stored.count, 32, "every append was stored");
      // One stretch of held messages, counted once (not once per message held).
      assert.equal(await refused(http, "maxRequestRate"), 1);
      await client.close();
    });
  },
);

shippedTest(
  "malformed upgrades get 400, 405 or 426 naming the problem, never 101 or 500",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway, http }) => {
      const port = gateway.port;
      const cases: [string, number, RegExp][] = [
        [upgradeHead(port, { drop: ["sec-websocket-key"] }), 400, /Sec-WebSocket-Key/],
        [upgradeHead(port, { drop: ["connection"] }), 400, /Connection header/],
        [upgradeHead(port, { drop: ["sec-websocket-version"] }), 426, /version must be 13/i],
        [
          upgradeHead(port, {
            drop: ["sec-websocket-version"],
            extra: ["Sec-WebSocket-Version: 8"],
          }),
          426,
          /not 8/,
        ],
        [
          upgradeHead(port, { drop: ["sec-websocket-key"], extra: ["Sec-WebSocket-Key: "] }),
          400,
          /Key/,
        ],
        [upgradeHead(port, { method: "POST" }), 405, /must be a GET/],
      ];
      for (const [head, code, pattern] of cases) {
        const res = await rawRequest(port, head);
        assert.equal(res.status, code, head);
        assert.match(res.body, pattern);
        if (code === 426) assert.equal(res.headers.get("sec-websocket-version"), "13");
      }
      const health = await fetch(http("/healthz"));
      assert.equal(health.status, 200);
      await health.body?.cancel();
    });
  },
);

test("README's limits table names every limit flag with its real default", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.split("### Limits")[1]!.split("\n## ")[0]!;
  const rows = section.split("\n").filter((line) => line.startsWith("| `--"));
  const documented = new Map(rows.map((row) => {
    const [flag, value] = row.split("|").slice(1, 3).map((cell) => cell.trim());
    return [flag!, value!];
  }));
  const limitFlags = SERVE_FLAGS.filter((f) =>
    f.field.startsWith("limits.max") || f.field.startsWith("limits.sendQueue") ||
    ["limits.fdReserve", "limits.handshakeTimeoutMs", "limits.idleTimeoutSec"].includes(f.field)
  );
  assert.ok(limitFlags.length >= 16);
  for (const flag of limitFlags) {
    const usage = `\`${flagUsage(flag)}\``;
    assert.equal(documented.get(usage), defaultText(flag), `README's limits table on ${usage}`);
  }
});
