/**
 * Fairness of the live fan-out: a burst of records to many sockets is spread
 * over turns of the event loop, so the gateway answers other requests while it
 * sends, and every socket still gets every record, in order. No timings are
 * asserted: the test checks *when* things happen relative to the burst, which
 * a fan-out that held the loop to its end could not pass.
 */

import assert from "node:assert/strict";
import { range, TestClient, waitFor } from "./helpers/client.ts";
import { embeddedFixture, serveForTest } from "./helpers/gateway.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const SOCKETS = 200;
const RECORDS = 1_500;

/** A subscriber socket that keeps the recnos it receives. */
async function subscriber(url: string, logname: string): Promise<{ ws: WebSocket; got: number[] }> {
  const ws = new WebSocket(url);
  const got: number[] = [];
  ws.onmessage = (e) => {
    const event = JSON.parse(String(e.data)) as { type: number; datum?: { recno: number } };
    if (event.type === 1) got.push(event.datum!.recno);
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("cannot connect"));
  });
  ws.send(JSON.stringify({ logname, startrec: 0, numrec: 0 }));
  return { ws, got };
}

Deno.test("a burst to many sockets is sliced: /healthz and a handshake are served mid-burst, order kept", async () => {
  const fixture = await embeddedFixture();
  const gateway = await serveForTest(fixture.backend);
  const subs: { ws: WebSocket; got: number[] }[] = [];
  try {
    await fixture.createLog("burst");
    for (let i = 0; i < SOCKETS; i++) subs.push(await subscriber(gateway.url, "burst"));
    await waitFor(() => gateway.hub.stats().live === SOCKETS, `${SOCKETS} live subscriptions`);

    // Appends queued in one turn share one commit: the whole burst reaches the hub in one turn.
    const log = await fixture.backend.open("burst");
    const encoder = new TextEncoder();
    const appended = Promise.all(range(1, RECORDS).map((n) => log.append(encoder.encode(`r${n}`))));
    const before = gateway.hub.stats().liveDeliveries;
    const total = SOCKETS * RECORDS;
    const base = gateway.url.replace(/^ws/, "http");

    // Both start now, while the burst is being sent; each notes how far it had got when answered.
    const [atHealth, [late, atHandshake]] = await Promise.all([
      fetch(`${base}healthz`).then(async (health) => {
        assert.equal(health.status, 200);
        await health.body?.cancel();
        return gateway.hub.stats().liveDeliveries - before;
      }),
      TestClient.connect(gateway.url).then((client) =>
        [client, gateway.hub.stats().liveDeliveries - before] as const
      ),
    ]);
    await appended;
    await log.close();

    assert.ok(atHealth < total, `/healthz waited for the whole burst (${atHealth} deliveries)`);
    assert.ok(atHandshake < total, `the handshake waited for the whole burst (${atHandshake})`);
    await waitFor(
      () => subs.every((s) => s.got.length >= RECORDS),
      "every record everywhere",
      60_000,
    );
    for (const { got } of subs) assert.deepEqual(got, range(1, RECORDS));
    await late.close();
  } finally {
    await Promise.all(subs.map(({ ws }) => {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((resolve) => ws.onclose = resolve);
      ws.close();
      return closed;
    }));
    await gateway.shutdown();
    await fixture.teardown();
  }
});
