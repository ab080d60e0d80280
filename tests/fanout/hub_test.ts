import assert from "node:assert/strict";
import type { Backend, LogHandle, LogRecord, Timestamp } from "../../src/backend/backend.ts";
import { Hub } from "../../src/fanout/hub.ts";
import type { Subscription, SubscriptionSink } from "../../src/fanout/subscription.ts";
import { resolveStart } from "../../src/wire/requests.ts";
import { COMPACT_STYLE, PYTHON_STYLE } from "../../src/wire/events.ts";
import { range, waitFor } from "../helpers/client.ts";
import { appendRange, embeddedFixture } from "../helpers/gateway.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("resolveStart follows libgdp's subscribe_by_recno", () => {
  assert.equal(resolveStart(1, 20), 1);
  assert.equal(resolveStart(25, 20), 25);
  assert.equal(resolveStart(0, 20), 21);
  assert.equal(resolveStart(-10, 20), 11);
  assert.equal(resolveStart(-30, 20), 1);
  assert.equal(resolveStart(-1, 0), 1);
  assert.equal(resolveStart(0, 0), 1);
});

/** `backend` with every handle's history reads done by `read` instead. */
function withReads(
  backend: Backend,
  read: (handle: LogHandle, from: number, count: number) => AsyncIterable<LogRecord>,
): Backend {
  const wrapped = (handle: LogHandle): LogHandle => ({
    name: handle.name,
    last: () => handle.last(),
    follow: (from, onRecord, onError) => handle.follow(from, onRecord, onError),
    append: (data) => handle.append(data),
    close: () => handle.close(),
    read: (from, count) => read(handle, from, count),
    seek: (ts, last) => handle.seek(ts, last),
  });
  return Object.assign(Object.create(backend) as Backend, {
    open: async (name: string) => wrapped(await backend.open(name)),
  });
}

/** A backend whose history reads take a timer turn per chunk, as a networked store's do. */
function withSlowReads(backend: Backend): Backend {
  return withReads(backend, async function* (handle, from, count) {
    for await (const record of handle.read(from, count)) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      yield record;
    }
  });
}

/** A backend that counts its history reads (chunks) in `counter.reads`. */
function withCountedReads(backend: Backend, counter: { reads: number }): Backend {
  return withReads(backend, (handle, from, count) => {
    counter.reads++;
    return handle.read(from, count);
  });
}

class Collector implements SubscriptionSink {
  readonly style = PYTHON_STYLE;
  readonly recnos: number[] = [];
  done = false;
  send(text: string): void {
    const event = JSON.parse(text) as { type: number; datum?: LogRecord };
    if (event.type === 1) this.recnos.push(event.datum!.recno);
  }
  congested(): boolean {
    return false;
  }
  ended(_: Subscription): void {
    this.done = true;
  }
}

Deno.test("a subscription from a time that ends while the backend seeks leaves the feed free to linger out", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("seeking");
    await appendRange(fixture, "seeking", 1, 5);
    const gate = Promise.withResolvers<void>();
    let seeking = false;
    const slowSeeks = new Proxy(fixture.backend, {
      get: (target, key) => {
        if (key !== "open") {
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        }
        return async (name: string) => {
          const handle = await target.open(name);
          const slow: LogHandle = {
            name: handle.name,
            last: () => handle.last(),
            read: (from, count) => handle.read(from, count),
            follow: (from, onRecord, onError) => handle.follow(from, onRecord, onError),
            append: (data) => handle.append(data),
            close: () => handle.close(),
            seek: async (ts: Timestamp, last: number) => {
              seeking = true;
              await gate.promise; // a libgdp bisection takes round trips
              return await handle.seek(ts, last);
            },
          };
          return slow;
        };
      },
    });
    const hub = new Hub(slowSeeks, { readChunk: 8, feedLingerMs: 0 });
    const sink = new Collector();
    const sub = hub.subscribe({
      op: "subscribe",
      logname: "seeking",
      startrec: 0,
      startts: { sec: 0, nsec: 0, accuracy: 0 },
      numrec: 0,
      encoding: "text",
    }, sink);
    await waitFor(() => seeking, "the seek to start");
    sub.cancel(); // the client left
    gate.resolve();
    await waitFor(() => hub.stats().feeds === 0, "the feed to linger out");
    assert.deepEqual(sink.recnos, [], "nothing sent to a subscription that ended");
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

Deno.test("history reads no more stored records than the subscription will deliver", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("few");
    await appendRange(fixture, "few", 1, 1_000);
    let read = 0;
    const hub = new Hub(
      withReads(fixture.backend, async function* (handle, from, count) {
        for await (const record of handle.read(from, count)) {
          read++;
          yield record;
        }
      }),
      { readChunk: 512, feedLingerMs: 0 },
    );
    const sink = new Collector();
    hub.subscribe(
      { op: "subscribe", logname: "few", startrec: 100, numrec: 3, encoding: "text" },
      sink,
    );
    await waitFor(() => sink.done, "DONE");
    assert.deepEqual(sink.recnos, [100, 101, 102]);
    assert.equal(read, 3, "a libgdp read per record: none wasted");
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

Deno.test("a catch-up's first stored chunk is small: the first record goes out after a few reads, not a chunk", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("first");
    await appendRange(fixture, "first", 1, 600);
    let read = 0;
    const hub = new Hub(
      withReads(fixture.backend, async function* (handle, from, count) {
        for await (const record of handle.read(from, count)) {
          await new Promise((resolve) => setTimeout(resolve, 0)); // a round trip each
          read++;
          yield record;
        }
      }),
      { readChunk: 512, feedLingerMs: 0 },
    );
    let readAtFirst = -1;
    const sink = new Collector();
    const send = sink.send.bind(sink);
    sink.send = (text) => {
      if (readAtFirst === -1) readAtFirst = read;
      send(text);
    };
    const sub = hub.subscribe(
      { op: "subscribe", logname: "first", startrec: 1, numrec: 0, encoding: "text" },
      sink,
    );
    await waitFor(() => sink.recnos.length === 600, "every stored record");
    assert.ok(readAtFirst <= 16, `${readAtFirst} records read before the first was sent`);
    assert.deepEqual(sink.recnos, range(1, 600));
    sub.cancel();
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

Deno.test("slow history reads still join live without gap or duplicate", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("race");
    await appendRange(fixture, "race", 1, 50);
    const hub = new Hub(withSlowReads(fixture.backend), {
      readChunk: 8,
      feedLingerMs: 0,
      recentRecords: 4,
    });
    const sinks = Array.from({ length: 20 }, () => new Collector());
    const appending = appendRange(fixture, "race", 51, 300);
    for (const sink of sinks) {
      hub.subscribe(
        { op: "subscribe", logname: "race", startrec: 1, numrec: 0, encoding: "text" },
        sink,
      );
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await appending;
    await waitFor(() => sinks.every((s) => s.recnos.length >= 300), "every record everywhere");
    for (const sink of sinks) assert.deepEqual(sink.recnos, range(1, 300));
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

Deno.test("catch-ups that start together read their history in time slices, not all in one turn", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("catchup");
    await appendRange(fixture, "catchup", 1, 2_000);
    const counter = { reads: 0 };
    const hub = new Hub(withCountedReads(fixture.backend, counter), {
      readChunk: 500,
      feedLingerMs: 0,
      recentRecords: 4,
    });
    const request = {
      op: "subscribe",
      logname: "catchup",
      startrec: 1,
      numrec: 0,
      encoding: "text",
    } as const;
    // One live subscription first, so the log is open and every catch-up below starts at once.
    hub.subscribe({ ...request, startrec: 0 }, new Collector());
    await waitFor(() => hub.stats().live === 1, "the log followed");
    const sinks = Array.from({ length: 40 }, () => new Collector());
    for (const sink of sinks) hub.subscribe(request, sink);
    // A store read is synchronous work (SQLite): 40 of them in the turn that started the
    // catch-ups would hold the loop for all of them. By the next turn only a slice's worth ran.
    const readsInFirstTurn = await new Promise<number>((resolve) =>
      setTimeout(() => resolve(counter.reads), 0)
    );
    assert.ok(readsInFirstTurn > 0, "a catch-up read within its turn");
    assert.ok(readsInFirstTurn < sinks.length, `${readsInFirstTurn} reads in one turn`);
    await waitFor(() => sinks.every((s) => s.recnos.length >= 2_000), "every record everywhere");
    for (const sink of sinks) assert.deepEqual(sink.recnos, range(1, 2_000));
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

Deno.test("a live record is encoded once per spelling, id and style, and shared", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("shared");
    const hub = new Hub(fixture.backend, { readChunk: 8, feedLingerMs: 0 });
    const { name } = await fixture.backend.info("shared");
    const subscribe = (logname: string, id?: number) => {
      const sink = new Collector();
      const request = {
        op: "subscribe",
        logname,
        startrec: 0,
        numrec: 0,
        encoding: "text",
      } as const;
      hub.subscribe(id === undefined ? request : { ...request, id }, sink);
      return sink;
    };
    const sinks = [
      ...Array.from({ length: 20 }, () => subscribe("shared")),
      ...Array.from({ length: 5 }, () => subscribe(name)),
      subscribe("shared", 7),
    ];
    await waitFor(() => hub.stats().live === 26, "26 live subscriptions");
    await appendRange(fixture, "shared", 1, 3);
    await waitFor(() => sinks.every((s) => s.recnos.length === 3), "3 records everywhere");
    const { liveDeliveries, liveEncodings } = hub.stats();
    assert.equal(liveDeliveries, 3 * 26);
    assert.equal(liveEncodings, 3 * 3, "human spelling, internal spelling, and the one with an id");
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

Deno.test("with sharing off (--dev-no-sharing) every subscription follows and encodes on its own", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("alone");
    const hub = new Hub(fixture.backend, { readChunk: 8, feedLingerMs: 0, share: false });
    const sinks = Array.from({ length: 3 }, () => new Collector());
    for (const sink of sinks) {
      hub.subscribe(
        { op: "subscribe", logname: "alone", startrec: 0, numrec: 0, encoding: "text" },
        sink,
      );
    }
    await waitFor(() => hub.stats().live === 3, "3 live subscriptions");
    assert.equal(hub.stats().feeds, 3, "one follow per subscription");
    await appendRange(fixture, "alone", 1, 2);
    await waitFor(() => sinks.every((s) => s.recnos.length === 2), "2 records everywhere");
    for (const sink of sinks) assert.deepEqual(sink.recnos, [1, 2]);
    assert.equal(hub.stats().liveEncodings, 3 * 2, "nothing shared");
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

/** A Collector whose every event costs a little work, as a socket write does. */
class SlowCollector extends Collector {
  static events = 0;
  override send(text: string): void {
    SlowCollector.events++;
    const until = performance.now() + 0.01;
    while (performance.now() < until) { /* the write's cost */ }
    super.send(text);
  }
}

Deno.test("one commit to 300 logs with 3 subscribers each is fanned out in time slices, not all in its turn", async () => {
  const fixture = await embeddedFixture();
  try {
    const LOGS = 300;
    const names = range(1, LOGS).map((n) => `many.${n}`);
    for (const name of names) await fixture.createLog(name);
    const hub = new Hub(fixture.backend, { readChunk: 64, feedLingerMs: 0 });
    const sinks = names.flatMap((logname) =>
      [1, 2, 3].map(() => {
        const sink = new SlowCollector();
        hub.subscribe({ op: "subscribe", logname, startrec: 0, numrec: 0, encoding: "text" }, sink);
        return sink;
      })
    );
    await waitFor(() => hub.stats().live === sinks.length, "every subscription live");
    const handles = await Promise.all(names.map((name) => fixture.backend.open(name)));
    SlowCollector.events = 0;
    // Appends queued in one turn share one commit, which hands a record to every log at once.
    const appended = Promise.all(handles.map((h) => h.append(new TextEncoder().encode("x"))));
    const inFirstTurn = await new Promise<number>((resolve) =>
      setTimeout(() => resolve(SlowCollector.events), 0)
    );
    assert.ok(inFirstTurn < sinks.length, `${inFirstTurn} of ${sinks.length} in the commit's turn`);
    await appended;
    await waitFor(() => sinks.every((s) => s.recnos.length === 1), "every record everywhere");
    await Promise.all(handles.map((h) => h.close()));
    await hub.close();
  } finally {
    await fixture.teardown();
  }
});

/** A sink that keeps every text it is sent, joined events and all. */
class TextSink implements SubscriptionSink {
  readonly style = COMPACT_STYLE;
  readonly texts: string[] = [];
  done = false;
  constructor(readonly joinsEvents: boolean, readonly roomLeft: number) {}
  send(text: string): void {
    this.texts.push(text);
  }
  sendJoined(utf8: Uint8Array): void {
    this.texts.push(new TextDecoder("utf-8", { fatal: true }).decode(utf8));
  }
  congested(): boolean {
    return false;
  }
  room(): number {
    return this.roomLeft;
  }
  ended(_: Subscription): void {
    this.done = true;
  }
  /** The DATA events received, however they were joined. */
  events(): string[] {
    const parsed = JSON.parse(`[${this.texts.join(",")}]`) as { type: number }[];
    return parsed.filter((e) => e.type === 1).map((e) => JSON.stringify(e));
  }
}

/** A sink that takes stored events as newline-separated UTF-8, a frame each (one object per frame). */
class LinesSink extends TextSink {
  lines = 0;
  sendLines(utf8: Uint8Array, _recno: number, count: number): void {
    this.lines++;
    const events = new TextDecoder("utf-8", { fatal: true }).decode(utf8).split("\n");
    assert.equal(events.length, count);
    this.texts.push(...events);
  }
}

Deno.test("history the store encodes itself (joined, by lines or one by one, under a budget) equals history encoded here, and a count ends it with DONE", async () => {
  const fixture = await embeddedFixture();
  try {
    await fixture.createLog("encoded");
    await appendRange(fixture, "encoded", 1, 1_000);
    const request = {
      op: "subscribe",
      logname: "encoded",
      startrec: 1,
      numrec: 900,
      encoding: "text",
    } as const;
    const options = { readChunk: 128, feedLingerMs: 0, recentRecords: 4 };
    // The same backend without readEvents: every record read and encoded by the hub.
    const plain = new Hub(withReads(fixture.backend, (h, from, n) => h.read(from, n)), options);
    const reference = new TextSink(false, 0);
    plain.subscribe(request, reference);
    const hub = new Hub(fixture.backend, options);
    const lines = new LinesSink(false, 5_000);
    const sinks = [
      new TextSink(true, Infinity),
      new TextSink(true, 5_000),
      new TextSink(false, 5_000),
      lines,
    ];
    for (const sink of sinks) hub.subscribe(request, sink);
    await waitFor(() => [reference, ...sinks].every((s) => s.done), "every subscription done");
    const want = reference.events();
    assert.equal(want.length, 900);
    for (const sink of sinks) assert.deepEqual(sink.events(), want);
    assert.ok(sinks[0]!.texts.length < 20, "joined: a text per chunk");
    assert.ok(lines.lines > 1 && lines.lines < 900 / 10, `by lines: ${lines.lines} stretches`);
    assert.equal(hub.stats().historyDeliveries, 3_600);
    await Promise.all([plain.close(), hub.close()]);
  } finally {
    await fixture.teardown();
  }
});
