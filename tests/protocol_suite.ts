/**
 * The protocol suite (docs/protocol.md end to end), run against every backend: a real
 * gateway on an ephemeral port, real WebSocket clients, under the binary's grants.
 * `backend/embedded/protocol_test.ts` and `backend/libgdp/protocol_test.ts` call
 * {@linkcode protocolSuite} with their fixture (the gateway in the test process,
 * each test under the grants); `real_gdp/protocol_test.ts` with a
 * {@linkcode ServingFixture} whose gateway is a child process on the real GDP,
 * started under the binary's flags.
 */

import assert from "node:assert/strict";
import type { HubStats } from "../src/fanout/hub.ts";
import { range, recnos, TestClient, type WireEvent } from "./helpers/client.ts";
import { appendRange, serveForTest, type SuiteFixture } from "./helpers/gateway.ts";
import { SANITIZED } from "./helpers/sanitize.ts";
import { libgdpTest, shippedTest } from "./helpers/shipped.ts";
import { rangeTests, timeTests } from "./time_suite.ts";

export type { SuiteFixture };

/** The hub counts the suite checks. */
export type SuiteStats = Pick<
  HubStats,
  "feeds" | "subscriptions" | "live" | "liveDeliveries" | "liveEncodings"
>;

/** A gateway the suite talks to, in this process or in another one. */
export interface SuiteGateway {
  /** `ws://127.0.0.1:PORT/`. */
  readonly url: string;
  /** The hub's counts now. */
  stats(): Promise<SuiteStats>;
  /** Stops it, checking whatever the fixture checks at the end of a test. */
  shutdown(): Promise<void>;
}

/** A fixture that runs its own gateway (e.g. a child process on the real GDP). */
export interface ServingFixture extends Omit<SuiteFixture, "backend"> {
  serve(): Promise<SuiteGateway>;
  /** The name of a fresh log for `label`: stores that keep every log need one per run. */
  logName(label: string): string;
}

/** What each test of the suite is given. */
export interface Ctx {
  /** The running test, for steps. */
  t: Deno.TestContext;
  fixture: Omit<SuiteFixture, "backend">;
  connect(query?: string, protocols?: string | string[]): Promise<TestClient>;
  /** Resolves once `n` subscriptions are receiving live records. */
  live(n: number): Promise<void>;
  /** The hub's counts now. */
  stats(): Promise<SuiteStats>;
  /** Resolves once the hub's counts satisfy `condition`. */
  until(condition: (stats: SuiteStats) => boolean, what: string): Promise<void>;
  /** The name this test uses for its log `label` (the same each time it is asked). */
  log(label: string): string;
  /** The internal name of a log, as `GET /logs/NAME` reports it. */
  internalName(name: string): Promise<string>;
  /** `http://127.0.0.1:PORT` + `path`. */
  http(path: string): string;
}

/** A fixture, on the test's data folder when its gateway runs in this process. */
type Setup = (dataDir?: string) => Promise<SuiteFixture | ServingFixture>;

/**
 * Where the suite's gateways run, and under which grants: in this process on
 * the embedded store (each test under the binary's grants for a fresh data
 * folder, `shippedTest`) or on a libgdp file (each test under `--allow-net
 * --allow-ffi=LIB`, `libgdpTest`); or in a child process the fixture starts
 * under the binary's flags (`serveShipped`), whose runner keeps its own.
 */
export type SuiteGrants = "embedded" | { libgdp: string } | "process";

/**
 * Registers the whole protocol suite for one backend, every test with both
 * sanitizers on (it registers into the calling module, whatever that module's
 * defaults are). Await it at the module's top: it sets the backend up and
 * tears it down once before any test, so what a backend loads for the whole
 * process and keeps (libgdp, `Deno.dlopen`ed once) is not charged to whichever
 * test runs first. That is the sanitizers' one exemption.
 */
export async function protocolSuite(
  label: string,
  setup: Setup,
  grants: SuiteGrants,
): Promise<void> {
  await (await setup()).teardown();
  const test: Register = (name, fn) => {
    const full = `${label}: ${name}`;
    if (grants === "embedded") {
      shippedTest(full, (dataDir, t) => withGateway(t, () => setup(dataDir), fn));
    } else if (grants === "process") {
      Deno.test({ name: full, ...SANITIZED, fn: (t) => withGateway(t, setup, fn) });
    } else {
      libgdpTest(full, grants.libgdp, (t) => withGateway(t, setup, fn));
    }
  };
  workedExample(test);
  subscriptionTests(test);
  payloadTests(test);
  badInputTests(test);
  concurrencyTests(test);
  timeTests(test);
  rangeTests(test);
}

/** Registers one test of the suite. */
export type Register = (name: string, fn: (ctx: Ctx) => Promise<void>) => void;

async function serve(fixture: SuiteFixture | ServingFixture): Promise<SuiteGateway> {
  if ("serve" in fixture) return await fixture.serve();
  const gateway = await serveForTest(fixture.backend);
  return {
    url: gateway.url,
    stats: () => Promise.resolve(gateway.hub.stats()),
    shutdown: () => gateway.shutdown(),
  };
}

async function withGateway(
  t: Deno.TestContext,
  setup: () => Promise<SuiteFixture | ServingFixture>,
  fn: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const fixture = await setup();
  const names = new Map<string, string>();
  const clients: TestClient[] = [];
  try {
    const gateway = await serve(fixture);
    const until = async (condition: (stats: SuiteStats) => boolean, what: string) => {
      const deadline = Date.now() + 10_000;
      while (!condition(await gateway.stats())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    const ctx: Ctx = {
      t,
      fixture,
      connect: async (query = "", protocols) => {
        const client = await TestClient.connect(`${gateway.url}${query}`, protocols);
        clients.push(client);
        return client;
      },
      live: (n) => until((s) => s.live >= n, `${n} live subscriptions`),
      stats: () => gateway.stats(),
      until,
      log: (label) => {
        const name = names.get(label) ?? ("logName" in fixture ? fixture.logName(label) : label);
        names.set(label, name);
        return name;
      },
      internalName: async (name) => {
        const url = `${gateway.url.replace(/^ws/, "http")}logs/${encodeURIComponent(name)}`;
        return ((await (await fetch(url)).json()) as { name: string }).name;
      },
      http: (path) => gateway.url.replace(/^ws/, "http").replace(/\/$/, "") + path,
    };
    try {
      await fn(ctx);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await gateway.shutdown();
    }
  } finally {
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
      const log = ctx.log("demo.worked");
      await ctx.fixture.createLog(log);
      await appendRange(ctx.fixture, log, 1, 20);
      const client = await ctx.connect();
      client.send({ logname: log, startrec: row.startrec, numrec: row.numrec });
      const stored = row.delivered.filter((n) => n <= 20).length;
      const first = await client.take(stored);
      if (row.appendTo) {
        if (stored < row.delivered.length) await ctx.live(1);
        await appendRange(ctx.fixture, log, 21, row.appendTo);
      }
      const rest = await client.take(row.delivered.length - stored);
      assert.deepEqual(recnos([...first, ...rest]), row.delivered);
      if (row.done) {
        const done = await client.next();
        assert.equal(done.type, 2);
        assert.deepEqual(done.ep_stat, [200, "OK"]);
        assert.equal(done.logname, log);
      }
      assert.ok(await client.silentFor(50), "nothing after the expected events");
    });
  }
}

// --- Subscriptions --------------------------------------------------------

function subscriptionTests(test: Register): void {
  test("defaults: startrec 0, numrec 1", async (ctx) => {
    const log = ctx.log("demo.defaults");
    await ctx.fixture.createLog(log);
    await appendRange(ctx.fixture, log, 1, 5);
    const client = await ctx.connect();
    client.send({ logname: log });
    await ctx.live(1);
    await appendRange(ctx.fixture, log, 6, 7);
    const [record, done] = await client.take(2);
    assert.equal(record!.datum!.recno, 6);
    assert.equal(record!.datum!.data, "record 6");
    assert.equal(done!.type, 2);
    assert.ok(await client.silentFor(50));
  });

  test("a DATA event has the original's shape and separators", async (ctx) => {
    const log = ctx.log("demo.shape");
    await ctx.fixture.createLog(log);
    await appendRange(ctx.fixture, log, 1, 1);
    const client = await ctx.connect();
    client.send({ logname: log, startrec: 1 });
    const frame = await client.nextFrame();
    const head =
      `{"logname": "${log}", "ep_stat": ${ctx.fixture.recordStat}, "datum": {"recno": 1, `;
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
    const log = ctx.log("demo.spelling");
    await ctx.fixture.createLog(log);
    await appendRange(ctx.fixture, log, 1, 2);
    const name = await ctx.internalName(log);
    assert.match(name, /^[A-Za-z0-9_-]{43}$/);
    const client = await ctx.connect();
    client.send({ logname: log, startrec: 1, numrec: 2 });
    client.send({ logname: name, startrec: 1, numrec: 2 });
    const events = await client.take(6);
    const byName = (n: string) => events.filter((e) => e.logname === n);
    assert.deepEqual(recnos(byName(log)), [1, 2]);
    assert.deepEqual(recnos(byName(name)), [1, 2]);
  });

  test("duplicate subscriptions each get their own copy", async (ctx) => {
    const log = ctx.log("demo.dup");
    await ctx.fixture.createLog(log);
    await appendRange(ctx.fixture, log, 1, 3);
    const client = await ctx.connect();
    const request = { logname: log, startrec: 2, numrec: 0 };
    client.send({ ...request, id: "a" });
    client.send({ ...request, id: "b" });
    const history = await client.take(4);
    await ctx.live(2);
    await appendRange(ctx.fixture, log, 4, 5);
    // Each in order; how the two interleave depends on how the appends meet the sweeps.
    const events = [...history, ...await client.take(4)];
    for (const id of ["a", "b"]) {
      assert.deepEqual(recnos(events.filter((e) => e.id === id)), [2, 3, 4, 5], id);
    }
    assert.equal((await ctx.stats()).feeds, 1, "one feed for the log");
  });

  test("many subscriptions on many logs on one socket", async (ctx) => {
    const names = ["m1", "m2", "m3"].map((n) => ctx.log(`demo.${n}`));
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
    const log = ctx.log("demo.unsub");
    await ctx.fixture.createLog(log);
    const client = await ctx.connect();
    client.send({ logname: log, startrec: 0, numrec: 0, id: "a" });
    client.send({ logname: log, startrec: 0, numrec: 0, id: 7 });
    await ctx.live(2);
    await appendRange(ctx.fixture, log, 1, 1);
    const two = await client.take(2);
    assert.deepEqual(two.map((e) => e.id).sort(), [7, "a"].sort());
    client.send({ unsubscribe: "a" });
    const done = await client.next();
    assert.equal(done.type, 2);
    assert.equal(done.id, "a");
    await ctx.until((s) => s.subscriptions === 1, "one subscription left");
    await appendRange(ctx.fixture, log, 2, 2);
    const after = await client.next();
    assert.equal(after.id, 7);
    assert.equal(after.datum!.recno, 2);
    assert.ok(await client.silentFor(50));
  });

  test("subscriptions end when the socket closes", async (ctx) => {
    const log = ctx.log("demo.close");
    await ctx.fixture.createLog(log);
    const client = await ctx.connect();
    for (let i = 0; i < 5; i++) client.send({ logname: log, numrec: 0 });
    await ctx.live(5);
    await client.close();
    await ctx.until((s) => s.subscriptions === 0, "subscriptions dropped");
    await ctx.until((s) => s.feeds === 0, "feed closed");
  });

  test("a missing log is error 600, as GDP reports it", async (ctx) => {
    const client = await ctx.connect();
    client.send({ logname: "no.such.log", startrec: 1 });
    const event = await client.next();
    assert.equal(event.type, 6);
    assert.equal(event.ep_stat[0], 600);
    assert.match(event.ep_stat[1], /600/);
    assert.equal(event.logname, "no.such.log");
    assert.equal((await ctx.stats()).subscriptions, 0);
  });

  test("requests in binary frames are served like text ones", async (ctx) => {
    const log = ctx.log("demo.binary");
    await ctx.fixture.createLog(log);
    await appendRange(ctx.fixture, log, 1, 2);
    const client = await ctx.connect();
    client.send(encoder.encode(JSON.stringify({ logname: log, startrec: 1, numrec: 2 })));
    const events = await client.take(3);
    assert.deepEqual(recnos(events), [1, 2]);
    assert.equal(events[2]!.type, 2);
  });

  test("batch mode sends JSON arrays, by subprotocol or ?batch=1", async (ctx) => {
    const log = ctx.log("demo.batch");
    await ctx.fixture.createLog(log);
    await appendRange(ctx.fixture, log, 1, 50);
    const byProtocol = await ctx.connect("", ["gdp-ws.batch"]);
    assert.equal(byProtocol.socket.protocol, "gdp-ws.batch");
    const byQuery = await ctx.connect("?batch=1");
    for (const client of [byProtocol, byQuery]) {
      client.send({ logname: log, startrec: 1, numrec: 50 });
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

  test("batch mode delivers stored text of any kind exactly, in arrays, with DONE", async (ctx) => {
    const log = ctx.log("demo.batch.text");
    await ctx.fixture.createLog(log);
    const texts = ["héllo ✓", 'a "quote" and a \\', "tab\tnew\nline\u0001", "\uFFFD", "😀 \u2028"];
    for (const text of texts) await ctx.fixture.append(log, encoder.encode(text));
    await ctx.fixture.append(log, new Uint8Array([0x61, 0xff])); // recno 6: not UTF-8
    const client = await ctx.connect("", ["gdp-ws.batch"]);
    // 1-5: text only (the store may join them itself); 1-6: one record is base64.
    for (const numrec of [5, 6]) {
      client.send({ logname: log, startrec: 1, numrec });
      const events: WireEvent[] = [];
      while (events.at(-1)?.type !== 2) {
        const frame = JSON.parse(await client.nextFrame()) as WireEvent[];
        assert.ok(Array.isArray(frame), "a batch frame is an array");
        events.push(...frame);
      }
      const data = events.filter((e) => e.type === 1).map((e) => e.datum!.data);
      assert.deepEqual(data, [...texts, "Yf8="].slice(0, numrec), `numrec ${numrec}`);
      assert.equal(events.at(-1)!.type, 2, "DONE last");
    }
  });

  test("append over the WebSocket answers SUCCESS with recno and ts", async (ctx) => {
    const log = ctx.log("demo.append");
    await ctx.fixture.createLog(log);
    const watcher = await ctx.connect();
    watcher.send({ logname: log, numrec: 0 });
    await ctx.live(1);
    const writer = await ctx.connect();
    writer.send({ append: log, data: "hello", id: 1 });
    writer.send({ append: log, data: "AAEC/w==", encoding: "base64" });
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
    const log = ctx.log("demo.bytes");
    await ctx.fixture.createLog(log);
    const bytes = new Uint8Array([0, 1, 2, 0xff, 0xfe, 0x80, 10]);
    await ctx.fixture.append(log, bytes);
    await ctx.fixture.append(log, encoder.encode("héllo ✓"));
    const client = await ctx.connect();
    client.send({ logname: log, startrec: 1, numrec: 2 });
    const [binary, text] = await client.take(2);
    assert.equal(binary!.datum!.encoding, "base64");
    assert.deepEqual(Uint8Array.from(atob(binary!.datum!.data!), (c) => c.charCodeAt(0)), bytes);
    assert.equal(text!.datum!.data, "héllo ✓");
    assert.equal(text!.datum!.encoding, undefined);
  });

  test('encoding "base64" sends every payload as base64', async (ctx) => {
    const log = ctx.log("demo.b64");
    await ctx.fixture.createLog(log);
    await ctx.fixture.append(log, encoder.encode("plain text"));
    const client = await ctx.connect();
    client.send({ logname: log, startrec: 1, encoding: "base64" });
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
    "a startts that is no time",
    { logname: "x", startts: "yesterday" },
    /startts must be an RFC 3339/,
  ],
  ["a startts of 1e400", '{"logname": "x", "startts": 1e400}', /startts must be an RFC 3339 time/],
  [
    "a startts with tv_sec 1e400",
    '{"logname": "x", "startts": {"tv_sec": 1e400}}',
    /startts.tv_sec must be an integer/,
  ],
  [
    "a startts with tv_nsec of a whole second",
    { logname: "x", startts: { tv_sec: 1, tv_nsec: 1e9 } },
    /startts.tv_nsec must be from 0 to 999999999/,
  ],
  [
    "a startts without tv_sec",
    { logname: "x", startts: { tv_nsec: 1 } },
    /startts.tv_sec is required/,
  ],
  ["a startts on no such day", { logname: "x", startts: "2026-02-29T00:00:00Z" }, /no such date/],
  [
    "both startrec and startts",
    { logname: "x", startrec: 1, startts: "2026-12-07T05:49:54Z" },
    /startts and startrec exclude each other/,
  ],
  [
    "an append of bad base64",
    { append: "x", data: "!!", encoding: "base64" },
    /data is not valid base64/,
  ],
];

function badInputTests(test: Register): void {
  test("every malformed request gets a 400 naming the problem; the socket stays usable", async (ctx) => {
    const log = ctx.log("demo.bad");
    await ctx.fixture.createLog(log);
    const bystander = await ctx.connect();
    bystander.send({ logname: log, numrec: 0 });
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
    await appendRange(ctx.fixture, log, 1, 1);
    assert.equal((await bystander.next()).datum!.recno, 1, "another client is undisturbed");
    client.send({ logname: log, startrec: 1 });
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
    const log = ctx.log("demo.race");
    await ctx.fixture.createLog(log);
    await appendRange(ctx.fixture, log, 1, 100);
    const total = 400;
    const appending = appendRange(ctx.fixture, log, 101, total);
    const clients = await Promise.all(Array.from({ length: 50 }, () => ctx.connect()));
    for (const [i, client] of clients.entries()) {
      client.send({ logname: log, startrec: 1 + (i % 5), numrec: 0 });
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
    const log = ctx.log("demo.fan");
    await ctx.fixture.createLog(log);
    const clients = await Promise.all(Array.from({ length: 20 }, () => ctx.connect()));
    for (const client of clients) client.send({ logname: log, numrec: 3 });
    await ctx.live(20);
    assert.equal((await ctx.stats()).feeds, 1);
    await appendRange(ctx.fixture, log, 1, 3);
    for (const client of clients) {
      const events = await client.take(4);
      assert.deepEqual(recnos(events), [1, 2, 3]);
      assert.equal(events[3]!.type, 2);
    }
    const { liveDeliveries, liveEncodings } = await ctx.stats();
    assert.equal(liveDeliveries, 60, "3 live records to each of 20 subscriptions");
    assert.equal(liveEncodings, 3, "each record encoded once for all 20");
  });
}
