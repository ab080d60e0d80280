/** `/metrics` over the libgdp backend (the C test double): its counters, reconnects and outages. */

import assert from "node:assert/strict";
import { TestClient, waitFor } from "../../helpers/client.ts";
import { scrape, valueOf } from "../../helpers/prometheus.ts";
import { libgdpDouble, uniqueLog, withLibgdpGateway } from "../../helpers/libgdp_double.ts";
import { sanitizedWithLibgdpLoaded } from "../../helpers/sanitize.ts";
import { libgdpTest } from "../../helpers/shipped.ts";

await sanitizedWithLibgdpLoaded();

libgdpTest(
  "/metrics shows libgdp's events and datums, reconnects and outages as they happen",
  (await libgdpDouble()).path,
  () =>
    withLibgdpGateway({ downAfterMs: 100, retryMaxMs: 50 }, async ({ gdp, backend, gateway }) => {
      const name = uniqueLog("metrics");
      gdp.createLog(name);
      gdp.append(name, "r1");
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: name, startrec: 1, numrec: 0 });
      assert.equal((await client.next(5_000)).datum?.data, "r1");
      gdp.append(name, "r2");
      assert.equal((await client.next(5_000)).datum?.data, "r2");

      const steady = await scrape(gateway.url);
      assert.equal(valueOf(steady, "gdpws_backend_up"), 1);
      assert.ok(valueOf(steady, "gdpws_backend_counter", { name: "eventsGot" }) >= 1);
      assert.equal(valueOf(steady, "gdpws_backend_events_alive"), 0, "every event freed");
      assert.equal(valueOf(steady, "gdpws_backend_datums_alive"), 0, "every datum freed");
      assert.equal(valueOf(steady, "gdpws_backend_reconnects_total"), 0);
      assert.equal(valueOf(steady, "gdpws_backend_outages_total"), 0);

      gdp.breakLink(400);
      const warning = await client.next(5_000);
      assert.deepEqual([warning.type, warning.ep_stat[0]], [6, 503]);
      const down = await scrape(gateway.url);
      assert.equal(valueOf(down, "gdpws_backend_up"), 0);
      assert.equal(valueOf(down, "gdpws_backend_outages_total"), 1);
      gdp.append(name, "r3");
      assert.equal((await client.next(5_000)).datum?.data, "r3");
      await waitFor(() => backend.state().state === "ok", "the link back");
      const after = await scrape(gateway.url);
      assert.ok(valueOf(after, "gdpws_backend_reconnects_total") >= 1);
      assert.equal(valueOf(after, "gdpws_backend_up"), 1);
      await client.close();
    }),
);
