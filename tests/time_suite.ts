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

export function rangeTests(_test: Register): void {
}
