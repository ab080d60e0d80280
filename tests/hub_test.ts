import assert from "node:assert/strict";
import type { Backend, LogHandle, LogRecord } from "../src/backend/backend.ts";
import { Hub, resolveStart, type Subscription, type SubscriptionSink } from "../src/hub.ts";
import { PYTHON_STYLE } from "../src/protocol.ts";
import { range, waitFor } from "./helpers/client.ts";
import { appendRange, embeddedFixture } from "./helpers/gateway.ts";

Deno.test("resolveStart follows libgdp's subscribe_by_recno", () => {
  assert.equal(resolveStart(1, 20), 1);
  assert.equal(resolveStart(25, 20), 25);
  assert.equal(resolveStart(0, 20), 21);
  assert.equal(resolveStart(-10, 20), 11);
  assert.equal(resolveStart(-30, 20), 1);
  assert.equal(resolveStart(-1, 0), 1);
  assert.equal(resolveStart(0, 0), 1);
});

/** A backend whose history reads take a timer turn per chunk, as a networked store's do. */
function withSlowReads(backend: Backend): Backend {
  const slow = (handle: LogHandle): LogHandle => ({
    name: handle.name,
    last: () => handle.last(),
    follow: (from, onRecord, onError) => handle.follow(from, onRecord, onError),
    append: (data) => handle.append(data),
    close: () => handle.close(),
    async *read(from, count) {
      for await (const record of handle.read(from, count)) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        yield record;
      }
    },
  });
  return Object.assign(Object.create(backend) as Backend, {
    open: async (name: string) => slow(await backend.open(name)),
  });
}

class Collector implements SubscriptionSink {
  readonly style = PYTHON_STYLE;
  readonly recnos: number[] = [];
  done = false;
  send(text: string): void {
    const event = JSON.parse(text) as { type: number; datum?: LogRecord };
    if (event.type === 1) this.recnos.push(event.datum!.recno);
  }
  congested(): boolean {
    return false;
  }
  ended(_: Subscription): void {
    this.done = true;
  }
}

Deno.test("slow history reads still join live without gap or duplicate", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("race");
    await appendRange(fixture, "race", 1, 50);
    const hub = new Hub(withSlowReads(fixture.backend), {
      readChunk: 8,
      feedLingerMs: 0,
      recentRecords: 4,
    });
    const sinks = Array.from({ length: 20 }, () => new Collector());
    const appending = appendRange(fixture, "race", 51, 300);
    for (const sink of sinks) {
      hub.subscribe(
        { op: "subscribe", logname: "race", startrec: 1, numrec: 0, encoding: "text" },
        sink,
      );
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await appending;
    await waitFor(() => sinks.every((s) => s.recnos.length >= 300), "every record everywhere");
    for (const sink of sinks) assert.deepEqual(sink.recnos, range(1, 300));
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});
