/**
 * The whole protocol suite (tests/protocol_suite.ts) on the real GDP: each
 * test gets a gateway child process and fresh logs from `gdp-local mklog`;
 * records are appended through the gateway's append op (POST /logs/NAME).
 * At the end of each test the gateway's feeds must linger out with the
 * binding's counters balanced, and it must exit 0 without a libgdp assertion.
 */

import { protocolSuite, type ServingFixture } from "../protocol_suite.ts";
import { RealGateway } from "./gateway.ts";
import { lockStack, mklog, realGdpTests, skipReason, uniqueLogName } from "./stack.ts";

function realFixture(): Promise<ServingFixture> {
  let gateway: RealGateway | undefined;
  let unlock: (() => void) | undefined;
  return Promise.resolve({
    recordStat: '[200, "OK [200 = 0xc8]"]', // libgdp's own text for a record's status
    logName: (label) => uniqueLogName(label),
    createLog: async (name) => void await mklog(name),
    append: async (name, data) => void await gateway!.append(name, data),
    serve: async () => {
      unlock = await lockStack("shared");
      gateway = await RealGateway.start();
      const started = gateway;
      return {
        url: started.url,
        stats: () => started.readyz(),
        shutdown: async () => {
          await started.settle();
          await started.stop();
        },
      };
    },
    teardown: async () => {
      await gateway?.kill();
      unlock?.();
    },
  });
}

await realGdpTests(skipReason, () => protocolSuite("real GDP", realFixture, "process"));
