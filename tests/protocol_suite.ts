/**
 * The protocol suite (docs/protocol.md end to end), run against every backend: a real
 * gateway on an ephemeral port, real WebSocket clients. `embedded_protocol_test.ts`
 * and `libgdp_protocol_test.ts` call {@linkcode protocolSuite} with their fixture.
 */

import assert from "node:assert/strict";
import type { Gateway } from "../src/server.ts";
import { range, recnos, TestClient, waitFor, type WireEvent } from "./helpers/client.ts";
import { appendRange, serveForTest, type SuiteFixture } from "./helpers/gateway.ts";
import { SANITIZED } from "./helpers/sanitize.ts";

export type { SuiteFixture };

interface Ctx {
  /** The running test, for steps. */
  t: Deno.TestContext;
  fixture: SuiteFixture;
  gateway: Gateway;
  connect(query?: string, protocols?: string | string[]): Promise<TestClient>;
  /** Resolves once `n` subscriptions are receiving live records. */
  live(n: number): Promise<void>;
}

type Setup = () => Promise<SuiteFixture>;

/**
 * Registers the whole protocol suite for one backend, every test with both
 * sanitizers on (it registers into the calling module, whatever that module's
 * defaults are). Await it at the module's top: it sets the backend up and
 * tears it down once before any test, so what a backend loads for the whole
 * process and keeps (libgdp, `Deno.dlopen`ed once) is not charged to whichever
 * test runs first. That is the sanitizers' one exemption.
 */
export async function protocolSuite(label: string, setup: Setup): Promise<void> {
  await (await setup()).teardown();
  const test = (name: string, fn: (ctx: Ctx) => Promise<void>) =>
    Deno.test({
      name: `${label}: ${name}`,
      ...SANITIZED,
      fn: (t) => withGateway(t, setup, fn),
    });
  workedExample(test);
  subscriptionTests(test);
  payloadTests(test);
  badInputTests(test);
  concurrencyTests(test);
}

type Register = (name: string, fn: (ctx: Ctx) => Promise<void>) => void;

async function withGateway(
  t: Deno.TestContext,
  setup: Setup,
  fn: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const fixture = await setup();
  const gateway = await serveForTest(fixture.backend);
  const clients: TestClient[] = [];
  const ctx: Ctx = {
    t,
    fixture,
    gateway,
    connect: async (query = "", protocols) => {
      const client = await TestClient.connect(`${gateway.url}${query}`, protocols);
      clients.push(client);
      return client;
    },
    live: (n) => waitFor(() => gateway.hub.stats().live >= n, `${n} live subscriptions`),
  };
  try {
    await fn(ctx);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await gateway.shutdown();
    await fixture.teardown();
  }
}

const encoder = new TextEncoder();

// --- docs/protocol.md's worked example, for a log holding records 1-20 ----------

interface Row {
  startrec: number;
  numrec: number;
  /** Appended (after the subscription is live) up to this recno. */
  appendTo?: number;
  delivered: number[];
  done: boolean;
}

const ROWS: Row[] = [
  { startrec: 1, numrec: 10, delivered: range(1, 10), done: true },
  { startrec: -10, numrec: 10, delivered: range(11, 20), done: true },
  { startrec: 0, numrec: 0, appendTo: 23, delivered: range(21, 23), done: false },
  { startrec: -10, numrec: 20, appendTo: 32, delivered: range(11, 30), done: true },
  { startrec: 1, numrec: 0, appendTo: 22, delivered: range(1, 22), done: false },
  { startrec: -30, numrec: 30, appendTo: 32, delivered: range(1, 30), done: true },
  { startrec: 0, numrec: 1, appendTo: 22, delivered: [21], done: true },
  { startrec: 25, numrec: 2, appendTo: 27, delivered: [25, 26], done: true },
];

function workedExample(test: Register): void {
  for (const row of ROWS) {
    test(`worked example startrec ${row.startrec} numrec ${row.numrec}`, async (ctx) => {
      await ctx.fixture.createLog("demo.worked");
      await appendRange(ctx.fixture, "demo.worked", 1, 20);
      const client = await ctx.connect();
      client.send({ logname: "demo.worked", startrec: row.startrec, numrec: row.numrec });
      const stored = row.delivered.filter((n) => n <= 20).length;
      const first = await client.take(stored);
      if (row.appendTo) {
        if (stored < row.delivered.length) await ctx.live(1);
        await appendRange(ctx.fixture, "demo.worked", 21, row.appendTo);
      }
      const rest = await client.take(row.delivered.length - stored);
      assert.deepEqual(recnos([...first, ...rest]), row.delivered);
      if (row.done) {
        const done = await client.next();
        assert.equal(done.type, 2);
        assert.deepEqual(done.ep_stat, [200, "OK"]);
        assert.equal(done.logname, "demo.worked");
      }
      assert.ok(await client.silentFor(50), "nothing after the expected events");
    });
  }
}

// --- Subscriptions --------------------------------------------------------

function subscriptionTests(test: Register): void {
  test("defaults: startrec 0, numrec 1", async (ctx) => {
    await ctx.fixture.createLog("demo.defaults");
    await appendRange(ctx.fixture, "demo.defaults", 1, 5);
    const client = await ctx.connect();
    client.send({ logname: "demo.defaults" });
    await ctx.live(1);
    await appendRange(ctx.fixture, "demo.defaults", 6, 7);
    const [record, done] = await client.take(2);
    assert.equal(record!.datum!.recno, 6);
    assert.equal(record!.datum!.data, "record 6");
    assert.equal(done!.type, 2);
    assert.ok(await client.silentFor(50));
  });

  test("a DATA event has the original's shape and separators", async (ctx) => {
    await ctx.fixture.createLog("demo.shape");
    await appendRange(ctx.fixture, "demo.shape", 1, 1);
    const client = await ctx.connect();
    client.send({ logname: "demo.shape", startrec: 1 });
    const frame = await client.nextFrame();
    const head =
      `{"logname": "demo.shape", "ep_stat": ${ctx.fixture.recordStat}, "datum": {"recno": 1, `;
    assert.ok(frame.startsWith(head), frame);
    assert.match(
      frame,
      /"data": "record 1", "ts": \{"tv_sec": \d+, "tv_nsec": \d+, "tv_accuracy": [\d.]+\}\}/,
    );
    assert.ok(frame.endsWith(', "type": 1}'), frame);
    const ts = (JSON.parse(frame) as WireEvent).datum!.ts;
    assert.ok(Math.abs(ts.tv_sec - Date.now() / 1000) < 600, "timestamp is recent");
    assert.ok(ts.tv_nsec >= 0 && ts.tv_nsec < 1e9);
  });

  test("logname is echoed as the client spelled it, human or internal", async (ctx) => {
    await ctx.fixture.createLog("demo.spelling");
    await appendRange(ctx.fixture, "demo.spelling", 1, 2);
    const { name } = await ctx.fixture.backend.info("demo.spelling");
    assert.match(name, /^[A-Za-z0-9_-]{43}$/);
    const client = await ctx.connect();
    client.send({ logname: "demo.spelling", startrec: 1, numrec: 2 });
    client.send({ logname: name, startrec: 1, numrec: 2 });
    const events = await client.take(6);
    const byName = (n: string) => events.filter((e) => e.logname === n);
    assert.deepEqual(recnos(byName("demo.spelling")), [1, 2]);
    assert.deepEqual(recnos(byName(name)), [1, 2]);
  });

  test("duplicate subscriptions each get their own copy", async (ctx) => {
    await ctx.fixture.createLog("demo.dup");
    await appendRange(ctx.fixture, "demo.dup", 1, 3);
    const client = await ctx.connect();
    const request = { logname: "demo.dup", startrec: 2, numrec: 0 };
    client.send(request);
    client.send(request);
    const history = await client.take(4);
    assert.deepEqual(recnos(history).sort(), [2, 2, 3, 3]);
    await ctx.live(2);
    await appendRange(ctx.fixture, "demo.dup", 4, 5);
    assert.deepEqual(recnos(await client.take(4)), [4, 4, 5, 5]);
    assert.equal(ctx.gateway.hub.stats().feeds, 1, "one feed for the log");
  });

  test("many subscriptions on many logs on one socket", async (ctx) => {
    const names = ["demo.m1", "demo.m2", "demo.m3"];
    for (const name of names) {
      await ctx.fixture.createLog(name);
      await appendRange(ctx.fixture, name, 1, 3);
    }
    const client = await ctx.connect();
    for (const name of names) client.send({ logname: name, startrec: 1, numrec: 3 });
    const events = await client.take(12);
    for (const name of names) {
      const mine = events.filter((e) => e.logname === name);
      assert.deepEqual(recnos(mine), [1, 2, 3]);
      assert.equal(mine.at(-1)!.type, 2);
    }
  });

  test("id is echoed and unsubscribe ends that subscription with DONE", async (ctx) => {
    await ctx.fixture.createLog("demo.unsub");
    const client = await ctx.connect();
    client.send({ logname: "demo.unsub", startrec: 0, numrec: 0, id: "a" });
    client.send({ logname: "demo.unsub", startrec: 0, numrec: 0, id: 7 });
    await ctx.live(2);
    await appendRange(ctx.fixture, "demo.unsub", 1, 1);
    const two = await client.take(2);
    assert.deepEqual(two.map((e) => e.id).sort(), [7, "a"].sort());
    client.send({ unsubscribe: "a" });
    const done = await client.next();
    assert.equal(done.type, 2);
    assert.equal(done.id, "a");
    await waitFor(() => ctx.gateway.hub.stats().subscriptions === 1, "one subscription left");
    await appendRange(ctx.fixture, "demo.unsub", 2, 2);
    const after = await client.next();
    assert.equal(after.id, 7);
    assert.equal(after.datum!.recno, 2);
    assert.ok(await client.silentFor(50));
  });

  test("subscriptions end when the socket closes", async (ctx) => {
    await ctx.fixture.createLog("demo.close");
    const client = await ctx.connect();
    for (let i = 0; i < 5; i++) client.send({ logname: "demo.close", numrec: 0 });
    await ctx.live(5);
    await client.close();
    await waitFor(() => ctx.gateway.hub.stats().subscriptions === 0, "subscriptions dropped");
    await waitFor(() => ctx.gateway.hub.stats().feeds === 0, "feed closed");
  });

  test("a missing log is error 600, as GDP reports it", async (ctx) => {
    const client = await ctx.connect();
    client.send({ logname: "no.such.log", startrec: 1 });
    const event = await client.next();
    assert.equal(event.type, 6);
    assert.equal(event.ep_stat[0], 600);
    assert.match(event.ep_stat[1], /600/);
    assert.equal(event.logname, "no.such.log");
    assert.equal(ctx.gateway.hub.stats().subscriptions, 0);
  });

  test("requests in binary frames are served like text ones", async (ctx) => {
    await ctx.fixture.createLog("demo.binary");
    await appendRange(ctx.fixture, "demo.binary", 1, 2);
    const client = await ctx.connect();
    client.send(encoder.encode(JSON.stringify({ logname: "demo.binary", startrec: 1, numrec: 2 })));
    const events = await client.take(3);
    assert.deepEqual(recnos(events), [1, 2]);
    assert.equal(events[2]!.type, 2);
  });

  test("batch mode sends JSON arrays, by subprotocol or ?batch=1", async (ctx) => {
    await ctx.fixture.createLog("demo.batch");
    await appendRange(ctx.fixture, "demo.batch", 1, 50);
    const byProtocol = await ctx.connect("", ["gdp-ws.batch"]);
    assert.equal(byProtocol.socket.protocol, "gdp-ws.batch");
    const byQuery = await ctx.connect("?batch=1");
    for (const client of [byProtocol, byQuery]) {
      client.send({ logname: "demo.batch", startrec: 1, numrec: 50 });
      const events: WireEvent[] = [];
      let frames = 0;
      while (events.at(-1)?.type !== 2) {
        const frame = JSON.parse(await client.nextFrame()) as WireEvent[];
        assert.ok(Array.isArray(frame), "a batch frame is an array");
        events.push(...frame);
        frames++;
      }
      assert.deepEqual(recnos(events), range(1, 50));
      assert.ok(frames <= 5, `50 stored records and DONE came in ${frames} frames`);
    }
    const plain = await ctx.connect("", ["some.other.protocol"]);
    assert.equal(plain.socket.protocol, "some.other.protocol", "an offered subprotocol is echoed");
  });

  test("append over the WebSocket answers SUCCESS with recno and ts", async (ctx) => {
    await ctx.fixture.createLog("demo.append");
    const watcher = await ctx.connect();
    watcher.send({ logname: "demo.append", numrec: 0 });
    await ctx.live(1);
    const writer = await ctx.connect();
    writer.send({ append: "demo.append", data: "hello", id: 1 });
    writer.send({ append: "demo.append", data: "AAEC/w==", encoding: "base64" });
    const [first, second] = await writer.take(2);
    assert.equal(first!.type, 5);
    assert.equal(first!.id, 1);
    assert.equal(first!.datum!.recno, 1);
    assert.equal(second!.datum!.recno, 2);
    const seen = await watcher.take(2);
    assert.equal(seen[0]!.datum!.data, "hello");
    assert.equal(seen[1]!.datum!.data, "AAEC/w==");
    assert.equal(seen[1]!.datum!.encoding, "base64");
  });
}

// --- Payloads -------------------------------------------------------------

function payloadTests(test: Register): void {
  test("non-UTF-8 payloads arrive as base64, never mangled", async (ctx) => {
    await ctx.fixture.createLog("demo.bytes");
    const bytes = new Uint8Array([0, 1, 2, 0xff, 0xfe, 0x80, 10]);
    await ctx.fixture.append("demo.bytes", bytes);
    await ctx.fixture.append("demo.bytes", encoder.encode("héllo ✓"));
    const client = await ctx.connect();
    client.send({ logname: "demo.bytes", startrec: 1, numrec: 2 });
    const [binary, text] = await client.take(2);
    assert.equal(binary!.datum!.encoding, "base64");
    assert.deepEqual(Uint8Array.from(atob(binary!.datum!.data!), (c) => c.charCodeAt(0)), bytes);
    assert.equal(text!.datum!.data, "héllo ✓");
    assert.equal(text!.datum!.encoding, undefined);
  });

  test('encoding "base64" sends every payload as base64', async (ctx) => {
    await ctx.fixture.createLog("demo.b64");
    await ctx.fixture.append("demo.b64", encoder.encode("plain text"));
    const client = await ctx.connect();
    client.send({ logname: "demo.b64", startrec: 1, encoding: "base64" });
    const event = await client.next();
    assert.equal(event.datum!.encoding, "base64");
    assert.equal(atob(event.datum!.data!), "plain text");
  });
}

// --- Bad input --------------------------------------------------------------

const BAD: [string, string | Uint8Array | object, RegExp][] = [
  ["text that is not JSON", "hello", /frame is not JSON/],
  ["a JSON array", "[1, 2]", /frame must be a JSON object/],
  ["a JSON number", "42", /frame must be a JSON object/],
  ["JSON null", "null", /frame must be a JSON object/],
  ["a JSON string", '"demo"', /frame must be a JSON object/],
  ["an object without logname", {}, /logname is required/],
  ["an empty logname", { logname: "" }, /logname must not be empty/],
  ["a numeric logname", { logname: 5 }, /logname must be a string/],
  ["a string startrec", { logname: "x", startrec: "1" }, /startrec must be an integer/],
  ["a fractional startrec", { logname: "x", startrec: 1.5 }, /startrec must be an integer/],
  ["a huge startrec", { logname: "x", startrec: 1e300 }, /startrec must be from/],
  ["a negative numrec", { logname: "x", numrec: -1 }, /numrec must be from 0/],
  ["a numrec over int32", { logname: "x", numrec: 2 ** 31 }, /numrec must be from 0/],
  ["a boolean numrec", { logname: "x", numrec: true }, /numrec must be an integer/],
  ["an over-long logname", { logname: "a".repeat(2000) }, /logname is longer than 1024/],
  ["binary that is not UTF-8", new Uint8Array([0xff, 0xfe, 0x7b]), /frame is not UTF-8/],
  ["binary that is not JSON", encoder.encode("{nope"), /frame is not JSON/],
  ["an unknown op", { op: "frobnicate", logname: "x" }, /op "frobnicate" is unknown/],
  ["an unknown encoding", { logname: "x", encoding: "rot13" }, /encoding must be/],
  ["an object id", { logname: "x", id: {} }, /id must be a number or a string/],
  ["an unsubscribe of nothing", { unsubscribe: 99 }, /unsubscribe names no subscription/],
  ["an unsubscribe with an object", { unsubscribe: {} }, /unsubscribe must be a number/],
  ["an append without data", { append: "x" }, /data must be a string/],
  [
    "an append of bad base64",
    { append: "x", data: "!!", encoding: "base64" },
    /data is not valid base64/,
  ],
];

function badInputTests(test: Register): void {
  test("every malformed request gets a 400 naming the problem; the socket stays usable", async (ctx) => {
    await ctx.fixture.createLog("demo.bad");
    const bystander = await ctx.connect();
    bystander.send({ logname: "demo.bad", numrec: 0 });
    const client = await ctx.connect();
    // One step per case, so one failure does not hide the rest (the socket is
    // shared on purpose: it must stay usable after each of them).
    for (const [what, frame, message] of BAD) {
      await ctx.t.step(what, async () => {
        client.send(
          typeof frame === "string" || frame instanceof Uint8Array ? frame : JSON.stringify(frame),
        );
        const event = await client.next();
        assert.equal(event.type, 6);
        assert.equal(event.ep_stat[0], 400);
        assert.match(event.ep_stat[1], message);
      });
    }
    const echoed = (client.send({ logname: "x", numrec: -1 }), await client.next());
    assert.equal(echoed.logname, "x", "the error echoes the logname it could read");
    await ctx.live(1);
    await appendRange(ctx.fixture, "demo.bad", 1, 1);
    assert.equal((await bystander.next()).datum!.recno, 1, "another client is undisturbed");
    client.send({ logname: "demo.bad", startrec: 1 });
    assert.equal((await client.next()).datum!.recno, 1, "the socket still serves");
  });

  test("a frame over the size limit gets 413 and close 1009", async (ctx) => {
    const client = await ctx.connect();
    client.send(JSON.stringify({ logname: "x".repeat(2_200_000) }));
    const event = await client.next();
    assert.equal(event.type, 6);
    assert.equal(event.ep_stat[0], 413);
    const closed = await client.closed;
    assert.equal(closed.code, 1009);
    const other = await ctx.connect();
    other.send({ logname: "no.such" });
    assert.equal((await other.next()).ep_stat[0], 600, "the gateway still serves");
  });
}

// --- Concurrency -----------------------------------------------------------

function concurrencyTests(test: Register): void {
  test("history joins live with no gap and no duplicate while appends race 50 joins", async (ctx) => {
    await ctx.fixture.createLog("demo.race");
    await appendRange(ctx.fixture, "demo.race", 1, 100);
    const total = 400;
    const appending = appendRange(ctx.fixture, "demo.race", 101, total);
    const clients = await Promise.all(Array.from({ length: 50 }, () => ctx.connect()));
    for (const [i, client] of clients.entries()) {
      client.send({ logname: "demo.race", startrec: 1 + (i % 5), numrec: 0 });
      await new Promise((resolve) => setTimeout(resolve, i % 3));
    }
    await appending;
    for (const [i, client] of clients.entries()) {
      const start = 1 + (i % 5);
      const got = recnos(await client.take(total - start + 1, 10_000));
      assert.deepEqual(got, range(start, total), `client ${i}`);
      assert.ok(await client.silentFor(i === 0 ? 50 : 0), "no duplicate after the last");
    }
  });

  test("many sockets on one log share one feed and one encoding", async (ctx) => {
    await ctx.fixture.createLog("demo.fan");
    const clients = await Promise.all(Array.from({ length: 20 }, () => ctx.connect()));
    for (const client of clients) client.send({ logname: "demo.fan", numrec: 3 });
    await ctx.live(20);
    assert.equal(ctx.gateway.hub.stats().feeds, 1);
    await appendRange(ctx.fixture, "demo.fan", 1, 3);
    for (const client of clients) {
      const events = await client.take(4);
      assert.deepEqual(recnos(events), [1, 2, 3]);
      assert.equal(events[3]!.type, 2);
    }
    const { liveDeliveries, liveEncodings } = ctx.gateway.hub.stats();
    assert.equal(liveDeliveries, 60, "3 live records to each of 20 subscriptions");
    assert.equal(liveEncodings, 3, "each record encoded once for all 20");
  });
}
