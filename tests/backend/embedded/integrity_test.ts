/**
 * A damaged or foreign store file: refused at start with one line (an empty
 * file, a file that is not SQLite, SQLite that is not a gdp-ws store, a
 * damaged page), or, when the damage is found while serving, logged at ERROR,
 * counted, `/readyz` 503 "corrupt" and appends refused. Pages are damaged by
 * overwriting them in the real file, as a failing disk would.
 */

import assert from "node:assert/strict";
import { GdpError } from "../../../src/core/errors.ts";
import { checkEmbedded, openEmbedded, StoreRefused } from "../../../src/backend/embedded/store.ts";
import { internalName } from "../../../src/core/names.ts";
import { TestClient, waitFor } from "../../helpers/client.ts";
import { captureLogs } from "../../helpers/log_capture.ts";
import { scrape, valueOf } from "../../helpers/prometheus.ts";
import { serveShipped, shippedRun } from "../../helpers/shipped.ts";
import {
  damagePage,
  leafPages,
  storePath,
  withDb,
  writeFixture,
} from "../../helpers/store_file.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const withDir = (fn: (dir: string) => Promise<void>) => withTempDir("gdp-ws-integrity-", fn);

/** A first-release store, upgraded and closed: the file holds every page, the WAL is empty. */
async function upgradedFixture(dataDir: string): Promise<void> {
  await writeFixture(dataDir);
  await openEmbedded({ dataDir }).close();
}

/** A leaf page in the middle of the records table: fixture.long's records, not its last. */
function middleLeaf(dataDir: string): number {
  const leaves = leafPages(dataDir, "records");
  assert.ok(leaves.length >= 5, `records has ${leaves.length} leaf pages`);
  return leaves[Math.floor(leaves.length / 2)]!;
}

/** `gdp-ws serve` as shipped on `dataDir`, expected to refuse to start: its exit code and stderr lines. */
async function refusedStart(dataDir: string): Promise<{ code: number; lines: string[] }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...shippedRun({ data: dataDir }), "serve", "--port", "0", "--log-format", "json"],
    cwd: Deno.env.get("TMPDIR") ?? "/tmp",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, lines: new TextDecoder().decode(stderr).trim().split("\n") };
}

/** The one line a refused start prints, checked against `pattern` (API and process alike). */
async function assertRefused(dataDir: string, pattern: RegExp): Promise<void> {
  assert.throws(
    () => openEmbedded({ dataDir }),
    (e) => e instanceof StoreRefused && pattern.test(e.message),
  );
  const { code, lines } = await refusedStart(dataDir);
  assert.equal(code, 1);
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0]!, /^gdp-ws: /);
  assert.match(lines[0]!, pattern);
}

Deno.test("a zero-length store file is refused, not taken for a new store", async () => {
  await withDir(async (dataDir) => {
    await Deno.writeFile(storePath(dataDir), new Uint8Array(0));
    await assertRefused(dataDir, /gdp-ws\.sqlite is empty \(0 bytes\).*restore it from a backup/);
    assert.equal((await Deno.stat(storePath(dataDir))).size, 0, "the file is left as it was");
  });
});

Deno.test("a file that is not SQLite is refused", async () => {
  await withDir(async (dataDir) => {
    await Deno.writeTextFile(storePath(dataDir), "name,recno\nx,1\n".repeat(500));
    await assertRefused(dataDir, /is not an SQLite database \(it starts with 6e616d652c726563/);
  });
});

Deno.test("an SQLite file that is not a gdp-ws store is refused and not written to", async () => {
  await withDir(async (dataDir) => {
    withDb(dataDir, (db) => db.exec("CREATE TABLE logs (id INTEGER PRIMARY KEY, text TEXT)"));
    const before = await Deno.readFile(storePath(dataDir));
    await assertRefused(
      dataDir,
      /is an SQLite database but not a gdp-ws store \(its tables \(logs\)/,
    );
    assert.deepEqual(await Deno.readFile(storePath(dataDir)), before);
  });
  await withDir(async (dataDir) => {
    withDb(dataDir, (db) => db.exec("PRAGMA application_id = 1234; CREATE TABLE t (x)"));
    await assertRefused(dataDir, /not a gdp-ws store \(its application_id is 0x4d2/);
  });
  await withDir(async (dataDir) => {
    withDb(dataDir, (db) => db.exec("PRAGMA user_version = 1"));
    await assertRefused(dataDir, /not a gdp-ws store \(it has user_version 1 and no mark\)/);
  });
});

Deno.test("a write-ahead log without its database is refused", async () => {
  await withDir(async (dataDir) => {
    await Deno.writeFile(`${storePath(dataDir)}-wal`, new Uint8Array(4096).fill(7));
    await assertRefused(dataDir, /gdp-ws\.sqlite is missing but its write-ahead log/);
  });
});

Deno.test("a damaged page in the middle of the records is found at start and the store refused", async () => {
  await withDir(async (dataDir) => {
    await upgradedFixture(dataDir);
    damagePage(dataDir, middleLeaf(dataDir));
    await assertRefused(
      dataDir,
      /the store .*gdp-ws\.sqlite is damaged: .*restore it from a backup/,
    );
    assert.ok(checkEmbedded(dataDir).length > 0, "gdp-ws check reports it too");
  });
});

Deno.test("a damaged page 2 (the logs table) is refused at start", async () => {
  await withDir(async (dataDir) => {
    await upgradedFixture(dataDir);
    damagePage(dataDir, 2);
    await assertRefused(dataDir, /gdp-ws\.sqlite is damaged: /);
  });
});

Deno.test("a damaged page 1 is refused at start", async () => {
  await withDir(async (dataDir) => {
    await upgradedFixture(dataDir);
    // Past the 100-byte file header: the schema table's page header.
    const file = await Deno.open(storePath(dataDir), { write: true });
    await file.seek(100, Deno.SeekMode.Start);
    await file.write(new Uint8Array(64).fill(0x5a));
    file.close();
    await assertRefused(dataDir, /gdp-ws\.sqlite is damaged: /);
  });
});

Deno.test("above the full-check size the start check reads the logs' tails: a damaged tail is refused", async () => {
  await withDir(async (dataDir) => {
    await upgradedFixture(dataDir);
    const leaves = leafPages(dataDir, "records");
    damagePage(dataDir, leaves.at(-1)!);
    assert.throws(
      () => openEmbedded({ dataDir, fullCheckBytes: 0 }),
      (e) => e instanceof StoreRefused && /is damaged/.test(e.message),
    );
  });
});

Deno.test("damage found while serving: ERROR logged once, counted, not ready, appends and creates refused", async () => {
  await withDir(async (dataDir) => {
    await upgradedFixture(dataDir);
    damagePage(dataDir, middleLeaf(dataDir));
    await captureLogs(async (lines) => {
      // A bounded start check (as on a large store) does not read the middle pages.
      const store = openEmbedded({ dataDir, fullCheckBytes: 0 });
      try {
        assert.deepEqual(store.state(), { ready: true, state: "ok" });
        assert.match(lines.map((l) => l.text).join("\n"), /Store checked in part/);
        const log = await store.open("fixture.long");
        const reads = async () => {
          for await (const _ of log.read(1, 700));
        };
        await assert.rejects(reads(), (e) =>
          e instanceof GdpError && e.code === 500 &&
          /the store is damaged: database disk image is malformed/.test(e.message));
        await assert.rejects(reads(), GdpError);
        const state = store.state();
        assert.equal(state.ready, false);
        assert.equal(state.state, "corrupt");
        assert.match(
          state.detail!,
          /gdp-ws\.sqlite is damaged \(database disk image is malformed\)/,
        );
        assert.equal(store.counters().corruptErrors, 2);
        const errors = lines.filter((l) => l.level === "error");
        assert.equal(errors.length, 1, "the repeat is counted, not logged");
        assert.match(errors[0]!.text, /The store .* is damaged: .* while reading records/);

        const appends = store.counters().appends;
        await assert.rejects(
          log.append(new TextEncoder().encode("more")),
          (e) => e instanceof GdpError && e.code === 503 && /writes are refused/.test(e.message),
        );
        await assert.rejects(
          store.create("new.log"),
          (e) => e instanceof GdpError && e.code === 503,
        );
        assert.equal(store.counters().appends, appends);
        // A follow that meets the damage in a later chunk (read from a timer) is told;
        // a throw there would end the process.
        const told: GdpError[] = [];
        let followed = 0;
        const unfollow = log.follow(1, () => followed++, (error) => told.push(error));
        await waitFor(() => told.length > 0, "the follower told of the damage");
        unfollow();
        assert.ok(followed >= 128, `${followed} records before the damage`);
        assert.equal(told.length, 1);
        assert.match(told[0]!.message, /the store is damaged/);
        // Undamaged logs still read.
        const temp = await store.open("edu.berkeley.demo.temp");
        assert.equal(await temp.last(), 3);
      } finally {
        await store.close();
      }
    });
    assert.equal(
      withDb(
        dataDir,
        (db) =>
          db.prepare("SELECT count(*) AS n FROM logs WHERE name = ?").get(internalName("new.log"))!
            .n,
      ),
      0,
    );
  });
});

Deno.test("a gateway run as shipped: damage found while serving turns /readyz 503, refuses appends, logs and counts", async () => {
  await withDir(async (dataDir) => {
    await upgradedFixture(dataDir);
    const gateway = await serveShipped({ data: dataDir });
    const base = gateway.url.replace(/^ws/, "http");
    try {
      const before = await fetch(`${base}readyz`);
      await before.body?.cancel();
      assert.equal(before.status, 200);
      damagePage(dataDir, middleLeaf(dataDir));
      // Another writer's commit makes the gateway drop its cached pages, as it
      // must to see that writer's records; then it reads the damaged page.
      withDb(dataDir, (db) =>
        db.prepare(
          "INSERT INTO records (log, recno, ts_sec, ts_nsec, ts_accuracy, data) " +
            "SELECT id, 1, 1, 0, 0, x'00' FROM logs WHERE human = 'fixture.empty'",
        ).run());
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: "fixture.long", startrec: 1, numrec: 700 });
      let failure;
      for (let i = 0; i < 800 && !failure; i++) {
        const event = await client.next();
        if (event.type !== 1) failure = event;
      }
      assert.ok(failure, "the subscription is told");
      assert.equal(failure.ep_stat[0], 500);
      assert.match(failure.ep_stat[1], /the store is damaged/);
      await client.close();

      const ready = await fetch(`${base}readyz`);
      const body = await ready.json() as { state: string; detail: string };
      assert.equal(ready.status, 503);
      assert.equal(body.state, "corrupt");
      assert.match(
        body.detail,
        /is damaged \(database disk image is malformed\); appends are refused/,
      );

      const posted = await fetch(`${base}logs/fixture.mixed`, { method: "POST", body: "x" });
      assert.equal(posted.status, 503);
      assert.match(await posted.text(), /the store is damaged.*writes are refused/);

      const metrics = await scrape(gateway.url);
      assert.ok(valueOf(metrics, "gdpws_store_corrupt_errors_total") >= 1);
      assert.equal(valueOf(metrics, "gdpws_backend_up"), 0);
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
    const errors = gateway.logs.filter((l) => l.level === "ERROR");
    assert.equal(errors.length, 1, JSON.stringify(gateway.logs));
    assert.match(String(errors[0]!.message), /^The store ".*gdp-ws\.sqlite" is damaged: /);
    assert.equal(
      (errors[0]!.properties as { reason: string }).reason,
      "database disk image is malformed",
    );
  });
});
