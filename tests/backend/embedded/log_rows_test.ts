/**
 * The log rows the embedded store keeps by name: a row found is kept (an
 * append does not look its log up again), a name not found is not (another
 * process may create the log), and at most `max` names are kept.
 */

import assert from "node:assert/strict";
import { LogRows } from "../../../src/backend/embedded/log_rows.ts";
import { openEmbedded } from "../../../src/backend/embedded/store.ts";
import { GdpError } from "../../../src/core/errors.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("a row found is kept: the name is looked up once however often it is asked for", () => {
  const rows = new LogRows<{ id: number }>(8);
  const found: string[] = [];
  const find = (name: string) => (found.push(name), { id: name.length });
  for (let i = 0; i < 100; i++) assert.deepEqual(rows.get("demo", find), { id: 4 });
  assert.deepEqual(found, ["demo"]);
});

Deno.test("a name not found is not kept: it is looked up again, and kept once it is found", () => {
  const rows = new LogRows<number>(8);
  let exists = false;
  let lookups = 0;
  const find = () => (lookups++, exists ? 7 : undefined);
  assert.equal(rows.get("later", find), undefined);
  assert.equal(rows.get("later", find), undefined);
  assert.equal(rows.size, 0);
  exists = true;
  assert.equal(rows.get("later", find), 7);
  assert.equal(rows.get("later", () => 8), 7);
  assert.equal(lookups, 3);
});

Deno.test("at most max names are kept; past it the oldest is forgotten and looked up again", () => {
  const rows = new LogRows<string>(3);
  for (const name of ["a", "b", "c", "d"]) rows.get(name, (n) => n.toUpperCase());
  assert.equal(rows.size, 3);
  const asked: string[] = [];
  const find = (n: string) => (asked.push(n), n.toUpperCase());
  for (const name of ["b", "c", "d"]) rows.get(name, find);
  assert.deepEqual(asked, [], "the three newest are kept");
  assert.equal(rows.get("a", find), "A");
  assert.deepEqual(asked, ["a"], "the oldest was forgotten");
  for (let i = 0; i < 1000; i++) rows.get(`n${i}`, find);
  assert.equal(rows.size, 3);
});

Deno.test("the store looks a log's name up once for many appends, and finds a log another process created after a miss", async () => {
  await withTempDir("gdp-ws-log-rows-", async (dataDir) => {
    const store = openEmbedded({ dataDir });
    const other = openEmbedded({ dataDir, check: false });
    try {
      await assert.rejects(store.open("made.elsewhere"), (e) => (e as GdpError).code === 600);
      await other.create("made.elsewhere");
      const handle = await store.open("made.elsewhere");
      const before = store.counters().nameLookups;
      for (let i = 0; i < 50; i++) {
        await (await store.open("made.elsewhere")).append(new Uint8Array([i]));
      }
      assert.equal(store.counters().nameLookups, before, "no lookup for the 50 appends");
      assert.equal(await handle.last(), 50);
    } finally {
      await other.close();
      await store.close();
    }
  });
});
