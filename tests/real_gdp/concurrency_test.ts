/**
 * Concurrency on the real GDP: 50 clients over 20 logs read history (four
 * request shapes each) while records are appended through the gateway. Every
 * subscription gets its recnos once, in order, whatever the interleaving of
 * history reads, live events and appends on one libgdp handle per log.
 */

import {
  appendToAll,
  closeAll,
  connectMany,
  eachLimited,
  type Expect,
  expectRecords,
  range,
} from "./clients.ts";
import { withGateway } from "./gateway.ts";
import { gdpWrite, mklogs, realGdpTests, skipReason, withStack } from "./stack.ts";
import { SANITIZED } from "../helpers/sanitize.ts";

const LOGS = 20;
const CLIENTS = 50;
/** Records written by gdp-writer before the clients come, then appended while they read. */
const STORED = 50;
const TOTAL = 100;

/** Four request shapes per client, over four different logs. */
function requests(c: number): { log: number; request: object; expect: Expect }[] {
  const log = (k: number) => (c * 4 + k) % LOGS;
  return [
    {
      log: log(0),
      request: { startrec: 1, numrec: 0 },
      expect: { recnos: range(1, TOTAL), done: false },
    },
    { log: log(1), request: { startrec: -20, numrec: 20 }, expect: { run: 20, done: true } },
    {
      log: log(2),
      request: { startrec: 1, numrec: TOTAL },
      expect: { recnos: range(1, TOTAL), done: true },
    },
    {
      log: log(3),
      request: { startrec: 25, numrec: 0 },
      expect: { recnos: range(25, TOTAL), done: false },
    },
  ];
}

realGdpTests(skipReason, () => {
  Deno.test({
    name: "real GDP: 50 clients over 20 logs read history while records are appended",
    ...SANITIZED,
    fn: () =>
      withStack("shared", async () => {
        const names = (await mklogs("conc", LOGS)).map((log) => log.name);
        const lines = range(1, STORED).map((n) => `record ${n}`);
        await Promise.all(names.map((name) => gdpWrite(name, lines)));
        await withGateway({}, async (gateway) => {
          const clients = await connectMany(gateway.url, CLIENTS);
          for (const [c, client] of clients.entries()) {
            for (const [k, { log, request }] of requests(c).entries()) {
              client.send({ logname: names[log], ...request, id: k });
            }
          }
          await appendToAll(gateway, names, STORED + 1, TOTAL);
          await eachLimited(clients, 10, async (client, c) => {
            const expected = new Map(requests(c).map(({ expect }, k) => [k, expect]));
            await expectRecords(client, expected, `client ${c}`);
          });
          await closeAll(clients);
        });
      }),
  });
});
