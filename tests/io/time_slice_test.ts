/**
 * The time-slice scheduler: waiters resume in the order they began to wait,
 * only as many as a slice has room for, and each one once. No timings are
 * asserted: the tests count wake-ups and look at order.
 */

import assert from "node:assert/strict";
import { nextSlice, SLICE_MS, sliceSpent, slicesSettled } from "../../src/io/time_slice.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** Holds the thread for `ms`, as a chunk of real work would. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* work */ }
}

Deno.test("1,000 waiters on a spent slice each resume once, in the order they began to wait, a slice's worth per turn", async () => {
  const WAITERS = 1_000;
  const order: number[] = [];
  let wakeUps = 0;
  sliceSpent(); // opens this turn's slice...
  busy(SLICE_MS); // ...and spends it before anyone waits
  const done = Array.from({ length: WAITERS }, async (_, i) => {
    while (sliceSpent()) {
      await nextSlice();
      wakeUps++;
    }
    busy(SLICE_MS / 10);
    order.push(i);
  });
  assert.equal(order.length, 0, "every waiter found the slice spent");
  const afterOneTurn = await new Promise<number>((resolve) =>
    setTimeout(() => setTimeout(() => resolve(order.length), 0), 0)
  );
  await Promise.all(done);
  await slicesSettled();
  assert.deepEqual(order, Array.from({ length: WAITERS }, (_, i) => i));
  assert.ok(afterOneTurn < WAITERS / 2, `${afterOneTurn} of ${WAITERS} ran in the first turns`);
  // Were every waiter woken to look again at each turn, they would wake ~50,000 times.
  assert.ok(wakeUps < WAITERS * 1.5, `${wakeUps} wake-ups for ${WAITERS} waiters`);
});

Deno.test("a waiter resumes even when each resumed one spends the whole slice", async () => {
  const ran: number[] = [];
  sliceSpent();
  busy(SLICE_MS);
  await Promise.all([0, 1, 2].map(async (i) => {
    while (sliceSpent()) await nextSlice();
    busy(SLICE_MS * 2);
    ran.push(i);
  }));
  await slicesSettled();
  assert.deepEqual(ran, [0, 1, 2]);
});

Deno.test("without network permission, yields to the event loop fall back to timers", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { closeTurns, nextTurn } from "${new URL(
        "../../src/io/next_turn.ts",
        import.meta.url,
      )}";
      for (let i = 0; i < 3; i++) await nextTurn();
      await closeTurns();
      console.log("yielded");`,
    );
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--config", config, script],
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.equal(code, 0);
    assert.equal(new TextDecoder().decode(stdout).trim(), "yielded");
  } finally {
    await Deno.remove(script);
  }
});
