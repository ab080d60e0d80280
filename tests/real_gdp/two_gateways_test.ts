/**
 * Two gateway processes on the same GDP (how the gateway scales past one
 * machine: stateless instances over the GDP): subscribers of one log on
 * both, records appended through either one's append op (HTTP on one, the
 * WebSocket op on the other); both deliver everything, once, in order.
 */

import assert from "node:assert/strict";
import { TestClient } from "../helpers/client.ts";
import { closeAll, connectMany, eachLimited, expectRecords, range } from "./clients.ts";
import { type RealGateway, withGateways } from "./gateway.ts";
import { mklog, realGdpTests, skipReason, uniqueLogName, withStack } from "./stack.ts";
import { SANITIZED } from "../helpers/sanitize.ts";

const PER_GATEWAY = 20;
const RECORDS = 40;

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
