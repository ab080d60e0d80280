/** The embedded store on its own: names, appends, follows, other writers. */

import assert from "node:assert/strict";
import type { LogRecord } from "../../../src/backend/backend.ts";
import { openEmbedded } from "../../../src/backend/embedded/store.ts";
import { internalName } from "../../../src/core/names.ts";
import { range, waitFor } from "../../helpers/client.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

function withStore(fn: (dir: string) => Promise<void>): Promise<void> {
  return withTempDir("gdp-ws-store-", fn);
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("names resolve like GDP: human, or the SHA-256 internal name", async () => {
  await withStore(async (dataDir) => {
    const store = openEmbedded({ dataDir });
    const info = await store.create("edu.berkeley.demo.temp");
    assert.equal(info.name, internalName("edu.berkeley.demo.temp"));
    assert.equal(info.name, "Lk265Cm_tuPOG9k498pelTpVGO-ZvDcsLyJgIA_RSDI");
    assert.equal((await store.open(info.name)).name, info.name);
    assert.equal((await store.open("edu.berkeley.demo.temp")).name, info.name);
    await assert.rejects(store.open("no.such.log"), (e: { code: number }) => e.code === 600);
    assert.equal(
      (await store.create("edu.berkeley.demo.temp")).name,
      info.name,
      "create is idempotent",
    );
    await store.close();
  });
});

Deno.test("appends in one turn share a commit and keep their order; payloads stay bytes", async () => {
  await withStore(async (dataDir) => {
    const store = openEmbedded({ dataDir });
    await store.create("demo");
    const log = await store.open("demo");
    const records = await Promise.all(range(1, 100).map((n) => log.append(bytes(`r${n}`))));
    assert.deepEqual(records.map((r) => r.recno), range(1, 100));
    const { commits, appends, corruptErrors } = store.counters();
    assert.deepEqual(
      { commits, appends, corruptErrors },
      { commits: 1, appends: 100, corruptErrors: 0 },
      "one transaction, one fsync",
    );
    const binary = new Uint8Array([0, 255, 1, 254]);
    assert.deepEqual((await log.append(binary)).data, binary);
    const read: LogRecord[] = [];
    for await (const record of log.read(99, 10)) read.push(record);
    assert.deepEqual(read.map((r) => r.recno), [99, 100, 101]);
    assert.deepEqual(read[2]!.data, binary);
    const ts = read[0]!.ts;
    assert.ok(ts.nsec >= 0 && ts.nsec < 1e9 && Math.abs(ts.sec - Date.now() / 1000) < 60);
    await store.close();
  });
});

Deno.test("a follower gets every record another process writes, in order, in bursts past a chunk", async () => {
  await withStore(async (dataDir) => {
    const gateway = openEmbedded({ dataDir, pollMs: 10 });
    const writer = openEmbedded({ dataDir }); // its own connection: another process to SQLite
    await gateway.create("demo");
    const seen: number[] = [];
    const log = await gateway.open("demo");
    const unfollow = log.follow(1, (r) => seen.push(r.recno), () => {});
    const other = await writer.open("demo");
    await Promise.all(range(1, 1500).map((n) => other.append(bytes(`r${n}`))));
    await waitFor(() => seen.length >= 1500, "1,500 records from the other writer");
    assert.deepEqual(seen, range(1, 1500));
    await log.append(bytes("local"));
    assert.equal(seen.at(-1), 1501, "an in-process append is delivered at once");
    unfollow();
    await writer.close();
    await gateway.close();
  });
});

Deno.test("info counts records and gives the first and last timestamps", async () => {
  await withStore(async (dataDir) => {
    const store = openEmbedded({ dataDir });
    const empty = await store.create("demo");
    assert.equal(empty.count, 0);
    assert.equal(empty.first, undefined);
    const log = await store.open("demo");
    const first = await log.append(bytes("a"));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const last = await log.append(bytes("b"));
    const info = await store.info("demo");
    assert.equal(info.count, 2);
    assert.deepEqual(info.first, first.ts);
    assert.deepEqual(info.last, last.ts);
    assert.deepEqual((await store.list()).map((l) => l.human), ["demo"]);
    await store.close();
  });
});

Deno.test("appends arriving as separate tasks (frames, requests) still share commits", async () => {
  await withStore(async (dataDir) => {
    const store = openEmbedded({ dataDir });
    await store.create("demo");
    const log = await store.open("demo");
    const done = range(1, 50).map((n) =>
      new Promise<LogRecord>((resolve) => setTimeout(() => resolve(log.append(bytes(`r${n}`))), 0))
    );
    assert.deepEqual((await Promise.all(done)).map((r) => r.recno), range(1, 50));
    const { commits } = store.counters();
    assert.ok(commits < 10, `50 appends from 50 tasks took ${commits} commits`);
    await store.close();
  });
});
