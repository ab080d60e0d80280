import assert from "node:assert/strict";
import { Pause } from "../../src/io/pause.ts";

Deno.test("a pause settles by itself, and a second one may follow", async () => {
  const pause = new Pause();
  await pause.for(5);
  await pause.for(5);
  pause.end(); // nothing in progress: nothing happens
});

Deno.test("ending a pause settles it at once and clears its timer (the sanitizer checks)", async () => {
  const pause = new Pause();
  let settled = false;
  const waited = pause.for(60_000).then(() => settled = true);
  pause.end();
  await waited;
  assert.ok(settled);
});
