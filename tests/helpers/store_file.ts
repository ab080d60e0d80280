/**
 * What the store tests do to a `gdp-ws.sqlite` from outside: make the
 * first release's store with scripts/store_fixture.ts in its own process,
 * find a table's pages, overwrite a page as a failing disk would.
 */

import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const FIXTURE_SCRIPT = fileURLToPath(new URL("../../scripts/store_fixture.ts", import.meta.url));

/** The store file in `dataDir`. */
export const storePath = (dataDir: string) => join(dataDir, "gdp-ws.sqlite");

/**
 * Runs scripts/store_fixture.ts into `dataDir`, with grants for that folder
 * only, as a release's store would be found on disk.
 */
export async function writeFixture(dataDir: string): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${dataDir}`,
      `--allow-write=${dataDir}`,
      FIXTURE_SCRIPT,
      dataDir,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`store_fixture.ts failed: ${new TextDecoder().decode(stderr)}`);
}

/** Runs `fn` on its own connection to the store in `dataDir`. */
export function withDb<T>(dataDir: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(storePath(dataDir));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The leaf pages of `table`'s b-tree in key order (SQLite's dbstat). */
export function leafPages(dataDir: string, table: string): number[] {
  return withDb(dataDir, (db) =>
    (db.prepare(
      "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path",
    ).all(table) as { pageno: number }[]).map((row) => row.pageno));
}

/** Overwrites the first 128 bytes of page `pageno` (from 1) with 0x5a, as a bad sector would. */
export function damagePage(dataDir: string, pageno: number, pageSize = 4096): void {
  const file = Deno.openSync(storePath(dataDir), { write: true });
  try {
    file.seekSync((pageno - 1) * pageSize, Deno.SeekMode.Start);
    file.writeSync(new Uint8Array(128).fill(0x5a));
  } finally {
    file.close();
  }
}
