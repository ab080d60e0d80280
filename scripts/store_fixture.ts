/**
 * Writes an embedded store as the first release (schema version 1) wrote it:
 * its SQL, `user_version` and `application_id` left at 0, WAL mode, and a
 * known set of records ({@linkcode FIXTURE_LOGS}): text, UTF-8 beyond ASCII,
 * bytes that are not UTF-8, an empty record, a tv_accuracy other than 0, a
 * log made by its internal name, and a log long enough to take several
 * history chunks. The upgrade tests run it into a temporary folder and read
 * every record back through the new code.
 *
 * ```sh
 * deno run --allow-read=DIR --allow-write=DIR scripts/store_fixture.ts DIR
 * ```
 *
 * @example
 * ```ts
 * const dir = Deno.makeTempDirSync();
 * writeV1Store(dir);
 * console.log(FIXTURE_LOGS.map((l) => l.records.length));
 * ```
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { V1_SQL } from "../src/backend/embedded/schema.ts";
import { internalName } from "../src/core/names.ts";
import type { LogRecord } from "../src/core/records.ts";

/** One log of the fixture: its names and every record it holds. */
export interface FixtureLog {
  /** The internal name (43 base64url characters). */
  name: string;
  /** The human name, when the log was created by one. */
  human?: string;
  records: LogRecord[];
}

const text = (s: string) => new TextEncoder().encode(s);

/** The records' timestamps start here (2026-05-28) and step by 1.25 s. */
const FIRST_SEC = 1_780_000_000;

function records(payloads: Uint8Array[], accuracy = (_: number) => 0): LogRecord[] {
  return payloads.map((data, i) => ({
    recno: i + 1,
    ts: {
      sec: FIRST_SEC + Math.floor(i * 1.25),
      nsec: ((i * 250_000_000) % 1_000_000_000) + 123,
      accuracy: accuracy(i),
    },
    data,
  }));
}

const human = (name: string, payloads: Uint8Array[], accuracy?: (i: number) => number) => ({
  name: internalName(name),
  human: name,
  records: records(payloads, accuracy),
});

/** Every log and record the fixture store holds. */
export const FIXTURE_LOGS: readonly FixtureLog[] = [
  human("edu.berkeley.demo.temp", ["21.5", "21.7", '{"t":22,"unit":"°C"}'].map(text)),
  human("fixture.mixed", [
    text("plain"),
    text('quotes " and \\ and\nnewline'),
    text("ünïcödé ✓ 😀"),
    new Uint8Array([0, 255, 1, 254, 0xc3]), // not UTF-8
    new Uint8Array(0),
    text("accuracy 0.5"),
  ], (i) => (i === 5 ? 0.5 : 0)),
  human(
    "fixture.long",
    Array.from({ length: 700 }, (_, i) => text(`record ${i + 1} ${"x".repeat(i % 50)}`)),
  ),
  { name: internalName("made.by.internal.name"), records: records([text("anonymous")]) },
  human("fixture.empty", []),
];

/**
 * Writes the fixture store into `dataDir` (created when missing) with the SQL
 * and settings of the first release. Throws when a store is already there.
 */
export function writeV1Store(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, "gdp-ws.sqlite");
  try {
    Deno.statSync(path);
    throw new Error(`${path} exists already`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const db = new DatabaseSync(path);
  try {
    // What the first release's constructor ran, in this order.
    db.exec("PRAGMA busy_timeout=10000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    db.exec(V1_SQL);
    const addLog = db.prepare("INSERT INTO logs (name, human, created_sec) VALUES (?, ?, ?)");
    const add = db.prepare(
      "INSERT INTO records (log, recno, ts_sec, ts_nsec, ts_accuracy, data) " +
        "VALUES (?, ?, ?, ?, ?, ?)",
    );
    db.exec("BEGIN IMMEDIATE");
    for (const log of FIXTURE_LOGS) {
      const { lastInsertRowid: id } = addLog.run(log.name, log.human ?? null, FIRST_SEC - 60);
      for (const r of log.records) {
        add.run(id, r.recno, r.ts.sec, r.ts.nsec, r.ts.accuracy, r.data);
      }
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  return path;
}

if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir || Deno.args.length > 1) {
    console.error(
      "Usage: deno run --allow-read=DIR --allow-write=DIR scripts/store_fixture.ts DIR",
    );
    Deno.exit(2);
  }
  console.log(writeV1Store(dir));
}
