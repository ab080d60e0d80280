/**
 * The embedded store's start-up costs at a given size, measured by hand:
 * `deno run --config bench/deno.json -A bench/store.ts 1000000 [more sizes]`.
 * For each size (records of 100 bytes in 10 logs) it writes a version-1 store
 * as the first release did, then times `PRAGMA quick_check` (warm, and cold
 * when the page cache can be dropped), the bounded start-up check, the
 * upgrade to version 2 (the timestamp index) and a "first record at or after
 * T" lookup through that index. Prints one JSON line per size.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { V1_SQL } from "../src/backend/embedded/schema.ts";
import { quickCheck, startCheck } from "../src/backend/embedded/integrity.ts";
import { openEmbedded } from "../src/backend/embedded/store.ts";

const LOGS = 10;
const PAYLOAD = new Uint8Array(100).fill(0x61);

/** Writes `n` records over {@linkcode LOGS} logs into a version-1 store at `path`. */
function writeV1(path: string, n: number): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;");
  db.exec(V1_SQL);
  const addLog = db.prepare("INSERT INTO logs (name, human, created_sec) VALUES (?, ?, 0)");
  for (let l = 1; l <= LOGS; l++) addLog.run(`log${l}`.padEnd(43, "x"), `bench.${l}`);
  const add = db.prepare(
    "INSERT INTO records (log, recno, ts_sec, ts_nsec, ts_accuracy, data) VALUES (?, ?, ?, ?, 0, ?)",
  );
  const start = 1_800_000_000;
  // Appends arrive interleaved over the logs, as a gateway's would.
  db.exec("BEGIN");
  for (let r = 1, written = 0; written < n; r++) {
    for (let l = 1; l <= LOGS && written < n; l++, written++) {
      add.run(l, r, start + Math.floor(r / 100), (r % 100) * 10_000_000, PAYLOAD);
    }
    if (r % 1000 === 0) db.exec("COMMIT; BEGIN");
  }
  db.exec("COMMIT");
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

/** Drops the kernel's page cache when allowed (root, not in every container). */
function dropCaches(): boolean {
  try {
    Deno.writeTextFileSync("/proc/sys/vm/drop_caches", "3");
    return true;
  } catch {
    return false;
  }
}

function time<T>(fn: () => T): [T, number] {
  const started = performance.now();
  const result = fn();
  return [result, Math.round(performance.now() - started)];
}

for (const arg of Deno.args) {
  const n = Number(arg);
  const dir = Deno.makeTempDirSync({ prefix: "gdp-ws-store-bench-" });
  try {
    const path = join(dir, "gdp-ws.sqlite");
    const [, writeMs] = time(() => writeV1(path, n));
    const bytes = Deno.statSync(path).size;
    const db = new DatabaseSync(path);
    const [, warmMs] = time(() => quickCheck(db));
    const [, warm2Ms] = time(() => quickCheck(db));
    const cold = dropCaches();
    const [, coldMs] = time(() => quickCheck(db));
    const [bounded] = time(() => startCheck(db, { bytes, fullCheckBytes: 0, budgetMs: 1000 }));
    db.close();
    // The upgrade as the gateway runs it (openEmbedded: checks skipped, migration timed).
    if (cold) dropCaches();
    const [store, openMs] = time(() => openEmbedded({ dataDir: dir, check: false }));
    await store.close();
    const after = new DatabaseSync(path);
    const seek = after.prepare(
      "SELECT recno FROM records WHERE log = ? AND (ts_sec, ts_nsec) >= (?, ?) " +
        "ORDER BY ts_sec, ts_nsec LIMIT 1",
    );
    const plan = (after.prepare(
      "EXPLAIN QUERY PLAN SELECT recno FROM records WHERE log = ? AND (ts_sec, ts_nsec) >= (?, ?) " +
        "ORDER BY ts_sec, ts_nsec LIMIT 1",
    ).all(3, 1_800_000_500, 0) as { detail: string }[]).map((r) => r.detail).join("; ");
    const middle = 1_800_000_000 + Math.floor(n / LOGS / 200);
    const lookups = 1000;
    const [, lookupMs] = time(() => {
      for (let i = 0; i < lookups; i++) seek.get(1 + (i % LOGS), middle, (i % 100) * 1e7);
    });
    const indexedBytes = Deno.statSync(path).size;
    after.close();
    console.log(JSON.stringify({
      records: n,
      mb: +(bytes / 2 ** 20).toFixed(1),
      writeMs,
      quickCheckWarmMs: [warmMs, warm2Ms],
      quickCheckColdMs: cold ? coldMs : "page cache not droppable here",
      boundedCheck: { ms: bounded.ms, logs: bounded.logs, problems: bounded.problems.length },
      upgradeOpenMs: openMs,
      mbAfterIndex: +(indexedBytes / 2 ** 20).toFixed(1),
      lookupUs: +(lookupMs * 1000 / lookups).toFixed(1),
      plan,
    }));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
