import assert from "node:assert/strict";
import { Renewal } from "../../../src/backend/libgdp/renewal.ts";

Deno.test("the backoff starts at initialMs, doubles, stops at maxMs and starts again after a success", () => {
  const renewal = new Renewal(100, 700);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => renewal.backoff()), [100, 200, 400, 700, 700]);
  renewal.succeeded();
  assert.equal(renewal.backoff(), 100);
});

Deno.test("one try pending at a time; a cancelled try never runs", async () => {
  // The renewal's timer does not keep the process alive (it is unref'd): this one does, meanwhile.
  const alive = setInterval(() => {}, 1000);
  const renewal = new Renewal(1, 10);
  const runs: string[] = [];
  let ran!: () => void;
  const done = new Promise<void>((resolve) => ran = resolve);
  renewal.schedule(() => {
    runs.push("first");
    ran();
  }, 0);
  renewal.schedule(() => runs.push("second"), 0);
  await done;
  assert.deepEqual(runs, ["first"]);
  renewal.schedule(() => runs.push("third"), 0);
  renewal.cancel();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(runs, ["first"]);
  clearInterval(alive);
});
