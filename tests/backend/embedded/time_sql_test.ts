/**
 * Where a point in time falls in an embedded log (src/backend/embedded/time_sql.ts):
 * one seek in the timestamp index for the earliest-stamped record at or after
 * the time, checked against the record before it, bisection when a clock
 * stepped back right there; and the store's `LogHandle.seek` on top of it.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openEmbedded } from "../../../src/backend/embedded/store.ts";
import { prepareTimes, seekStored } from "../../../src/backend/embedded/time_sql.ts";
import { migrate } from "../../../src/backend/embedded/schema.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** A fresh schema in memory holding log 1 with records stamped `stamps` (seconds, nsec 7). */
function storeWith(stamps: number[]): DatabaseSync {
  const db = new DatabaseSync(":memory:");
  migrate(db, { version: 0, kind: "empty" }, () => {});
  db.exec("INSERT INTO logs (id, name, human, created_sec) VALUES (1, 'log', NULL, 0)");
  const insert = db.prepare(
    "INSERT INTO records (log, recno, ts_sec, ts_nsec, ts_accuracy, data) VALUES (1, ?, ?, 7, 0, x'')",
  );
  stamps.forEach((sec, i) => insert.run(i + 1, sec));
  return db;
}

const at = (sec: number, nsec = 0) => ({ sec, nsec, accuracy: 0 });

Deno.test("on rising timestamps it is the first record at or after the time, ties to the lowest recno", () => {
  const stamps = [10, 20, 20, 20, 30, 40, 40, 50];
  const db = storeWith(stamps);
  const sql = prepareTimes(db);
  const last = stamps.length;
  const cases: [number, number, number][] = [
    [0, 0, 1], // before the first: record 1
    [10, 7, 1], // exactly the first
    [10, 8, 2], // a nanosecond after it
    [20, 0, 2], // the first of three equal stamps
    [35, 0, 6],
    [40, 7, 6],
    [50, 7, 8], // exactly the last
    [50, 8, 9], // after the last: the next record appended
    [99_999, 0, 9],
  ];
  for (const [sec, nsec, expected] of cases) {
    assert.equal(seekStored(sql, 1, at(sec, nsec), last), expected, `${sec}.${nsec}`);
  }
  // The caller's end bounds the answer: records it has not seen yet count as the future.
  assert.equal(seekStored(sql, 1, at(45), 5), 6);
  assert.equal(seekStored(sql, 2, at(0), 0), 1, "an empty log");
  db.close();
});

Deno.test("after a clock stepped back it is a boundary: the earliest stamp at or after the time when its predecessor is before, else bisection below", () => {
  // The clock stepped back 35 s after record 4.
  const stamps = [10, 20, 30, 40, 5, 15, 25, 35];
  const db = storeWith(stamps);
  const sql = prepareTimes(db);
  // docs/protocol.md's example: 22 starts at record 7 (25, after 15); libgdp's bisection finds 3.
  assert.equal(seekStored(sql, 1, at(22), 8), 7);
  // 38: the earliest stamp at or after it is record 4 (40), after record 3 (30): a boundary.
  assert.equal(seekStored(sql, 1, at(38), 8), 4);
  // 12: the earliest is record 6 (15), after record 5 (5): a boundary, though record 2 is 20.
  assert.equal(seekStored(sql, 1, at(12), 8), 6);
  // 3: the earliest is record 5 (5), but record 4 (40) is after 3 too: bisection below it finds 1.
  assert.equal(seekStored(sql, 1, at(3), 8), 1);
  // Every answer, for every time, is a boundary.
  for (let t = 0; t <= 45; t++) {
    const s = seekStored(sql, 1, at(t), 8);
    const before = (recno: number) => stamps[recno - 1]! * 1e9 + 7 < t * 1e9;
    assert.ok(s === 1 || before(s - 1), `${t}: record ${s - 1} is before`);
    assert.ok(s === 9 || !before(s), `${t}: record ${s} is at or after`);
  }
  db.close();
});

Deno.test("the seek is one search of the timestamp index, never a scan", () => {
  const db = storeWith([]);
  const plan = db.prepare(
    "EXPLAIN QUERY PLAN SELECT recno FROM records INDEXED BY records_by_time " +
      "WHERE log = ?1 AND (ts_sec, ts_nsec) >= (?2, ?3) ORDER BY ts_sec, ts_nsec, recno LIMIT 1",
  ).all(1, 0, 0) as { detail: string }[];
  assert.deepEqual(plan.map((row) => row.detail), [
    "SEARCH records USING COVERING INDEX records_by_time (log=? AND (ts_sec,ts_nsec)>(?,?))",
  ]);
  // The statement the store prepares is that one.
  assert.match(
    (prepareTimes(db).first as unknown as { sourceSQL: string }).sourceSQL,
    /INDEXED BY records_by_time/,
  );
  db.close();
});

Deno.test("a store's log seeks its own records, not another log's", async () => {
  await withTempDir("gdp-ws-times-", async (dataDir) => {
    const store = openEmbedded({ dataDir });
    try {
      await store.create("a");
      await store.create("b");
      const a = await store.open("a");
      const b = await store.open("b");
      const stamps = [];
      for (let i = 0; i < 5; i++) {
        stamps.push((await a.append(new Uint8Array([i]))).ts);
        await b.append(new Uint8Array([i]));
      }
      assert.equal(await a.seek(stamps[2]!, 5), 3);
      assert.equal(await a.seek({ ...stamps[2]!, nsec: stamps[2]!.nsec + 1 }, 5), 4);
      assert.equal(await a.seek(at(0), 5), 1);
      assert.equal(await b.seek({ ...stamps[4]!, sec: stamps[4]!.sec + 60 }, 5), 6);
    } finally {
      await store.close();
    }
  });
});
