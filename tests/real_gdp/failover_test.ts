/**
 * Failover without loss on the real GDP (issue 22): HAProxy from
 * deploy/haproxy.cfg in front of three libgdp gateways on the real stack,
 * health-checking `/readyz`; 200 subscribers through the client library and a
 * producer appending through the balancer; one gateway SIGKILLed mid-stream,
 * another SIGTERMed with `--drain-ms`. Every subscriber ends with every record
 * once and in order; the recovery times are printed (docs/deploy.md, "Scaling
 * out", quotes them). The scenario is tests/helpers/failover.ts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { failover, type Member } from "../helpers/failover.ts";
import { proxySkipReason, throwawayCert } from "../helpers/proxies.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { RealGateway } from "./gateway.ts";
import { mklog, realGdpTests, skipReason, uniqueLogName, withStack } from "./stack.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** `--drain-ms`: HAProxy's two failed checks a second apart fit well within it. */
const DRAIN_MS = 3000;

function member(gateway: RealGateway): Member {
  return {
    address: new URL(gateway.http).host,
    kill: () => gateway.kill(),
    drain: () => gateway.stop(),
  };
}

realGdpTests(skipReason ?? proxySkipReason("haproxy"), () => {
  Deno.test("real GDP: HAProxy over three gateways; one killed, one drained; nothing lost", () =>
    withStack("shared", () =>
      withTempDir("gdp-ws-failover-", async (dir) => {
        const { name } = await mklog(uniqueLogName("failover"));
        const args = ["--drain-ms", `${DRAIN_MS}`, "--trust-proxy", "127.0.0.1", "--open-appends"];
        const gateways = await Promise.all(
          [0, 1, 2].map(() => RealGateway.start({ args })),
        );
        try {
          const report = await failover({
            dir: join(dir, "haproxy"),
            cert: await throwawayCert(dir),
            logname: name,
            members: [member(gateways[0]!), member(gateways[1]!), member(gateways[2]!)],
            subscribers: 200,
            rate: 20,
            killAtMs: 3000,
            drainAtMs: 9000,
            stopAtMs: 15000,
            count: async (fetchThrough) => {
              const response = await fetchThrough(`/logs/${encodeURIComponent(name)}`);
              return (await response.json() as { count: number }).count;
            },
          });
          console.log(`failover (real GDP): ${JSON.stringify(report)}`);
          assert.equal(report.duplicates, 0, "no subscriber got a record twice");
          assert.equal(report.gaps, 0, "no subscriber missed a record");
          assert.equal(report.outOfOrder, 0, "every subscriber got them in order");
          assert.equal(report.ackMismatches, 0, "every acknowledged record, as acknowledged");
          assert.equal(report.received, report.expected * 200);
          assert.ok(report.acknowledged >= 200, `the producer went on: ${report.acknowledged}`);
          assert.ok(report.kill.clients > 0, "the kill dropped some subscribers");
          assert.ok(report.drain.clients > 0, "the drain moved some subscribers");
          await gateways[2]!.settle();
          await gateways[2]!.stop();
        } finally {
          await Promise.all(gateways.map((gateway) => gateway.kill()));
        }
      })));
});
