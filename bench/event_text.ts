/**
 * What storing each record's event text at append would cost and save,
 * measured rather than estimated (issue 23): run by hand,
 * `deno run --config bench/deno.json -A bench/event_text.ts [records]`.
 *
 * Two stores of the same records (100 bytes each, one log): the schema as it
 * is, and the same with a column holding the record's part of its DATA event
 * (`{"recno":…,"data":…,"ts":{…}}`) written at append. It times appends in
 * transactions of 8 with `synchronous=FULL` (the gateway's), then a replay of
 * every record in joined reads of 2,000 as the history path does: built by
 * SQLite from the row (`json_quote`, as event_sql.ts) and read from the column.
 * Prints one JSON line.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";

const N = Number(Deno.args[0] ?? 100_000);
const PER_COMMIT = 8;
const CHUNK = 2_000;
const PAYLOAD = new TextEncoder().encode("x".repeat(90) + '"quoted"');
const START = '{"logname":"bench.replay","ep_stat":[200,"OK"],"datum":';
const END = ',"type":1}';

function open(path: string, stored: boolean): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  db.exec(
    "CREATE TABLE records (log INTEGER NOT NULL, recno INTEGER NOT NULL, ts_sec INTEGER NOT NULL, " +
      "ts_nsec INTEGER NOT NULL, ts_accuracy REAL NOT NULL, data BLOB NOT NULL" +
      (stored ? ", e TEXT" : "") + ", PRIMARY KEY (log, recno)) WITHOUT ROWID",
  );
  return db;
}

/** Microseconds per append, `N` appends in transactions of PER_COMMIT. */
function appendAll(db: DatabaseSync, stored: boolean): number {
  const insert = stored
    ? db.prepare(
      "INSERT INTO records VALUES (1, ?1, ?2, ?3, 0, ?4, concat('{\"recno\":', ?1, " +
        '\',"data":\', json_quote(CAST(?4 AS TEXT)), \',"ts":{"tv_sec":\', ?2, ' +
        "',\"tv_nsec\":', ?3, ',\"tv_accuracy\":0.0}}'))",
    )
    : db.prepare("INSERT INTO records VALUES (1, ?, ?, ?, 0, ?)");
  const t0 = performance.now();
  for (let recno = 1; recno <= N;) {
    db.exec("BEGIN");
    for (let i = 0; i < PER_COMMIT && recno <= N; i++, recno++) {
      insert.run(recno, 1_765_000_000 + recno, recno * 1000, PAYLOAD);
    }
    db.exec("COMMIT");
  }
  return (performance.now() - t0) * 1000 / N;
}

/** Microseconds per record to read every event joined, in reads of CHUNK. */
function replay(db: DatabaseSync, sql: string): number {
  const read = db.prepare(sql);
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    let bytes = 0;
    for (let from = 1; from <= N; from += CHUNK) {
      const row = read.get(START, END, from, from + CHUNK - 1) as { events: Uint8Array };
      bytes += row.events.length;
    }
    if (bytes === 0) throw new Error("nothing read");
    times.push((performance.now() - t0) * 1000 / N);
  }
  return times.sort((a, b) => a - b)[2]!;
}

const built = "SELECT CAST(group_concat(concat(?1, '{\"recno\":', recno, ',\"data\":', " +
  'json_quote(CAST(data AS TEXT)), \',"ts":{"tv_sec":\', ts_sec, \',"tv_nsec":\', ts_nsec, ' +
  "',\"tv_accuracy\":0.0}}', ?2), ',') AS BLOB) AS events FROM " +
  "(SELECT * FROM records WHERE log = 1 AND recno BETWEEN ?3 AND ?4 ORDER BY recno)";
const read = "SELECT CAST(group_concat(concat(?1, e, ?2), ',') AS BLOB) AS events FROM " +
  "(SELECT e FROM records WHERE log = 1 AND recno BETWEEN ?3 AND ?4 ORDER BY recno)";

const dir = Deno.makeTempDirSync({ prefix: "gdp-ws-event-text-" });
try {
  const plain = open(join(dir, "plain.sqlite"), false);
  const stored = open(join(dir, "stored.sqlite"), true);
  const appendPlain = appendAll(plain, false);
  const appendStored = appendAll(stored, true);
  plain.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  stored.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const size = (name: string) => Deno.statSync(join(dir, name)).size;
  console.log(JSON.stringify({
    records: N,
    appendUs: { plain: +appendPlain.toFixed(2), stored: +appendStored.toFixed(2) },
    replayUsPerRecord: {
      builtBySqlite: +replay(plain, built).toFixed(3),
      storedText: +replay(stored, read).toFixed(3),
    },
    fileBytesPerRecord: {
      plain: Math.round(size("plain.sqlite") / N),
      stored: Math.round(size("stored.sqlite") / N),
    },
  }));
  plain.close();
  stored.close();
} finally {
  Deno.removeSync(dir, { recursive: true });
}
