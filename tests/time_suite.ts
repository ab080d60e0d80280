/**
 * The protocol suite's tests of time travel (docs/protocol.md): subscriptions
 * from a point in time (`startts`) and range reads over HTTP
 * (`GET /logs/NAME/records`). Registered by {@linkcode protocolSuite}, so they
 * run on every backend: embedded, the libgdp double and the real GDP.
 */

import assert from "node:assert/strict";
import { formatRfc3339 } from "../src/core/time.ts";
import { range, recnos, type WireEvent } from "./helpers/client.ts";
import { appendRange } from "./helpers/gateway.ts";
import type { Ctx, Register } from "./protocol_suite.ts";

/** A timestamp as the wire carries it. */
type WireTs = NonNullable<WireEvent["datum"]>["ts"];

const NS = 1_000_000_000n;

/** A timestamp in nanoseconds since the epoch. */
export function ns(ts: Pick<WireTs, "tv_sec" | "tv_nsec">): bigint {
  return BigInt(ts.tv_sec) * NS + BigInt(ts.tv_nsec);
}

/** Nanoseconds since the epoch as RFC 3339 text. */
export function rfc3339(at: bigint): string {
  return formatRfc3339({ sec: Number(at / NS), nsec: Number(at % NS) });
}

/** Nanoseconds since the epoch as `{tv_sec, tv_nsec}`. */
function tsObject(at: bigint): { tv_sec: number; tv_nsec: number } {
  return { tv_sec: Number(at / NS), tv_nsec: Number(at % NS) };
}

/** The timestamps of records `from` to `to` of `log`, read over a WebSocket. */
async function stamps(ctx: Ctx, log: string, from: number, to: number): Promise<bigint[]> {
  const client = await ctx.connect();
  client.send({ logname: log, startrec: from, numrec: to - from + 1 });
  const events = await client.take(to - from + 2);
  assert.deepEqual(recnos(events), range(from, to));
  await client.close();
  return events.filter((e) => e.type === 1).map((e) => ns(e.datum!.ts));
}

/** A log of `count` records whose timestamps increase strictly; their timestamps. */
async function stampedLog(ctx: Ctx, label: string, count: number): Promise<[string, bigint[]]> {
  const log = ctx.log(label);
  await ctx.fixture.createLog(log);
  await appendRange(ctx.fixture, log, 1, count);
  const ts = await stamps(ctx, log, 1, count);
  for (let i = 1; i < ts.length; i++) assert.ok(ts[i - 1]! < ts[i]!, `stamps rise at ${i + 1}`);
  return [log, ts];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function timeTests(test: Register): void {
  test("startts between two records starts at the later one, as text or {tv_sec, tv_nsec}", async (ctx) => {
    const [log, ts] = await stampedLog(ctx, "demo.time.between", 10);
    const between = ts[4]! + (ts[5]! - ts[4]!) / 2n; // after record 5, not after record 6
    const client = await ctx.connect();
    client.send({ logname: log, startts: rfc3339(between), numrec: 3, id: "text" });
    client.send({ logname: log, startts: tsObject(ts[4]! + 1n), numrec: 3, id: "object" });
    const events = await client.take(8);
    for (const id of ["text", "object"]) {
      const mine = events.filter((e) => e.id === id);
      assert.deepEqual(recnos(mine), [6, 7, 8], id);
      assert.equal(mine.at(-1)!.type, 2, `${id} ends with DONE`);
    }
    client.send({ logname: log, startts: rfc3339(ts[5]!), numrec: 1 });
    assert.equal((await client.next()).datum!.recno, 6, "a time equal to a record's starts there");
  });

  test("startts at or before the first record starts at record 1", async (ctx) => {
    const [log, ts] = await stampedLog(ctx, "demo.time.first", 3);
    const client = await ctx.connect();
    const times = [rfc3339(ts[0]!), rfc3339(ts[0]! - 86_400n * NS), "1970-01-01T00:00:00Z"];
    for (const startts of times) {
      client.send({ logname: log, startts, numrec: 2 });
      assert.deepEqual(recnos(await client.take(3)), [1, 2], startts);
    }
  });

  test("startts after the last record waits for the next append", async (ctx) => {
    const [log, ts] = await stampedLog(ctx, "demo.time.after", 3);
    const client = await ctx.connect();
    client.send({ logname: log, startts: rfc3339(ts[2]! + 1n), numrec: 2 });
    await ctx.live(1);
    assert.ok(await client.silentFor(50), "nothing stored is at or after it");
    await appendRange(ctx.fixture, log, 4, 6);
    const events = await client.take(3);
    assert.deepEqual(recnos(events), [4, 5]);
    assert.equal(events[2]!.type, 2);
  });

  test("startts in the future skips what is appended before it, then delivers all from the first at or after it", async (ctx) => {
    const [log] = await stampedLog(ctx, "demo.time.future", 1);
    const start = BigInt(Date.now() + 1500) * 1_000_000n;
    const client = await ctx.connect();
    client.send({ logname: log, startts: rfc3339(start), numrec: 2 });
    await ctx.live(1);
    await appendRange(ctx.fixture, log, 2, 2);
    const [early] = await stamps(ctx, log, 2, 2);
    assert.ok(early! < start, "record 2 was appended before the start time (a slow machine?)");
    assert.ok(await client.silentFor(50), "record 2 is skipped");
    await sleep(Number((start - BigInt(Date.now()) * 1_000_000n) / 1_000_000n) + 20);
    await appendRange(ctx.fixture, log, 3, 4);
    const events = await client.take(3);
    assert.deepEqual(recnos(events), [3, 4]);
    assert.equal(events[2]!.type, 2);
  });

  test("startts joins live as startrec does: batch frames, ids, no gap", async (ctx) => {
    const [log, ts] = await stampedLog(ctx, "demo.time.live", 5);
    const client = await ctx.connect("", ["gdp-ws.batch"]);
    client.send({ logname: log, startts: rfc3339(ts[2]!), numrec: 0, id: "t" });
    const events: WireEvent[] = [];
    while (events.length < 3) events.push(...JSON.parse(await client.nextFrame()) as WireEvent[]);
    await ctx.live(1);
    await appendRange(ctx.fixture, log, 6, 8);
    while (events.length < 6) events.push(...JSON.parse(await client.nextFrame()) as WireEvent[]);
    assert.deepEqual(recnos(events), [3, 4, 5, 6, 7, 8]);
    assert.ok(events.every((e) => e.id === "t"), "every event carries the id");
    assert.ok(await client.silentFor(50), "no duplicate");
  });
}

/** One page of a range read, parsed, with its `Link` target (path and query) if any. */
interface Page {
  status: number;
  type: string | null;
  records: WireEvent["datum"][];
  next?: string;
}

/** `GET path` on the gateway as JSON (default) or NDJSON; follows nothing. */
async function getPage(ctx: Ctx, path: string, ndjson = false): Promise<Page> {
  const headers = ndjson ? { accept: "application/x-ndjson" } : undefined;
  const response = await fetch(ctx.http(path), headers ? { headers } : {});
  const text = await response.text();
  const page: Page = {
    status: response.status,
    type: response.headers.get("content-type"),
    records: [],
  };
  if (response.status !== 200) {
    page.records = [JSON.parse(text)];
    return page;
  }
  page.records = ndjson
    ? text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))
    : JSON.parse(text);
  if (ndjson) {
    assert.ok(text === "" || text.endsWith("\n"), "every NDJSON line ends with a newline");
  }
  const link = response.headers.get("link");
  if (link) {
    const match = /^<([^>]+)>; rel="next"$/.exec(link);
    assert.ok(match, `a Link header of one next page: ${link}`);
    page.next = match[1]!;
  }
  return page;
}

/** The recnos a range read answered, in both formats (which must agree). */
async function rangeRecnos(ctx: Ctx, path: string): Promise<number[]> {
  const [json, ndjson] = [await getPage(ctx, path), await getPage(ctx, path, true)];
  assert.equal(json.status, 200, path);
  assert.deepEqual(ndjson.records, json.records, `${path}: NDJSON holds what JSON holds`);
  assert.equal(ndjson.next, json.next);
  return json.records.map((r) => r!.recno);
}

const records = (log: string, query: string) => `/logs/${encodeURIComponent(log)}/records?${query}`;

export function rangeTests(test: Register): void {
  test("a range read by recno, as a JSON array or NDJSON of DATA events' datums", async (ctx) => {
    const [log] = await stampedLog(ctx, "demo.range.recno", 30);
    const json = await getPage(ctx, records(log, "start=5&count=10"));
    assert.equal(json.status, 200);
    assert.equal(json.type, "application/json");
    const ndjson = await getPage(ctx, records(log, "start=5&count=10"), true);
    assert.equal(ndjson.type, "application/x-ndjson");
    // Exactly what a subscription's DATA events carry as their datum.
    const client = await ctx.connect();
    client.send({ logname: log, startrec: 5, numrec: 10 });
    const datums = (await client.take(11)).filter((e) => e.type === 1).map((e) => e.datum);
    assert.deepEqual(json.records, datums);
    assert.deepEqual(ndjson.records, datums);
    assert.equal(json.next, undefined, "one page holds it all");
    assert.deepEqual(await rangeRecnos(ctx, records(log, "start=-5")), range(26, 30));
    assert.deepEqual(await rangeRecnos(ctx, records(log, "start=-50&count=3")), [1, 2, 3]);
    assert.deepEqual(await rangeRecnos(ctx, records(log, "start=28")), [28, 29, 30]);
    assert.deepEqual(await rangeRecnos(ctx, records(log, "start=31")), [], "past the end: none");
    assert.deepEqual(await rangeRecnos(ctx, records(log, "")), range(1, 30), "all of it");
  });

  test("a range read by time holds exactly the records from since up to until", async (ctx) => {
    const [log, ts] = await stampedLog(ctx, "demo.range.time", 20);
    const at = (recno: number, plus = 0n) => encodeURIComponent(rfc3339(ts[recno - 1]! + plus));
    const cases: [string, number[]][] = [
      [`since=${at(5)}&until=${at(12)}`, range(5, 11)], // until excludes its own record
      [`since=${at(5, 1n)}&until=${at(12, 1n)}`, range(6, 12)],
      [`since=${at(18)}`, [18, 19, 20]],
      [`until=${at(4)}`, [1, 2, 3]],
      [`since=${at(20, 1n)}`, []], // after the last: nothing yet
      [`since=${at(12)}&until=${at(5)}`, []],
      [`since=${at(3)}&count=2`, [3, 4]],
      [`start=10&until=${at(13)}`, [10, 11, 12]],
      [`until=1970-01-01T00:00:00Z`, []],
    ];
    for (const [query, expected] of cases) {
      assert.deepEqual(await rangeRecnos(ctx, records(log, query)), expected, query);
    }
    // An offset's unescaped "+" arrives as a space; it is read as the "+" it was.
    const plus = rfc3339(ts[6]!).replace("Z", "+00:00");
    assert.deepEqual(await rangeRecnos(ctx, records(log, `since=${plus}&count=1`)), [7]);
  });

  test("a long range comes in pages, each naming the next in its Link header", async (ctx) => {
    const [log, ts] = await stampedLog(ctx, "demo.range.pages", 25);
    for (const ndjson of [false, true]) {
      const walk = async (first: string) => {
        const pages: number[][] = [];
        for (let path: string | undefined = first; path !== undefined;) {
          const page: Page = await getPage(ctx, path, ndjson);
          assert.equal(page.status, 200, path);
          pages.push(page.records.map((r) => r!.recno));
          path = page.next;
        }
        return pages;
      };
      assert.deepEqual(await walk(records(log, "start=1&count=23&limit=10")), [
        range(1, 10),
        range(11, 20),
        range(21, 23),
      ]);
      const until = encodeURIComponent(rfc3339(ts[21]!)); // before record 22
      assert.deepEqual(
        await walk(
          records(log, `since=${encodeURIComponent(rfc3339(ts[2]!))}&until=${until}&limit=8`),
        ),
        [
          range(3, 10),
          range(11, 18),
          range(19, 21),
        ],
      );
      assert.deepEqual(await walk(records(log, "start=-12&limit=12")), [range(14, 25)]);
    }
  });

  test("a range read sends base64 where asked or where the bytes are not UTF-8", async (ctx) => {
    const log = ctx.log("demo.range.bytes");
    await ctx.fixture.createLog(log);
    await ctx.fixture.append(log, new TextEncoder().encode("héllo"));
    await ctx.fixture.append(log, new Uint8Array([0x61, 0xff]));
    const plain = await getPage(ctx, records(log, "start=1"));
    assert.deepEqual(plain.records.map((r) => [r!.data, r!.encoding]), [
      ["héllo", undefined],
      ["Yf8=", "base64"],
    ]);
    const base64 = await getPage(ctx, records(log, "start=1&encoding=base64"), true);
    assert.deepEqual(base64.records.map((r) => [r!.data, r!.encoding]), [
      ["aMOpbGxv", "base64"],
      ["Yf8=", "base64"],
    ]);
  });

  test("a bad range read is a 400 naming the parameter; a missing log a 404", async (ctx) => {
    const log = ctx.log("demo.range.bad");
    await ctx.fixture.createLog(log);
    const bad: [string, RegExp][] = [
      ["start=0", /start must be a recno/],
      ["start=x", /start must be an integer/],
      ["start=1.5", /start must be an integer/],
      ["count=0", /count must be an integer from 1/],
      ["count=1e400", /count must be an integer/],
      ["limit=0", /limit must be an integer from 1 to/],
      ["limit=100000000", /limit must be an integer from 1 to/],
      ["since=yesterday", /since must be an RFC 3339 time/],
      ["until=2026-02-30T00:00:00Z", /until has no such date/],
      ["start=1&since=2026-12-07T05:49:54Z", /since and start exclude each other/],
      ["encoding=rot13", /encoding must be/],
    ];
    for (const [query, message] of bad) {
      const page = await getPage(ctx, records(log, query));
      assert.equal(page.status, 400, query);
      const body = page.records[0] as unknown as { ep_stat: [number, string] };
      assert.equal(body.ep_stat[0], 400, query);
      assert.match(body.ep_stat[1], message, query);
    }
    const missing = await getPage(ctx, records("no.such.log", "start=1"));
    assert.equal(missing.status, 404);
    assert.equal((missing.records[0] as unknown as { ep_stat: [number, string] }).ep_stat[0], 600);
  });
}
