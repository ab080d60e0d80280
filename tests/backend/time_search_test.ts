/**
 * Bisection over recnos for a point in time (src/backend/time_search.ts):
 * the first record at or after the time on a log whose timestamps never
 * decrease, a boundary on any other, in about log2(N) reads on a grid that
 * later searches share.
 */

import assert from "node:assert/strict";
import { bisect, bisectSync, seekOnGrid } from "../../src/backend/time_search.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** A small deterministic generator, so a failure can be replayed. */
function generator(seed: number): (n: number) => number {
  let state = seed;
  return (n) => (state = (state * 48_271) % 2_147_483_647) % n;
}

/** Is `s` a boundary for `t` in `stamps` (records 1..N)? */
function isBoundary(stamps: number[], t: number, s: number): boolean {
  const last = stamps.length;
  return s >= 1 && s <= last + 1 && (s === 1 || stamps[s - 2]! < t) &&
    (s === last + 1 || stamps[s - 1]! >= t);
}

Deno.test("on rising or level timestamps the grid finds the first record at or after the time", async () => {
  const next = generator(11);
  for (let trial = 0; trial < 500; trial++) {
    const stamps: number[] = [];
    for (let i = 0, t = next(5); i < next(300); i++) stamps.push(t += next(3)); // ties included
    const t = next((stamps.at(-1) ?? 0) + 5);
    const first = stamps.findIndex((s) => s >= t);
    const expected = first === -1 ? stamps.length + 1 : first + 1;
    let reads = 0;
    const found = await seekOnGrid(stamps.length, (recno) => (reads++, stamps[recno - 1]! < t));
    assert.equal(found, expected, `trial ${trial}: ${t} in [${stamps}]`);
    assert.ok(reads <= Math.ceil(Math.log2(stamps.length + 1)), `${reads} reads`);
  }
});

Deno.test("on timestamps that step back it ends on a boundary, and never reads past the end", async () => {
  const next = generator(5);
  for (let trial = 0; trial < 500; trial++) {
    const stamps = Array.from({ length: next(200) }, () => next(100));
    const t = next(110);
    const last = stamps.length;
    const found = await seekOnGrid(last, (recno) => {
      assert.ok(recno >= 1 && recno <= last, `read ${recno} of ${last}`);
      return stamps[recno - 1]! < t;
    });
    assert.ok(isBoundary(stamps, t, found), `trial ${trial}: ${found} for ${t} in [${stamps}]`);
    const lo = 1 + next(last + 1);
    const hi = lo + next(last + 2 - lo);
    // bisect and bisectSync keep any bracket's invariant: give them one that holds.
    if ((lo === 1 || stamps[lo - 2]! < t) && (hi === last + 1 || stamps[hi - 1]! >= t)) {
      const before = (recno: number) => recno <= last && stamps[recno - 1]! < t;
      const a = await bisect(lo, hi, before);
      assert.equal(bisectSync(lo, hi, before), a);
      assert.ok(isBoundary(stamps, t, a) && a >= lo && a <= hi);
    }
  }
});

Deno.test("the grid probes the same recnos whatever the log's length, so searches share reads", async () => {
  const probes = async (last: number, t: number) => {
    const read: number[] = [];
    await seekOnGrid(last, (recno) => (read.push(recno), recno < t));
    return read;
  };
  // A log of 1,000,000 records whose record n is stamped n: 20 reads.
  const million = await probes(1_000_000, 765_432);
  assert.equal(million.length, 20);
  assert.deepEqual(million.slice(0, 3), [524_288, 786_432, 655_360]);
  // The same time after 30,000 more records: the same recnos, none new.
  assert.deepEqual(await probes(1_030_000, 765_432), million);
  // A time 68 records later: the upper ten levels are shared.
  const later = await probes(1_000_000, 765_500);
  assert.deepEqual(later.slice(0, 10), million.slice(0, 10));
});
