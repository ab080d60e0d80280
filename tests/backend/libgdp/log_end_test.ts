/**
 * Where a log ends when counts cannot be trusted (issue 22, docs/libgdp.md
 * finding 15): the search by reads finds the last record from any hint, and
 * never names one that is not there.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { findEnd, readPast } from "../../../src/backend/libgdp/log_end.ts";
import type { LogRecord } from "../../../src/backend/backend.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** A log holding `recnos`, counting its reads. */
function reader(recnos: Iterable<number>) {
  const held = new Set(recnos);
  const reads: number[] = [];
  return {
    reads,
    readOne: (recno: number): Promise<LogRecord | null> => {
      reads.push(recno);
      const ts = { sec: 0, nsec: 0, accuracy: 0 };
      return Promise.resolve(held.has(recno) ? { recno, ts, data: new Uint8Array() } : null);
    },
  };
}

Deno.test("findEnd: the last record of a log without holes, from any hint, in few reads", async () => {
  await fc.assert(
    fc.asyncProperty(fc.nat(100_000), fc.nat(200_000), async (last, hint) => {
      const log = reader(Array.from({ length: last }, (_, i) => i + 1));
      assert.equal(await findEnd(log, hint), last);
      assert.ok(
        log.reads.length <= 2 * Math.log2(Math.max(last, hint) + 2) + 4,
        `${log.reads.length} reads`,
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("findEnd: with holes it names a record that is there, followed by one that is not", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 1, max: 500 }), { maxLength: 200 }),
      fc.nat(600),
      async (recnos, hint) => {
        const held = new Set(recnos);
        const end = await findEnd(reader(recnos), hint);
        assert.ok(end === 0 || held.has(end), `${end} is held`);
        assert.ok(!held.has(end + 1), `${end + 1} is not`);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("readPast: reads on from a count until a record is missing", async () => {
  const log = reader([1, 2, 3, 4, 5]);
  await readPast(log, 2);
  assert.deepEqual(log.reads, [3, 4, 5, 6]);
});
