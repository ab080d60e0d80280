/**
 * Store versions: a store written by the first release (made by
 * scripts/store_fixture.ts in its own process) is upgraded in place and every
 * record reads back, through the backend and through a gateway run as
 * shipped; each step runs once; a newer store is refused naming both versions.
 */

import assert from "node:assert/strict";
import type { LogRecord } from "../../../src/backend/backend.ts";
import { openEmbedded, StoreRefused } from "../../../src/backend/embedded/store.ts";
import {
  APPLICATION_ID,
  identify,
  migrate,
  pragmaNumber,
  SCHEMA_VERSION,
} from "../../../src/backend/embedded/schema.ts";
import { FIXTURE_LOGS } from "../../../scripts/store_fixture.ts";
import { TestClient, type WireEvent } from "../../helpers/client.ts";
import { captureLogs } from "../../helpers/log_capture.ts";
import { serveShipped, shippedRun } from "../../helpers/shipped.ts";
import { storePath, withDb, writeFixture } from "../../helpers/store_file.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const withDir = (fn: (dir: string) => Promise<void>) => withTempDir("gdp-ws-schema-", fn);

/** The store's marks and whether the timestamp index is there. */
function marks(dataDir: string) {
  return withDb(dataDir, (db) => ({
    version: pragmaNumber(db, "user_version"),
    applicationId: pragmaNumber(db, "application_id"),
    timeIndex: db.prepare(
      "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'index' AND name = 'records_by_time'",
    ).get()!.n,
  }));
}

/** The log lines of upgrade steps that ran (not the line before a slow one). */
const stepLines = (lines: { text: string }[]) =>
  lines.filter((l) => /^Upgraded the store from version/.test(l.text)).map((l) => l.text);

Deno.test("a first-release store is upgraded in place; every record reads back through the backend", async () => {
  await withDir(async (dataDir) => {
    await writeFixture(dataDir);
    assert.deepEqual(marks(dataDir), { version: 0, applicationId: 0, timeIndex: 0 });
    await captureLogs(async (lines) => {
      const store = openEmbedded({ dataDir });
      try {
        assert.deepEqual(marks(dataDir), {
          version: SCHEMA_VERSION,
          applicationId: APPLICATION_ID,
          timeIndex: 1,
        });
        assert.match(
          lines.map((l) => l.text).join("\n"),
          /Upgrading the store \([\d.]+ MB\) from version 1 to 2: indexing every record by its timestamp/,
        );
        const steps = stepLines(lines);
        assert.equal(steps.length, 1, steps.join("\n"));
        assert.match(steps[0]!, /^Upgraded the store from version 1 to 2 in \d+ ms$/);

        const listed = await store.list();
        assert.deepEqual(
          listed.map((l) => l.name).sort(),
          FIXTURE_LOGS.map((l) => l.name).sort(),
        );
        for (const expected of FIXTURE_LOGS) {
          const info = await store.info(expected.name);
          assert.equal(info.count, expected.records.length);
          assert.equal(info.human, expected.human);
          assert.deepEqual(info.first, expected.records[0]?.ts);
          assert.deepEqual(info.last, expected.records.at(-1)?.ts);
          const handle = await store.open(expected.human ?? expected.name);
          const read: LogRecord[] = [];
          for await (const record of handle.read(1, expected.records.length + 5)) read.push(record);
          assert.deepEqual(read, expected.records, expected.human ?? expected.name);
          await handle.close();
        }
        // Appends go on from where the first release stopped.
        const long = await store.open("fixture.long");
        assert.equal((await long.append(new TextEncoder().encode("after"))).recno, 701);
      } finally {
        await store.close();
      }
    });
  });
});

/** A DATA event's payload as bytes. */
function payload(event: WireEvent): Uint8Array {
  const data = event.datum!.data ?? "";
  return event.datum!.encoding === "base64"
    ? Uint8Array.fromBase64(data)
    : new TextEncoder().encode(data);
}

Deno.test("a first-release store is upgraded by a gateway run as shipped; every record reads back", async () => {
  await withDir(async (dataDir) => {
    await writeFixture(dataDir);
    const gateway = await serveShipped({ data: dataDir });
    try {
      for (const expected of FIXTURE_LOGS) {
        const client = await TestClient.connect(gateway.url);
        const count = expected.records.length;
        client.send({ logname: expected.name, startrec: 1, numrec: Math.max(count, 1) });
        const events = count > 0 ? await client.take(count) : [];
        assert.deepEqual(
          events.map((e) => [e.type, e.datum?.recno]),
          expected.records.map((r) => [1, r.recno]),
          expected.human,
        );
        events.forEach((event, i) => {
          const record = expected.records[i]!;
          assert.deepEqual(payload(event), record.data, `${expected.human} ${record.recno}`);
          assert.deepEqual(event.datum!.ts, {
            tv_sec: record.ts.sec,
            tv_nsec: record.ts.nsec,
            tv_accuracy: record.ts.accuracy,
          });
        });
        await client.close();
      }
      const base = gateway.url.replace(/^ws/, "http");
      const posted = await fetch(`${base}logs/fixture.mixed`, { method: "POST", body: "next" });
      assert.equal(posted.status, 201);
      assert.equal(((await posted.json()) as { recno: number }).recno, 7);
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
    const messages = gateway.logs.map((l) => String(l.message ?? l.raw));
    const steps = messages.filter((m) => /^Upgraded the store from version/.test(m));
    assert.equal(steps.length, 1, messages.join("\n"));
    assert.match(steps[0]!, /from version 1 to 2 in \d+ ms/);
    assert.equal(marks(dataDir).version, SCHEMA_VERSION);
  });
});

Deno.test("each step runs once: a second open runs none, and a stale reading of the version runs none", async () => {
  await withDir(async (dataDir) => {
    await writeFixture(dataDir);
    await captureLogs(async (lines) => {
      await openEmbedded({ dataDir }).close();
      assert.equal(stepLines(lines).length, 1);
      await openEmbedded({ dataDir }).close();
      assert.equal(stepLines(lines).length, 1, "the second open upgraded nothing");
    });
  });
  // Two processes opening one old store: both read version 1, one upgrades
  // first; the other's steps find the newer version inside their transaction.
  await withDir(async (dataDir) => {
    await writeFixture(dataDir);
    const stale = withDb(dataDir, (db) => identify(db));
    assert.deepEqual(stale, { kind: "store", version: 1 });
    await openEmbedded({ dataDir }).close();
    const ran = withDb(dataDir, (db) => {
      assert.equal(stale.kind, "store");
      return migrate(db, { kind: "store", version: stale.version }, () => {});
    });
    assert.deepEqual(ran, []);
    assert.equal(withDb(dataDir, (db) => db.prepare("PRAGMA index_list(records)").all()).length, 2);
  });
});

Deno.test("a new store is made at the current version, whole or not at all", async () => {
  await withDir(async (dataDir) => {
    await captureLogs(async (lines) => {
      await openEmbedded({ dataDir }).close();
      assert.match(
        lines.map((l) => l.text).join("\n"),
        /Created a new store at .* \(schema version 2\)/,
      );
    });
    assert.deepEqual(marks(dataDir), {
      version: SCHEMA_VERSION,
      applicationId: APPLICATION_ID,
      timeIndex: 1,
    });
    const left = [...Deno.readDirSync(dataDir)].map((e) => e.name).filter((n) => /\.new-/.test(n));
    assert.deepEqual(left, [], "no temporary file is left behind");
  });
});

/** Marks the store in `dataDir` as written by a future version. */
function makeNewer(dataDir: string): void {
  withDb(dataDir, (db) => db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`));
}

const NEWER = new RegExp(
  `has schema version ${SCHEMA_VERSION + 1}, newer than this gdp-ws, which knows versions up to ` +
    `${SCHEMA_VERSION}`,
);

Deno.test("a store newer than the code is refused, naming both versions, and left as it was", async () => {
  await withDir(async (dataDir) => {
    await openEmbedded({ dataDir }).close();
    makeNewer(dataDir);
    const before = await Deno.readFile(storePath(dataDir));
    assert.throws(
      () => openEmbedded({ dataDir }),
      (e) => e instanceof StoreRefused && NEWER.test(e.message),
    );
    assert.deepEqual(await Deno.readFile(storePath(dataDir)), before);
  });
});

Deno.test("a gateway run as shipped refuses a newer store with one line and exit code 1", async () => {
  await withDir(async (dataDir) => {
    await openEmbedded({ dataDir }).close();
    makeNewer(dataDir);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [...shippedRun({ data: dataDir }), "serve", "--port", "0", "--log-format", "json"],
      cwd: Deno.env.get("TMPDIR") ?? "/tmp",
      stdout: "null",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(stderr).trim().split("\n");
    assert.equal(code, 1);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /^gdp-ws: the store .*gdp-ws\.sqlite has schema version 3/);
    assert.match(lines[0]!, NEWER);
  });
});
