/**
 * The gateway over the libgdp backend, end to end: many WebSocket clients on
 * the C test double, link loss under load, and the library-level cost of fan-out.
 */

import assert from "node:assert/strict";
import type { LibgdpBackend } from "../../../src/backend/libgdp/backend.ts";
import { range, recnos, TestClient, waitFor } from "../../helpers/client.ts";
import { libgdpDouble, uniqueLog, withLibgdpGateway } from "../../helpers/libgdp_double.ts";
import { sanitizedWithLibgdpLoaded } from "../../helpers/sanitize.ts";
import { libgdpTest, serveShipped } from "../../helpers/shipped.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

const opts = await sanitizedWithLibgdpLoaded();
/** The double, compiled and loaded: the library each gateway here is granted. */
const LIB = (await libgdpDouble()).path;

async function connectMany(url: string, n: number): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Math.min(100, n - i);
    clients.push(
      ...await Promise.all(Array.from({ length: batch }, () => TestClient.connect(url))),
    );
  }
  return clients;
}

libgdpTest(
  "libgdp: 1,000 clients on one log cause one open and one subscribe in the library",
  LIB,
  () =>
    withLibgdpGateway({ downAfterMs: 10_000 }, async ({ gdp, gateway }) => {
      const name = uniqueLog("fan");
      gdp.createLog(name);
      for (let n = 1; n <= 5; n++) gdp.append(name, `r${n}`);
      const clients = await connectMany(gateway.url, 1000);
      for (const client of clients) client.send({ logname: name, startrec: 1, numrec: 7 });
      await waitFor(() => gateway.hub.stats().live === 1000, "1,000 live subscriptions", 30_000);
      gdp.append(name, "r6");
      gdp.append(name, "r7");
      for (const client of clients) {
        const events = await client.take(8, 10_000);
        assert.deepEqual(recnos(events), range(1, 7));
        assert.equal(events[7]!.type, 2);
      }
      const c = gdp.counters();
      assert.equal(c.opens, 1, "one gdp_gin_open");
      assert.equal(c.subscribes, 1, "one gdp_gin_subscribe_by_recno");
      assert.equal(c.doubleOpens, 0);
      await Promise.all(clients.map((client) => client.close()));
      const backend = gateway.backend as LibgdpBackend;
      await waitFor(() => backend.counters().followers === 0, "unfollowed after the last client");
      // libgdp 2.1.12 cannot end a subscription safely: the handle keeps it, unused
      assert.deepEqual([gdp.counters().liveSubs, gdp.counters().openHandles], [1, 1]);
    }),
);

libgdpTest(
  "libgdp: 100 clients see a delay, not a gap or a duplicate, across a link break",
  LIB,
  () =>
    withLibgdpGateway({ downAfterMs: 10_000 }, async ({ gdp, gateway }) => {
      const name = uniqueLog("break");
      gdp.createLog(name);
      for (let n = 1; n <= 10; n++) gdp.append(name, `r${n}`);
      const clients = await connectMany(gateway.url, 100);
      for (const client of clients) client.send({ logname: name, startrec: 1, numrec: 0 });
      await waitFor(() => gateway.hub.stats().live === 100, "100 live subscriptions");
      for (const client of clients) assert.deepEqual(recnos(await client.take(10)), range(1, 10));

      gdp.breakLink(200);
      for (let n = 11; n <= 30; n++) gdp.append(name, `r${n}`); // written while the gateway is cut off
      await waitFor(() => gdp.counters().subscribes >= 2, "resubscribed after the break");
      for (let n = 31; n <= 40; n++) gdp.append(name, `r${n}`);
      for (const client of clients) {
        const events = await client.take(30, 10_000);
        assert.deepEqual(recnos(events), range(11, 40), "in order, no gap, no duplicate");
        assert.ok(events.every((e) => e.type === 1), "no error event for a short outage");
        assert.ok(await client.silentFor(0));
      }
      assert.ok(await clients[0]!.silentFor(100), "nothing more after 40");
      await Promise.all(clients.map((client) => client.close()));
    }),
);

libgdpTest(
  "libgdp: a long outage is a 503 to subscribers, then records resume",
  LIB,
  () =>
    withLibgdpGateway({ downAfterMs: 100, retryMaxMs: 50 }, async ({ gdp, backend, gateway }) => {
      const name = uniqueLog("down");
      gdp.createLog(name);
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: name, startrec: 1, numrec: 0 });
      await waitFor(() => gateway.hub.stats().live === 1, "live");
      gdp.breakLink(400);
      const warning = await client.next(5_000);
      assert.equal(warning.type, 6);
      assert.equal(warning.ep_stat[0], 503);
      assert.match(warning.ep_stat[1], /GDP unreachable.*retrying/);
      const ready = await fetch(gateway.url.replace("ws", "http") + "readyz");
      assert.equal(ready.status, 503, "/readyz reports the backend down");
      assert.equal(((await ready.json()) as { state: string }).state, "down");
      gdp.append(name, "after");
      assert.equal((await client.next(5_000)).datum!.data, "after");
      await waitFor(() => backend.state().state === "ok", "ok again");
      await client.close();
    }),
);

Deno.test({
  name: "libgdp: main.ts serves under the compiled binary's flags and reports readiness",
  ...opts,
  fn: () =>
    withTempDir("gdp-ws-libgdp-", async (data) => {
      const gateway = await serveShipped({ data, libgdp: LIB }, ["--backend", "libgdp"]);
      const ready = await fetch(gateway.url.replace("ws", "http") + "readyz");
      const body = await ready.json() as {
        backend: string;
        state: string;
        counters: Record<string, number>;
      };
      assert.equal(body.backend, "libgdp");
      assert.equal(body.state, "ok");
      for (const key of ["eventsGot", "eventsFreed"]) {
        assert.equal(typeof body.counters[key], "number", `the counter ${key} is visible`);
      }
      assert.equal(body.counters.eventsGot, body.counters.eventsFreed, "every event got is freed");
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: "no.such.log" });
      const event = await client.next();
      assert.equal(event.ep_stat[0], 600);
      assert.equal(await gateway.stop(), 0);
      await client.closed;
    }),
});
