/**
 * Failover without loss in the fast suite (issue 22): the scenario of
 * tests/real_gdp/failover_test.ts (tests/helpers/failover.ts) with three
 * gateway processes on one embedded store on one machine, which the store
 * allows (each notices the others' appends within 50 ms). The C double
 * cannot stand in: it lives in each gateway process, so three processes
 * would hold three different logs. Without HAProxy the test says so and is
 * skipped, except under CI=true.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { failover, type Member } from "../helpers/failover.ts";
import type { ServeProcess } from "../helpers/process.ts";
import { proxySkipReason, throwawayCert } from "../helpers/proxies.ts";
import { serveShipped } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const SUBSCRIBERS = 100;
const skip = proxySkipReason("haproxy");
if (skip) console.log(`SKIPPED: ${skip}`);

function member(gateway: ServeProcess): Member {
  return {
    address: `127.0.0.1:${gateway.port}`,
    kill: async () => {
      gateway.child.kill("SIGKILL");
      await gateway.exited;
    },
    drain: async () => {
      const code = await gateway.stop();
      assert.equal(code, 0, "a drained gateway exits 0");
    },
  };
}

Deno.test({
  name: "HAProxy over three gateways on one embedded store: one killed, one drained; nothing lost",
  ignore: skip !== undefined,
  fn: () =>
    withTempDir("gdp-ws-failover-", async (dir) => {
      const data = join(dir, "data");
      await Deno.mkdir(data);
      const args = ["--drain-ms", "3000", "--trust-proxy", "127.0.0.1", "--open-appends"];
      const gateways: ServeProcess[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          gateways.push(await serveShipped({ data }, args, { setup: "ulimit -n 1024" }));
        }
        const created = await fetch(`http://127.0.0.1:${gateways[0]!.port}/logs/failover`, {
          method: "PUT",
        });
        await created.body?.cancel();
        assert.equal(created.status, 201);
        const report = await failover({
          dir: join(dir, "haproxy"),
          cert: await throwawayCert(dir),
          logname: "failover",
          members: [member(gateways[0]!), member(gateways[1]!), member(gateways[2]!)],
          subscribers: SUBSCRIBERS,
          rate: 20,
          killAtMs: 2000,
          drainAtMs: 5000,
          stopAtMs: 8000,
          count: async (fetchThrough) => {
            const response = await fetchThrough("/logs/failover");
            return (await response.json() as { count: number }).count;
          },
        });
        console.log(`failover (embedded, one store): ${JSON.stringify(report)}`);
        assert.equal(report.duplicates, 0, "no subscriber got a record twice");
        assert.equal(report.gaps, 0, "no subscriber missed a record");
        assert.equal(report.outOfOrder, 0, "every subscriber got them in order");
        assert.equal(report.ackMismatches, 0, "every acknowledged record, as acknowledged");
        assert.equal(report.received, report.expected * SUBSCRIBERS);
        assert.ok(report.acknowledged >= 100, `the producer went on: ${report.acknowledged}`);
        assert.ok(report.kill.clients > 0, "the kill dropped some subscribers");
        assert.ok(report.drain.clients > 0, "the drain moved some subscribers");
        assert.equal(await gateways[2]!.stop(), 0);
      } finally {
        for (const gateway of gateways) {
          try {
            gateway.child.kill("SIGKILL");
          } catch { /* gone */ }
          await gateway.exited;
        }
      }
    }),
});
