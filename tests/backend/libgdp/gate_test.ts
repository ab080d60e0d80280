/** The call gate of the libgdp binding: a bound on blocking calls, in order. */

import assert from "node:assert/strict";
import { CallGate } from "../../../src/backend/libgdp/gate.ts";

Deno.test.sanitizer({ ops: true, resources: true });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

Deno.test("a gate runs at most its limit at once and the rest in arrival order", async () => {
  const gate = new CallGate(2);
  const started: number[] = [];
  const releases = Array.from({ length: 5 }, deferred);
  let peak = 0;
  const calls = releases.map((release, i) =>
    gate.run(async () => {
      started.push(i);
      peak = Math.max(peak, gate.running);
      await release.promise;
      return i;
    })
  );
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  assert.equal(gate.queued, 3);
  for (const release of releases) release.resolve();
  assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3, 4]);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.deepEqual([gate.running, gate.queued], [0, 0]);
});

Deno.test("a failing call hands its slot on", async () => {
  const gate = new CallGate(1);
  const failing = gate.run(() => Promise.reject(new Error("no route")));
  const next = gate.run(() => Promise.resolve("ok"));
  await assert.rejects(failing, /no route/);
  assert.equal(await next, "ok");
  assert.deepEqual([gate.running, gate.queued], [0, 0]);
});
