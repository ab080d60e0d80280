/** `/metrics`: Prometheus text that a real parser accepts, and counters that move with traffic. */

import assert from "node:assert/strict";
import { type MetricName, METRICS, Metrics } from "../../src/ops/metrics.ts";
import { TestClient, waitFor } from "../helpers/client.ts";
import { httpUrl, postEmpty, withGateway } from "../helpers/gateway.ts";
import { shippedTest } from "../helpers/shipped.ts";
import { countOf, parseMetrics, type Scrape, scrape, valueOf } from "../helpers/prometheus.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("Metrics: counters, gauges, histograms and sources render as parseable text", async () => {
  const metrics = new Metrics();
  metrics.inc("gdpws_closes_total", { code: 1008 });
  metrics.inc("gdpws_closes_total", { code: 1008 }, 2);
  metrics.set("gdpws_draining", 1);
  metrics.observe("gdpws_append_to_send_seconds", 0.003);
  let feeds = 4;
  metrics.source("gdpws_feeds", () => feeds);
  let total = 10;
  metrics.source("gdpws_records_out_total", () => total);
  metrics.source("gdpws_backend_counter", () => [[{ name: "reconnects" }, 2]]);

  const first = parseMetrics(await metrics.text());
  assert.equal(valueOf(first, "gdpws_closes_total", { code: "1008" }), 3);
  assert.equal(valueOf(first, "gdpws_draining"), 1);
  assert.equal(valueOf(first, "gdpws_feeds"), 4);
  assert.equal(valueOf(first, "gdpws_records_out_total"), 10);
  assert.equal(valueOf(first, "gdpws_backend_counter", { name: "reconnects" }), 2);
  assert.equal(countOf(first, "gdpws_append_to_send_seconds"), 1);
  assert.ok(valueOf(first, "process_resident_memory_bytes") > 1e6);
  assert.equal(first.get("gdpws_closes_total")?.type, "COUNTER");
  assert.equal(first.get("gdpws_append_to_send_seconds")?.type, "HISTOGRAM");

  // A source is re-read at each scrape, never added up twice.
  feeds = 2;
  total = 15;
  const second = parseMetrics(await metrics.text());
  assert.equal(valueOf(second, "gdpws_feeds"), 2);
  assert.equal(valueOf(second, "gdpws_records_out_total"), 15);
  assert.equal(await metrics.value("gdpws_closes_total", { code: 1008 }), 3);
  metrics.close();
});

Deno.test("Metrics: every declared metric has a HELP line and a valid name", async () => {
  const metrics = new Metrics();
  const text = await metrics.text();
  for (const name of Object.keys(METRICS) as MetricName[]) {
    assert.match(name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
    assert.ok(text.includes(`# HELP ${name} `), `${name} is exposed`);
  }
  metrics.close();
});

shippedTest(
  "/metrics parses as Prometheus text and its counters move with traffic",
  (dataDir) =>
    withGateway(dataDir, {}, async (gateway) => {
      const before = await scrape(gateway.url);
      for (const name of Object.keys(METRICS)) assert.ok(before.has(name), `${name} scraped`);
      assert.equal(valueOf(before, "gdpws_connections"), 0);
      assert.equal(valueOf(before, "gdpws_backend_up"), 1);

      const post = (body: string) =>
        fetch(httpUrl(gateway.url, "/logs/demo.metrics"), { method: "POST", body });
      for (const n of [1, 2, 3]) {
        const res = await post(`r${n}`);
        assert.equal(res.status, 201);
        await res.body?.cancel();
      }

      const client = await TestClient.connect(gateway.url);
      client.send({ logname: "demo.metrics", startrec: 1, numrec: 0 });
      assert.deepEqual((await client.take(3)).map((e) => e.datum?.recno), [1, 2, 3]);
      client.send({ append: "demo.metrics", data: "r4" });
      const got = await client.take(2); // SUCCESS and DATA, in either order
      assert.deepEqual(got.map((e) => e.type).sort(), [1, 5]);
      client.send("not json");
      assert.equal((await client.next()).ep_stat[0], 400);
      await waitFor(() => gateway.hub.stats().live === 1, "the subscription to go live");

      const during = await scrape(gateway.url);
      assert.equal(valueOf(during, "gdpws_connections"), 1);
      assert.equal(valueOf(during, "gdpws_subscriptions"), 1);
      assert.equal(valueOf(during, "gdpws_feeds"), 1);
      assert.equal(valueOf(during, "gdpws_handshakes_total", { result: "accepted" }), 1);
      assert.equal(valueOf(during, "gdpws_records_in_total", { via: "http" }), 3);
      assert.equal(valueOf(during, "gdpws_records_in_total", { via: "ws" }), 1);
      assert.equal(valueOf(during, "gdpws_history_records_total"), 3);
      assert.equal(valueOf(during, "gdpws_records_out_total"), 4);
      assert.equal(valueOf(during, "gdpws_frames_out_total"), 6);
      assert.ok(valueOf(during, "gdpws_bytes_out_total") > 6 * 50);
      assert.equal(valueOf(during, "gdpws_errors_total", { code: "400" }), 1);
      assert.equal(countOf(during, "gdpws_append_to_send_seconds"), 1);

      await client.close();
      await waitFor(() => gateway.connections() === 0, "the close to be seen");
      const after = await scrape(gateway.url);
      assert.equal(valueOf(after, "gdpws_connections"), 0);
      assert.equal(valueOf(after, "gdpws_connections_total"), 1);
      assert.equal(sum(after, "gdpws_closes_total"), 1);
    }),
);

shippedTest(
  "/metrics counts limit refusals by limit and closes by code",
  (dataDir) =>
    withGateway(dataDir, {}, async (gateway) => {
      await postEmpty(gateway, "demo.limits");
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: "demo.limits", startrec: 0, numrec: 0, id: 1 });
      client.send({ logname: "demo.limits", startrec: 0, numrec: 0, id: 2 });
      assert.equal((await client.next()).ep_stat[0], 429);
      client.send("x".repeat(5000));
      assert.equal((await client.next()).ep_stat[0], 413);
      assert.equal((await client.closed).code, 1009);
      await waitFor(() => gateway.connections() === 0, "the close to be seen");
      const after = await scrape(gateway.url);
      assert.equal(valueOf(after, "gdpws_limit_refusals_total", { limit: "subscriptions" }), 1);
      assert.equal(valueOf(after, "gdpws_limit_refusals_total", { limit: "frame_bytes" }), 1);
      assert.equal(valueOf(after, "gdpws_closes_total", { code: "1009" }), 1);
      assert.equal(valueOf(after, "gdpws_errors_total", { code: "429" }), 1);
    }, { maxSubscriptions: 1, maxFrameBytes: 4096, maxRecordBytes: 1024, sendQueueBytes: 4096 }),
);

function sum(scrape: Scrape, name: string): number {
  return (scrape.get(name)?.metrics ?? []).reduce((n, m) => n + Number(m.value ?? 0), 0);
}

Deno.test("docs/operations.md lists every metric /metrics serves", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/operations.md", import.meta.url));
  const listed = new Set([...doc.matchAll(/^\| `([a-z_]+)` /gm)].map((m) => m[1]));
  assert.deepEqual([...listed].sort(), Object.keys(METRICS).sort());
});
