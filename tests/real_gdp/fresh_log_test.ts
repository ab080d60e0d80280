/**
 * Fresh logs on the real GDP: a log created and written by GDP's own tools
 * (`gdp-local mklog`, `gdp-writer`) a moment before the subscribe is served
 * at once, even when the gateway was asked for that name before it existed.
 */

import assert from "node:assert/strict";
import { TestClient } from "../helpers/client.ts";
import { expectRecords, range } from "./clients.ts";
import { withGateway } from "./gateway.ts";
import {
  gdpRead,
  gdpWrite,
  mklog,
  realGdpTests,
  skipReason,
  uniqueLogName,
  withStack,
} from "./stack.ts";
import { SANITIZED } from "../helpers/sanitize.ts";

realGdpTests(skipReason, () => {
  Deno.test({
    name: "real GDP: a log made and written by GDP's tools just before the subscribe is served",
    ...SANITIZED,
    fn: () =>
      withStack("shared", () =>
        withGateway({}, async (gateway) => {
          const client = await TestClient.connect(gateway.url);
          for (let i = 0; i < 3; i++) {
            const { name } = await mklog(uniqueLogName("fresh"));
            await gdpWrite(name, ["one", "two", "three"]);
            client.send({ logname: name, startrec: 1, numrec: 3, id: i });
            const events = await client.take(4, 10_000);
            assert.deepEqual(events.map((e) => e.datum?.data), ["one", "two", "three", undefined]);
            assert.equal(events[3]!.type, 2, "DONE");
          }
          await client.close();
        })),
  });

  Deno.test({
    name: "real GDP: a name asked for before its log existed is served once it does",
    ...SANITIZED,
    fn: () =>
      withStack("shared", () =>
        withGateway({}, async (gateway) => {
          const name = uniqueLogName("later");
          const client = await TestClient.connect(gateway.url);
          client.send({ logname: name, startrec: 1, numrec: 1 });
          const missing = await client.next(10_000);
          assert.equal(missing.type, 6);
          assert.equal(missing.ep_stat[0], 600, "no such log yet");
          await mklog(name);
          client.send({ logname: name, startrec: 0, numrec: 0, id: "live" });
          await gateway.live(1);
          await gdpWrite(name, ["a", "b"]);
          await expectRecords(
            client,
            new Map([["live", { recnos: range(1, 2), done: false }]]),
            "live on a fresh log",
          );
          assert.match(await gdpRead(name, 1, 2), /a[\s\S]*b/, "gdp-reader agrees");
          await client.close();
        })),
  });
});
