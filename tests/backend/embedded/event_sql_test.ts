/**
 * DATA events built by the embedded store in SQL (`readEvents`, the history
 * replay's fast path) are exactly what `encodeRecord` builds from the same
 * records, for any payload, address and style; and where SQL cannot build
 * them (data that is not UTF-8), the store says so instead of guessing.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { EncodedRecords, LogHandle, LogRecord } from "../../../src/backend/backend.ts";
import { DB_FILE, openEmbedded } from "../../../src/backend/embedded/store.ts";
import { DatabaseSync } from "node:sqlite";
import {
  COMPACT_STYLE,
  datumTemplate,
  encodeDatum,
  encodeRecord,
  PYTHON_STYLE,
  recordTemplate,
  type ReplyAddress,
} from "../../../src/wire/events.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const encoder = new TextEncoder();
/** Payloads that are valid UTF-8: any string, with controls, quotes, astral and U+2028 mixed in. */
const textPayload = fc.oneof(
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.string({
    unit: fc.constantFrom("\0", "\x1f", "\x7f", '"', "\\", "\u2028", "é", "😀", "/"),
    maxLength: 16,
  }),
).filter((s) => !s.includes("\uFFFD")).map((s) => encoder.encode(s));
const address = fc.record({
  logname: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
  id: fc.option(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { nil: undefined }),
}).map((a) => {
  const out: ReplyAddress = {};
  if (a.logname !== undefined) out.logname = a.logname;
  if (a.id !== undefined) out.id = a.id;
  return out;
});

async function records(log: LogHandle, from: number, count: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const record of log.read(from, count)) out.push(record);
  return out;
}

Deno.test("events built in SQL equal encodeRecord's (datums encodeDatum's), one by one and joined, for any UTF-8 payload, address and style", async () => {
  await withTempDir("gdp-ws-events-", async (dataDir) => {
    const store = openEmbedded({ dataDir });
    await store.create("events");
    const log = await store.open("events");
    const payloads = fc.sample(textPayload, { seed: 7, numRuns: 300 });
    await Promise.all(payloads.map((p) => log.append(p)));
    const stored = await records(log, 1, payloads.length);
    const cases = fc.sample(
      fc.tuple(
        address,
        fc.boolean(),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 40 }),
      ),
      { seed: 8, numRuns: 60 },
    );
    for (const [addr, compact, from, count] of cases) {
      const style = compact ? COMPACT_STYLE : PYTHON_STYLE;
      const template = recordTemplate(addr, style)!;
      const want = stored.slice(from - 1, from - 1 + count).map((r) =>
        encodeRecord(r, addr, style)
      );
      const one = log.readEvents!(from, count, template, { joined: false, budget: Infinity });
      assert.deepEqual(one, { events: want, count: want.length });
      const joined = log.readEvents!(from, count, template, { joined: true, budget: Infinity });
      assert.deepEqual(joined, { utf8: encoder.encode(want.join(",")), count: want.length });
      // A range read's elements: bare datums, one a line.
      const datums = stored.slice(from - 1, from - 1 + count).map((r) =>
        encodeDatum(r, "text", style)
      );
      const lines = log.readEvents!(from, count, datumTemplate(style), {
        joined: true,
        budget: Infinity,
        separator: "\n",
      });
      assert.deepEqual(lines, { utf8: encoder.encode(datums.join("\n")), count: datums.length });
    }
    await store.close();
  });
});

/** Characters of a one-by-one read; bytes of a joined one. */
function sizeOf(read: EncodedRecords): number {
  return "utf8" in read ? read.utf8.length : read.events.join(",").length;
}

Deno.test("SQL keeps to the budget (but always gives the first event) and gives up on data that is not UTF-8 or a tv_accuracy SQL would print otherwise", async () => {
  await withTempDir("gdp-ws-events-", async (dataDir) => {
    const store = openEmbedded({ dataDir });
    await store.create("events");
    const log = await store.open("events");
    for (let i = 0; i < 10; i++) await log.append(encoder.encode("x".repeat(100)));
    await log.append(new Uint8Array([0x61, 0xff, 0x62])); // recno 11: not UTF-8
    await log.append(encoder.encode("\uFFFD")); // recno 12: in a string, looks like SQLite's substitute
    const template = recordTemplate({ logname: "events" }, COMPACT_STYLE)!;
    const address = { logname: "events" };
    const [e1, e2] = (await records(log, 1, 2)).map((r) => encodeRecord(r, address, COMPACT_STYLE));
    const budget = e1!.length + 1 + e2!.length;
    const two = log.readEvents!(1, 10, template, { joined: false, budget });
    assert.deepEqual(two, { events: [e1, e2], count: 2 }, "the longest run within the budget");
    for (const joined of [false, true]) {
      const read = log.readEvents!(1, 10, template, { joined, budget })!;
      assert.ok(read.count >= 1 && sizeOf(read) <= budget);
      assert.equal(log.readEvents!(1, 10, template, { joined, budget: 1 })?.count, 1, "the first");
      assert.equal(log.readEvents!(5, 10, template, { joined, budget: Infinity }), undefined);
      const replaced = log.readEvents!(12, 1, template, { joined, budget: Infinity });
      // Joined, the bytes are checked as they are: U+FFFD stored is U+FFFD sent.
      const twelve = encodeRecord((await records(log, 12, 1))[0]!, address, COMPACT_STYLE);
      assert.deepEqual(replaced, joined ? { utf8: encoder.encode(twelve), count: 1 } : undefined);
      assert.equal(
        log.readEvents!(13, 1, template, { joined, budget: Infinity }),
        undefined,
        "none",
      );
    }
    assert.equal(recordTemplate({ encoding: "base64" }, COMPACT_STYLE), undefined);
    // A tv_accuracy other than 0 (another writer's records): JavaScript prints it, not SQL.
    const other = new DatabaseSync(`${dataDir}/${DB_FILE}`);
    other.prepare("UPDATE records SET ts_accuracy = 0.25 WHERE recno = 3").run();
    other.close();
    for (const joined of [false, true]) {
      assert.equal(log.readEvents!(1, 2, template, { joined, budget: Infinity })?.count, 2);
      assert.equal(log.readEvents!(1, 5, template, { joined, budget: Infinity }), undefined);
    }
    await store.close();
  });
});
