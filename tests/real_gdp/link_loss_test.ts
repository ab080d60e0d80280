/**
 * Link loss with the real router and log server: 100 clients subscribed to
 * one log through one gateway while the stack's router is restarted, or
 * gdplogd is stopped and started (it forgets every subscription). Records are
 * appended through a second gateway (the only writer, so libgdp's client-side
 * recnos stay right). Every client must see every recno once, in order, after
 * a delay; the delay until the first record after the fault is measured and
 * printed (no timing assertion).
 *
 * These tests take the whole stack (an exclusive lock against the other
 * real-GDP tests) and run only with GDP_LOCAL_FAULTS=1.
 */

import assert from "node:assert/strict";
import type { TestClient, WireEvent } from "../helpers/client.ts";
import { closeAll, connectMany, eachLimited } from "./clients.ts";
import { type RealGateway, withGateways } from "./gateway.ts";
import { faults, faultSkipReason, mklog, realGdpTests, uniqueLogName, withStack } from "./stack.ts";
import { SANITIZED } from "../helpers/sanitize.ts";

const CLIENTS = 100;
/** libgdp re-subscribes by itself ~89 s after a gdplogd restart; the gateway may take as long. */
const RECOVERY_MS = 150_000;

/** Appends `record N` through `writer`, retrying while the GDP is unreachable. */
async function appendRetrying(writer: RealGateway, name: string, n: number): Promise<number> {
  const deadline = Date.now() + RECOVERY_MS;
  for (;;) {
    try {
      const recno = await writer.append(name, `record ${n}`);
      assert.equal(recno, n, `the writer's append ${n} got recno ${recno}`);
      return Date.now();
    } catch (error) {
      if (error instanceof assert.AssertionError || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** What one client got while waiting for recnos `from`..`to`. */
interface Seen {
  recnos: number[];
  warnings: WireEvent[];
}

/** Takes events until recno `to` arrives; 503 warnings are allowed, other errors are not. */
async function takeThrough(client: TestClient, to: number, frameTimeoutMs: number): Promise<Seen> {
  const seen: Seen = { recnos: [], warnings: [] };
  while ((seen.recnos.at(-1) ?? 0) < to) {
    const event = await client.next(frameTimeoutMs);
    if (event.type === 1) seen.recnos.push(event.datum!.recno);
    else if (event.type === 6 && event.ep_stat[0] === 503) seen.warnings.push(event);
    else assert.fail(`unexpected event ${JSON.stringify(event)}`);
  }
  return seen;
}

async function expectAll(clients: TestClient[], from: number, to: number, timeoutMs: number) {
  let warnings = 0;
  await eachLimited(clients, 20, async (client, c) => {
    const seen = await takeThrough(client, to, timeoutMs);
    const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
    assert.deepEqual(seen.recnos, want, `client ${c}: every recno once, in order`);
    warnings += seen.warnings.length;
  });
  return warnings;
}

function linkLossTest(fault: string, inject: () => Promise<unknown>): void {
  Deno.test({
    name: `real GDP: 100 clients see every recno once, in order, across ${fault}`,
    ...SANITIZED,
    fn: () =>
      withStack("exclusive", async () => {
        const { name } = await mklog(uniqueLogName("loss"));
        await withGateways(
          2,
          { deadlineMs: 2 * RECOVERY_MS + 60_000 },
          async ([reader, writer]) => {
            for (let n = 1; n <= 10; n++) await writer!.append(name, `record ${n}`);
            const clients = await connectMany(reader!.url, CLIENTS);
            for (const client of clients) client.send({ logname: name, startrec: 1, numrec: 0 });
            await reader!.live(CLIENTS);
            for (let n = 11; n <= 20; n++) await writer!.append(name, `record ${n}`);
            await expectAll(clients, 1, 20, 15_000);

            await inject();
            const injected = Date.now();
            await appendRetrying(writer!, name, 21);
            const appended = Date.now();
            const warnings = await expectAll(clients, 21, 21, RECOVERY_MS);
            console.log(
              `${fault}: first append after it succeeded in ${appended - injected} ms; ` +
                `all ${CLIENTS} clients had it after ${Date.now() - injected} ms; ` +
                `503 warnings: ${warnings}`,
            );
            for (let n = 22; n <= 40; n++) await appendRetrying(writer!, name, n);
            await expectAll(clients, 22, 40, 30_000);
            assert.ok(clients.every((client) => client.pending === 0), "nothing after 40");
            await closeAll(clients);
          },
        );
      }),
  });
}

realGdpTests(faultSkipReason, () => {
  linkLossTest("a router restart", faults.restartRouter);
  linkLossTest("a gdplogd stop and start", async () => {
    await faults.stopLogd();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await faults.startLogd();
  });
});
