/**
 * Two gateway processes on the same GDP (how the gateway scales past one
 * machine: stateless instances over the GDP): subscribers of one log on
 * both, records appended through either one's append op (HTTP on one, the
 * WebSocket op on the other); both deliver everything, once, in order. And
 * appends through both at the same moment: each displaces the other's
 * records, which are appended again; none fails (issue 22: a 404 did).
 */

import assert from "node:assert/strict";
import { TestClient } from "../helpers/client.ts";
import { closeAll, connectMany, eachLimited, expectRecords, range } from "./clients.ts";
import { type RealGateway, withGateways } from "./gateway.ts";
import { mklog, realGdpTests, skipReason, uniqueLogName, withStack } from "./stack.ts";
import { SANITIZED } from "../helpers/sanitize.ts";

const PER_GATEWAY = 20;
const RECORDS = 40;
/** Pairs of appends sent to both gateways at once. */
const PAIRS = 60;

/** Appends `text` with the WebSocket append op; resolves to the recno. */
async function appendOverWs(writer: TestClient, name: string, text: string): Promise<number> {
  writer.send({ append: name, data: text, id: text });
  const reply = await writer.next(10_000);
  assert.equal(reply.type, 5, `append answered SUCCESS: ${JSON.stringify(reply)}`);
  return reply.datum!.recno;
}

async function subscribeAll(gateway: RealGateway, name: string): Promise<TestClient[]> {
  const clients = await connectMany(gateway.url, PER_GATEWAY);
  for (const client of clients) client.send({ logname: name, startrec: 1, numrec: 0, id: 1 });
  await gateway.live(PER_GATEWAY);
  return clients;
}

realGdpTests(skipReason, () => {
  Deno.test({
    name: "real GDP: two gateways on one log both deliver records appended through either",
    ...SANITIZED,
    fn: () =>
      withStack("shared", async () => {
        const { name } = await mklog(uniqueLogName("two"));
        await withGateways(2, {}, async ([a, b]) => {
          const clients = [...await subscribeAll(a!, name), ...await subscribeAll(b!, name)];
          const writer = await TestClient.connect(b!.url);
          for (let n = 1; n <= RECORDS; n++) {
            const text = `record ${n}`;
            const recno = n % 2 === 1
              ? await a!.append(name, text)
              : await appendOverWs(writer, name, text);
            assert.equal(
              recno,
              n,
              `append ${n} through ${n % 2 === 1 ? "A (HTTP)" : "B (WebSocket)"}`,
            );
          }
          const expected = new Map([[1, { recnos: range(1, RECORDS), done: false }]]);
          await eachLimited(clients, 10, async (client, c) => {
            await expectRecords(client, expected, `${c < PER_GATEWAY ? "A" : "B"} client ${c}`);
          });
          await closeAll([...clients, writer]);
        });
      }),
  });
});

realGdpTests(skipReason, () => {
  Deno.test({
    name: "real GDP: appends through two gateways at once are all stored, each as acknowledged",
    ...SANITIZED,
    fn: () =>
      withStack("shared", async () => {
        const { name } = await mklog(uniqueLogName("race"));
        await withGateways(2, {}, async ([a, b]) => {
          const clients = [...await subscribeAll(a!, name), ...await subscribeAll(b!, name)];
          const acknowledged = new Map<number, string>();
          for (let n = 1; n <= PAIRS; n++) {
            // Both gateways number from their own cached count: one displaces the other.
            const texts = [`a${n}`, `b${n}`];
            const recnos = await Promise.all([
              a!.append(name, texts[0]!),
              b!.append(name, texts[1]!),
            ]);
            recnos.forEach((recno, i) => {
              assert.ok(!acknowledged.has(recno), `recno ${recno} acknowledged twice`);
              acknowledged.set(recno, texts[i]!);
            });
          }
          assert.deepEqual([...acknowledged.keys()].sort((x, y) => x - y), range(1, 2 * PAIRS));
          const stored = await a!.fetch(`logs/${encodeURIComponent(name)}/records?start=1`);
          const records = await stored.json() as { recno: number; data: string }[];
          assert.deepEqual(
            records.map((r) => [r.recno, r.data]),
            range(1, 2 * PAIRS).map((recno) => [recno, acknowledged.get(recno)]),
            "reads give each number the record acknowledged under it",
          );
          const retries = (await a!.readyz()).counters.appendRetries! +
            (await b!.readyz()).counters.appendRetries!;
          // A displaced record reaches subscribers too, under the number it lost (finding 15):
          // one that comes before the record stored there is what they get at that number.
          let twins = 0;
          await eachLimited(clients, 10, async (client, c) => {
            const events = await client.take(2 * PAIRS, 15_000);
            const recnos = events.map((e) => e.datum?.recno);
            assert.deepEqual(
              recnos,
              range(1, 2 * PAIRS),
              `client ${c}: every number once, in order`,
            );
            for (const e of events) if (e.datum?.data !== acknowledged.get(e.datum!.recno)) twins++;
          });
          console.log(
            `${retries} of ${2 * PAIRS} appends displaced and appended again; ` +
              `${twins} of ${2 * PAIRS * 2 * PER_GATEWAY} deliveries were a displaced twin`,
          );
          assert.ok(twins <= retries * 2 * PER_GATEWAY, "twins come only from displaced appends");
          await closeAll(clients);
        });
      }),
  });
});
