/**
 * Issue 7, memory: `--send-queue-bytes` bounds what clients that never read
 * cost (Deno's WebSocket kept ~6 times the limit per client, in small frames
 * it did not count), and connections dropped without a close leave nothing.
 */

import assert from "node:assert/strict";
import { TestClient, waitFor } from "../helpers/client.ts";
import { withGatewayIn } from "../helpers/gateway.ts";
import { memoryMiB } from "../helpers/proc.ts";
import { RawWebSocket } from "../helpers/raw_ws.ts";
import { serveShipped, shippedTest } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const SLOW = 30;
const QUEUE = 2 * 1024 * 1024;
const MiB = 1024 * 1024;

/** The gateway's resident memory in bytes, read by this test (-A) from /proc: the gateway cannot. */
function rss(pid: number): number {
  return memoryMiB(pid) * MiB;
}

Deno.test("30 clients that never read cost about their send queues, then get 1013", async () => {
  await withTempDir("gdp-ws-mem-", async (dataDir) => {
    const gateway = await serveShipped({ data: dataDir }, [
      "--send-queue-bytes",
      String(QUEUE),
      "--max-record-bytes",
      "65536",
      "--max-request-rate",
      "1000000",
    ]);
    const base = gateway.url.replace(/^ws/, "http");
    const slow: RawWebSocket[] = [];
    try {
      const created = await fetch(`${base}logs/busy`, { method: "POST", body: "x" });
      await created.body?.cancel();
      const before = rss(gateway.child.pid);
      for (let i = 0; i < SLOW; i++) {
        const ws = await RawWebSocket.connect(gateway.port);
        await ws.sendText('{"logname":"busy","startrec":0,"numrec":0}');
        slow.push(ws);
      }
      const writer = await TestClient.connect(gateway.url);
      let peak = 0;
      // Small records, 12 MB to each: more than loopback's socket buffers hold, so the
      // queues fill, with many frames (what Deno's WebSocket kept an object for, each).
      const record = "y".repeat(100);
      for (let i = 1; i <= 64_000; i++) {
        writer.send({ append: "busy", data: record, id: i });
        if (i % 500 === 0) {
          // Wait for this thousand's acknowledgements: the writer is not a slow consumer.
          while ((await writer.next()).id !== i);
          peak = Math.max(peak, rss(gateway.child.pid));
        }
      }
      await writer.close();
      const grown = peak - before;
      console.log(`${SLOW} slow clients, ${QUEUE / MiB} MiB queues: RSS grew ${grown / MiB} MiB`);
      // The queues may hold 60 MiB; the rest is the burst's garbage not yet collected.
      // Unfixed (Deno's WebSocket), the same run grew by about 12 MiB per slow client.
      assert.ok(grown < SLOW * QUEUE * 4, `RSS grew ${grown / MiB} MiB`);
      for (const ws of slow) assert.equal((await ws.readUntilClose()).code, 1013);
    } finally {
      for (const ws of slow) ws.close();
      assert.equal(await gateway.stop(), 0);
    }
  });
});

shippedTest(
  "1,000 connections dropped without a close leave no session or subscription",
  async (dataDir) => {
    await withGatewayIn(dataDir, {}, async ({ gateway, backend }) => {
      await backend.create("churn");
      for (let round = 0; round < 10; round++) {
        const batch = await Promise.all(
          Array.from({ length: 100 }, () => RawWebSocket.connect(gateway.port)),
        );
        for (const ws of batch) await ws.sendText('{"logname":"churn","startrec":0,"numrec":0}');
        await waitFor(() => gateway.hub.stats().subscriptions === 100, "100 subscriptions");
        for (const ws of batch) ws.close();
      }
      await waitFor(() => gateway.connections() === 0, "every session gone");
      await waitFor(() => gateway.frontDoor.stats().open === 0, "every connection gone");
      assert.equal(gateway.hub.stats().subscriptions, 0);
    });
  },
);
