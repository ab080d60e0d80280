/**
 * Opening the store's file: made when missing (whole or not at all), refused
 * when it is not a gdp-ws store, newer than this code or damaged, checked at
 * start (bounded on large stores), upgraded in place when older; and
 * `gdp-ws check`, which reads every page.
 *
 * @example
 * ```ts
 * const dir = Deno.makeTempDirSync();
 * const db = openStore(`${dir}/gdp-ws.sqlite`, true, 256 * 2 ** 20);
 * db.close();
 * console.log(checkEmbedded(dir)); // []
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { DatabaseSync } from "node:sqlite";
import { existsSync, linkSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { BOUNDED_CHECK_MS } from "../../config.ts";
import { identify, migrate, type Migration, SCHEMA_VERSION, type StoreIdentity } from "./schema.ts";
import { checkStoreFile, isCorruption, quickCheck, startCheck, StoreRefused } from "./integrity.ts";

const log = getLogger(["gdp-ws", "embedded"]);

/** The database file inside the data folder. */
export const DB_FILE = "gdp-ws.sqlite";

/**
 * The store at `path` as a connection ready to serve: made when missing,
 * refused when it is not a gdp-ws store, newer than this code, or damaged,
 * upgraded in place when older.
 */
export function openStore(path: string, check: boolean, fullCheckBytes: number): DatabaseSync {
  if (checkStoreFile(path) === "missing") createStore(path);
  const db = new DatabaseSync(path);
  try {
    // Waiting for a lock while opening is fine: nothing is served yet.
    db.exec("PRAGMA busy_timeout=10000");
    const found = ours(path, identify(db));
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    if (check) checkAtStart(db, path, fullCheckBytes);
    const mb = mib(statSync(path).size);
    migrate(db, found, (step) => reportStep(step, mb));
    // From here on SQLite must never wait inside the event loop: a lock held by
    // another process (the CLI) fails at once and the append retries on a timer.
    db.exec("PRAGMA busy_timeout=0");
    return db;
  } catch (error) {
    db.close();
    throw isCorruption(error) ? damaged(path, [(error as Error).message]) : error;
  }
}

/** `found` when it is a gdp-ws store this code can read; else a {@linkcode StoreRefused}. */
function ours(path: string, found: StoreIdentity): StoreIdentity & { kind: "store" } {
  if (found.kind !== "store") {
    const why = found.kind === "empty" ? "it has no tables" : found.why;
    throw new StoreRefused(
      `${path} is an SQLite database but not a gdp-ws store (${why}): ` +
        "point --data at another folder, or move the file away to start an empty store",
    );
  }
  if (found.version > SCHEMA_VERSION) {
    throw new StoreRefused(
      `the store ${path} has schema version ${found.version}, newer than this gdp-ws, which ` +
        `knows versions up to ${SCHEMA_VERSION}: run the newer gdp-ws that wrote it, ` +
        "or restore the backup taken before it did",
    );
  }
  return found;
}

/**
 * Makes a new store: written under a temporary name and linked into place
 * once its schema is complete, so a store file that exists always has one.
 * When another process made one meanwhile, theirs stays.
 */
function createStore(path: string): void {
  const temp = `${path}.new-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const db = new DatabaseSync(temp);
    try {
      migrate(db, { kind: "empty", version: 0 }, () => {});
    } finally {
      db.close();
    }
    if (!putInPlace(temp, path)) return;
    log.info("Created a new store at {path} (schema version {version})", {
      path,
      version: SCHEMA_VERSION,
    });
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Links `temp` to `path` unless `path` exists; false when another process's store is there. */
function putInPlace(temp: string, path: string): boolean {
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST" || existsSync(path)) return false;
    // A filesystem without hard links: a rename, which could replace another
    // process's new store only if two first starts race.
    renameSync(temp, path);
    return true;
  }
}

function damaged(path: string, problems: string[]): StoreRefused {
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  return new StoreRefused(
    `the store ${path} is damaged: ${problems[0]}${more}; restore it from a backup, or see ` +
      '"When the store is damaged" in docs/embedded.md',
  );
}

/** The start-up integrity check, bounded on large stores; logs what it read. */
function checkAtStart(db: DatabaseSync, path: string, fullCheckBytes: number): void {
  const bytes = statSync(path).size;
  const result = startCheck(db, { bytes, fullCheckBytes, budgetMs: BOUNDED_CHECK_MS });
  if (result.problems.length > 0) throw damaged(path, result.problems);
  if (result.kind === "full") {
    // Debug: a whole store is the usual case; a partial check and damage are what to see.
    log.debug("Store checked: quick_check of {mb} MB in {ms} ms", {
      mb: mib(bytes),
      ms: result.ms,
    });
  } else {
    log.info(
      "Store checked in part ({mb} MB is above the {limit} MB of a full check at start): the " +
        "logs table and the last records of {checked} of {logs} logs in {ms} ms; " +
        "gdp-ws check reads every page",
      {
        mb: mib(bytes),
        limit: mib(fullCheckBytes),
        checked: result.logsChecked,
        logs: result.logs,
        ms: result.ms,
      },
    );
  }
}

/** Bytes as MiB with one decimal. */
const mib = (bytes: number) => Math.round(bytes / 2 ** 20 * 10) / 10;

function reportStep(
  { step, from, ms }: { step: Migration; from: number; ms?: number },
  mb: number,
): void {
  if (ms === undefined) {
    log.info(
      "Upgrading the store ({mb} MB) from version {from} to {to}: {what}; this reads every " +
        "record, and nothing is served until it is done",
      { mb, from, to: step.to, what: step.what },
    );
  } else {
    log.info("Upgraded the store from version {from} to {to} in {ms} ms", {
      from,
      to: step.to,
      ms,
    });
  }
}

/**
 * `PRAGMA integrity_check` of the store in `dataDir`, every page and index
 * entry (what `gdp-ws check` runs; it may run beside a serving gateway).
 * The problems found, none when it is whole.
 */
export function checkEmbedded(dataDir: string): string[] {
  const path = join(dataDir, DB_FILE);
  if (checkStoreFile(path) === "missing") throw new StoreRefused(`there is no store at ${path}`);
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout=10000; PRAGMA query_only=1");
    ours(path, identify(db));
    return quickCheck(db, "", "integrity_check");
  } catch (error) {
    if (isCorruption(error)) return [(error as Error).message];
    throw error;
  } finally {
    db.close();
  }
}
