import assert from "node:assert/strict";
import {
  joinFrames,
  pooled,
  releaseJoined,
  SMALL_JOIN,
  WRITE_BATCH,
} from "../../../src/net/websocket/join_pool.ts";

Deno.test("joined frames come back in order, in a buffer of the size the join needs", () => {
  const joined = joinFrames([new Uint8Array([1]), new Uint8Array([2, 3])], 3);
  assert.deepEqual([...joined], [1, 2, 3]);
  assert.equal(joined.buffer.byteLength, SMALL_JOIN);
  const big = new Uint8Array(SMALL_JOIN).fill(7);
  const joinedBig = joinFrames([big, new Uint8Array([8])], SMALL_JOIN + 1);
  assert.equal(joinedBig.buffer.byteLength, WRITE_BATCH);
  assert.equal(joinedBig[SMALL_JOIN], 8);
  releaseJoined(joined);
  releaseJoined(joinedBig);
});

Deno.test("a released buffer is used again; a frame the pool did not make never enters it", () => {
  const first = joinFrames([new Uint8Array([1]), new Uint8Array([2])], 2);
  releaseJoined(first);
  const before = pooled();
  const again = joinFrames([new Uint8Array([3]), new Uint8Array([4])], 2);
  assert.equal(again.buffer, first.buffer);
  assert.equal(pooled().small, before.small - 1);
  releaseJoined(again);
  const outsider = new Uint8Array(SMALL_JOIN);
  releaseJoined(outsider);
  assert.equal(pooled().small, before.small);
});

Deno.test("many joins in flight at once: each its own buffer, and the pool keeps a bounded number", () => {
  const inFlight = Array.from(
    { length: 2000 },
    (_, i) => joinFrames([new Uint8Array([i & 255])], 1),
  );
  assert.equal(new Set(inFlight.map((b) => b.buffer)).size, 2000);
  inFlight.forEach((b, i) => assert.equal(b[0], i & 255));
  for (const b of inFlight) releaseJoined(b);
  assert.equal(pooled().small, 1024);
});
