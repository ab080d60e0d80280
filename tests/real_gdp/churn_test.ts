/**
 * Churn on the real GDP: 200 logs subscribed and abandoned in waves, so that
 * feeds linger out, close and reopen many times in one gateway process
 * (libgdp's unsubscribe is where the real library aborted). Every wave's
 * subscribers must see every recno once, in order; the process must live.
 */

import assert from "node:assert/strict";
import type { TestClient } from "../helpers/client.ts";
import {
  appendToAll,
  closeAll,
  connectMany,
  eachLimited,
  expectRecords,
  range,
} from "./clients.ts";
import { type RealGateway, withGateway } from "./gateway.ts";
import { mklogs, realGdpTests, skipReason, withStack } from "./stack.ts";
import { SANITIZED } from "../helpers/sanitize.ts";

const LOGS = 200;
const WAVES = 6;
const CLIENTS = 50;
const SUBS_PER_CLIENT = 8;

/** The log indexes client `c` subscribes to in wave `w` (every log twice per wave). */
function logsOf(c: number, w: number): number[] {
  return Array.from(
    { length: SUBS_PER_CLIENT },
    (_, k) => (c * SUBS_PER_CLIENT + k + w * 7) % LOGS,
  );
}

async function wave(gateway: RealGateway, names: string[], w: number): Promise<void> {
  const clients = await connectMany(gateway.url, CLIENTS);
  for (const [c, client] of clients.entries()) {
    for (const i of logsOf(c, w)) client.send({ logname: names[i], startrec: 1, numrec: 0, id: i });
  }
  // Each log holds w records; one more arrives while the wave watches.
  await appendToAll(gateway, names, w + 1, w + 1);
  await eachLimited(clients, 10, async (client, c) => {
    const want = new Map(logsOf(c, w).map((i) => [i, { recnos: range(1, w + 1), done: false }]));
    await expectRecords(client, want, `wave ${w} client ${c}`);
  });
  await abandon(clients, w);
}

/** Half the clients unsubscribe (and get DONE) before closing; the rest just go. */
async function abandon(clients: TestClient[], w: number): Promise<void> {
  await eachLimited(clients, 10, async (client, c) => {
    if (c % 2 === 1) return;
    for (const i of logsOf(c, w)) client.send({ unsubscribe: i });
    const dones = await client.take(SUBS_PER_CLIENT, 15_000);
    assert.ok(dones.every((e) => e.type === 2), `wave ${w} client ${c}: DONE per unsubscribe`);
  });
  await closeAll(clients);
}

realGdpTests(skipReason, () => {
  Deno.test({
    name: "real GDP: 200 logs subscribed and abandoned in 6 waves; feeds close and reopen",
    ...SANITIZED,
    fn: () =>
      withStack("shared", async () => {
        const names = (await mklogs("churn", LOGS)).map((log) => log.name);
        await withGateway({}, async (gateway) => {
          for (let w = 0; w < WAVES; w++) {
            await wave(gateway, names, w);
            // Odd waves wait until every feed has lingered out and closed, so the next
            // reopens all 200 logs; even waves come back while feeds still linger.
            if (w % 2 === 1) await gateway.settle();
          }
          // Feeds closed and reopened in the hub; in libgdp one subscription per log
          // is kept (and reused) for good, since ending one is unsafe (docs/libgdp.md).
          const { counters } = await gateway.settle();
          assert.equal(counters.subscribedLogs, LOGS, "one kept subscription per log");
          assert.ok(
            counters.subscribes! <= LOGS + counters.resubscribes!,
            `no subscription leaked: ${counters.subscribes} subscribes`,
          );
        });
      }),
  });
});
