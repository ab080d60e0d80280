/**
 * Finding a time in a GDP log through libgdp (src/backend/libgdp/time_seek.ts),
 * which has no read by time: bisection over `gdp_gin_read_by_recno` on the
 * libgdp double, with records stamped as given, rising and stepped back; the
 * reads it takes, the cache that spares them, and a subscription from a time
 * on a log whose clock stepped back.
 */

import assert from "node:assert/strict";
import type { Timestamp } from "../../../src/backend/backend.ts";
import { openLibgdpBackend } from "../../../src/backend/libgdp/backend.ts";
import { TimeSeeker } from "../../../src/backend/libgdp/time_seek.ts";
import { recnos, TestClient } from "../../helpers/client.ts";
import {
  assertNoLeaks,
  libgdpDouble,
  uniqueLog,
  withLibgdpGateway,
} from "../../helpers/libgdp_double.ts";
import { sanitizedWithLibgdpLoaded } from "../../helpers/sanitize.ts";
import { libgdpTest } from "../../helpers/shipped.ts";

// Sanitizers on; the libgdp loaded before the first test is their one exemption (see sanitize.ts).
await sanitizedWithLibgdpLoaded();
Deno.test.sanitizer({ ops: true, resources: true });

const dbl = await libgdpDouble();
const at = (sec: number, nsec = 0): Timestamp => ({ sec, nsec, accuracy: 0 });

/** A fresh log on the double whose records are stamped `stamps` (seconds). */
function stampedLog(stamps: number[]): string {
  const name = uniqueLog("times");
  dbl.createLog(name);
  for (const sec of stamps) dbl.appendAt(name, `at ${sec}`, at(sec));
  return name;
}

/** Runs `fn` with a fresh backend and a fresh log stamped `stamps`; what the searches read. */
async function withSeek(
  stamps: number[],
  fn: (seek: (ts: Timestamp, last: number) => Promise<number>) => Promise<void>,
): Promise<{ reads: number; seekReads: number; seekCacheHits: number }> {
  dbl.dropLogs();
  dbl.reset();
  const name = stampedLog(stamps);
  const backend = await openLibgdpBackend({ path: dbl.path });
  try {
    await fn(async (ts, last) => {
      const handle = await backend.open(name);
      try {
        return await handle.seek(ts, last);
      } finally {
        await handle.close();
      }
    });
    const { seekReads, seekCacheHits } = backend.counters();
    return { reads: dbl.counters().reads, seekReads, seekCacheHits };
  } finally {
    await backend.close();
    assertNoLeaks(dbl);
  }
}

Deno.test("on rising stamps it is the first record at or after the time, in log2(N) reads", async () => {
  const stamps = Array.from({ length: 1000 }, (_, i) => 1_000 + 2 * i); // record n at 998 + 2n
  const counts = await withSeek(stamps, async (seek) => {
    assert.equal(await seek(at(0), 1000), 1);
    assert.equal(await seek(at(1_000), 1000), 1);
    assert.equal(await seek(at(1_000, 1), 1000), 2);
    assert.equal(await seek(at(1_777), 1000), 390); // between records 389 and 390
    assert.equal(await seek(at(2_998), 1000), 1000);
    assert.equal(await seek(at(2_999), 1000), 1001); // after the last: the next appended
  });
  assert.ok(counts.reads <= 6 * 10, `${counts.reads} reads for six searches of 1,000 records`);
  assert.equal(counts.reads, counts.seekReads, "every read was the search's");
});

Deno.test("after a clock stepped back it ends on the boundary the grid's bisection reaches", async () => {
  // The clock stepped back 35 s after record 4: two rising runs.
  await withSeek([10, 20, 30, 40, 5, 15, 25, 35], async (seek) => {
    // 22: boundaries at 3 (20 | 30) and 7 (15 | 25). The grid reads 8 (35), 4 (40), 2 (20), 3 (30): 3.
    assert.equal(await seek(at(22), 8), 3);
    // 38: boundaries at 4 (30 | 40) and at the end (35 |). The grid reads 8 (35), then nothing
    // past the end: 9, the next record appended, though record 4 is stamped 40.
    assert.equal(await seek(at(38), 8), 9);
    // 12: boundaries at 2 (10 | 20) and 6 (5 | 15). Reads 8, 4, 2, 1: 2.
    assert.equal(await seek(at(12), 8), 2);
    // 3: record 1 is after it already.
    assert.equal(await seek(at(3), 8), 1);
  });
});

libgdpTest(
  "a subscription from a time on a log whose clock stepped back starts at that boundary",
  dbl.path,
  async () => {
    await withLibgdpGateway({}, async ({ gdp, gateway }) => {
      const name = uniqueLog("stepped");
      gdp.createLog(name);
      for (const sec of [10, 20, 30, 40, 5, 15, 25, 35]) gdp.appendAt(name, `at ${sec}`, at(sec));
      const client = await TestClient.connect(gateway.url);
      try {
        client.send({ logname: name, startts: "1970-01-01T00:00:22Z", numrec: 3 });
        assert.deepEqual(recnos(await client.take(4)), [3, 4, 5], "from 3: 30, 40, then 5");
        client.send({ logname: name, startts: { tv_sec: 38, tv_nsec: 0 }, numrec: 1 });
        assert.ok(await client.silentFor(100), "record 4 (40) lies before the boundary found");
        gdp.append(name, "now");
        const [record, done] = await client.take(2);
        assert.equal(record!.datum!.recno, 9);
        assert.equal(done!.type, 2);
      } finally {
        await client.close();
      }
    });
  },
);

Deno.test("the stamps read are cached: a second search of the same time reads nothing", async () => {
  const stamps = Array.from({ length: 1000 }, (_, i) => 1_000 + i);
  let first = 0;
  const counts = await withSeek(stamps, async (seek) => {
    assert.equal(await seek(at(1_500), 1000), 501);
    first = dbl.counters().reads;
    assert.ok(first > 0 && first <= 10, `${first} reads`);
    assert.equal(await seek(at(1_500), 1000), 501);
    // Many subscribers at once share the reads in flight too.
    const many = await Promise.all(Array.from({ length: 20 }, () => seek(at(1_600), 1000)));
    assert.deepEqual(new Set(many), new Set([601]));
  });
  assert.ok(counts.reads - first <= 10, `${counts.reads - first} reads for 21 more searches`);
  assert.ok(counts.seekCacheHits >= first + 20 * 9, `${counts.seekCacheHits} cache hits`);
});

Deno.test("the cache is bounded, and forgets a record that was not there", async () => {
  const seeker = new TimeSeeker(4);
  const reads: number[] = [];
  let stored = 6;
  const log = {
    name: "demo",
    readOne: (recno: number) => {
      reads.push(recno);
      return Promise.resolve(
        recno <= stored ? { recno, ts: at(recno * 10), data: new Uint8Array() } : null,
      );
    },
  };
  assert.equal(await seeker.seek(log, at(45), 8), 5); // reads 8 (not there), 4, 6, 5
  assert.deepEqual(reads, [8, 4, 6, 5]);
  assert.ok(seeker.size <= 4);
  stored = 8;
  reads.length = 0;
  assert.equal(await seeker.seek(log, at(75), 8), 8); // 8 is read again: it was not there before
  assert.deepEqual(reads, [8, 7]);
  assert.ok(seeker.size <= 4);
  // A failed read is not kept either.
  const failing = { name: "broken", readOne: () => Promise.reject(new Error("link down")) };
  await assert.rejects(seeker.seek(failing, at(1), 4), /link down/);
  assert.ok(seeker.size <= 4);
});
