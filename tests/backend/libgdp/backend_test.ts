/**
 * The libgdp backend against the libgdp test double: handle sharing, kept
 * subscriptions (libgdp 2.1.12 cannot end one safely), in-order gapless
 * delivery despite reordering and silent loss, resume across link loss,
 * 503 after `downAfterMs`, and every event and datum freed exactly once.
 */

import assert from "node:assert/strict";
import { waitFor } from "../../helpers/client.ts";
import type { LogHandle, LogRecord } from "../../../src/backend/backend.ts";
import {
  type LibgdpBackend,
  type LibgdpOptions,
  openLibgdpBackend,
} from "../../../src/backend/libgdp/backend.ts";
import { GdpError } from "../../../src/core/errors.ts";
import {
  assertNoLeaks,
  FAILURE,
  type LibgdpDouble,
  libgdpDouble,
  SHUTDOWN,
  SILENTLY,
  uniqueLog,
} from "../../helpers/libgdp_double.ts";
import { sanitizedWithLibgdpLoaded } from "../../helpers/sanitize.ts";

// Sanitizers on; the libgdp loaded before the first test is their one exemption (see sanitize.ts).
await sanitizedWithLibgdpLoaded();
Deno.test.sanitizer({ ops: true, resources: true });

const dbl = await libgdpDouble();
const decoder = new TextDecoder();
const encoder = new TextEncoder();

type Options = Omit<LibgdpOptions, "path">;

/** Fast retries for tests; everything else at its default unless given. */
const FAST: Options = { retryInitialMs: 10, retryMaxMs: 40 };

/** Runs `fn` with a fresh backend, then checks nothing leaked or was misused. */
async function withBackend(
  options: Options,
  fn: (backend: LibgdpBackend) => Promise<void>,
  double: LibgdpDouble = dbl,
): Promise<void> {
  double.dropLogs(); // frees the handles earlier tests' backends kept, as a process exit would
  double.reset();
  const backend = await openLibgdpBackend({ path: double.path, ...FAST, ...options });
  try {
    await fn(backend);
  } finally {
    await backend.close();
  }
  assertClean(backend, double);
}

function assertClean(backend: LibgdpBackend, double: LibgdpDouble): void {
  assertNoLeaks(double);
  const b = backend.counters();
  assert.equal(b.eventsGot, b.eventsFreed, "events got = freed");
  assert.equal(b.datumsAllocated, b.datumsFreed, "datums allocated = freed");
  assert.equal(b.opens, b.closes + b.subscribedLogs, "every open closed but the subscribed");
  assert.equal(backend.state().state, "closed");
}

/** A log in the double holding records "record 1".."record n". */
function makeLog(n = 0, double: LibgdpDouble = dbl): string {
  const name = uniqueLog("backend");
  double.createLog(name);
  appendRange(name, 1, n, double);
  return name;
}

function appendRange(name: string, from: number, to: number, double: LibgdpDouble = dbl): void {
  for (let i = from; i <= to; i++) double.append(name, `record ${i}`);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

interface Collector {
  records: LogRecord[];
  errors: GdpError[];
  stop: () => void;
  recnos(): number[];
}

function collect(handle: LogHandle, from: number): Collector {
  const records: LogRecord[] = [];
  const errors: GdpError[] = [];
  const stop = handle.follow(from, (r) => records.push(r), (e) => errors.push(e));
  return { records, errors, stop, recnos: () => records.map((r) => r.recno) };
}

async function readAll(handle: LogHandle, from: number, count: number): Promise<number[]> {
  const out: number[] = [];
  for await (const record of handle.read(from, count)) out.push(record.recno);
  return out;
}

Deno.test("one handle and one subscription per log, however many opens and spellings", async () => {
  await withBackend({}, async (backend) => {
    const name = makeLog(3);
    const first = await backend.open(name);
    const internal = await backend.open(first.name);
    const many = await Promise.all(Array.from({ length: 1000 }, () => backend.open(name)));
    assert.equal(dbl.counters().opens, 1, "one gdp_gin_open");
    assert.equal(dbl.counters().openHandles, 1);
    assert.equal(backend.counters().opens, 1);
    assert.equal(backend.counters().openLogs, 1);

    const follower = collect(first, 1);
    await waitFor(() => follower.records.length === 3, "3 records");
    assert.equal(dbl.counters().subscribes, 1, "one subscription");
    assert.equal(backend.counters().followers, 1);

    await Promise.all(many.map((handle) => handle.close()));
    await internal.close();
    assert.equal(dbl.counters().openHandles, 1, "still open for the last share");
    dbl.append(name, "record 4");
    await waitFor(() => follower.records.length === 4, "record 4");
    assert.equal(decoder.decode(follower.records[3]?.data), "record 4");

    follower.stop();
    await first.close();
    const c = dbl.counters();
    assert.deepEqual([c.openHandles, c.closes, c.liveSubs], [1, 0, 1], "kept, subscribed");
    assert.equal(backend.counters().subscribedLogs, 1);

    const again = await backend.open(name);
    const next = collect(again, 5);
    dbl.append(name, "record 5");
    await waitFor(() => next.records.length === 1, "record 5");
    assert.deepEqual(next.recnos(), [5]);
    assert.equal(dbl.counters().opens, 1, "the kept handle is taken over");
    assert.equal(dbl.counters().subscribes, 1, "and its subscription");
    next.stop();
    await again.close();
  });
});

Deno.test("a log used without a follow is closed when its last share is released", async () => {
  await withBackend({}, async (backend) => {
    const name = makeLog(3);
    assert.equal((await backend.info(name)).count, 3);
    const log = await backend.open(name);
    assert.deepEqual(await readAll(log, 1, 3), [1, 2, 3]);
    await log.close();
    const c = dbl.counters();
    assert.deepEqual([c.opens, c.closes, c.openHandles, c.subscribes], [2, 2, 0, 0]);
    assert.equal(backend.counters().openLogs, 0);
  });
});

Deno.test("records carry libgdp's own status text as their ep_stat", async () => {
  await withBackend({}, async (backend) => {
    const log = await backend.open(makeLog(2));
    const follower = collect(log, 1);
    await waitFor(() => follower.records.length === 2, "records 1-2");
    for (const record of follower.records) {
      const [code, text] = record.status ?? [0, ""];
      assert.ok(code >= 200 && code < 300, `code ${code}`);
      assert.match(text, /^OK/);
    }
    follower.stop();
    await log.close();
  });
});

Deno.test("a missing log is 600 with ep_stat_tostr's text, and leaves nothing open", async () => {
  await withBackend({}, async (backend) => {
    const missing = uniqueLog("missing");
    for (const attempt of [backend.open(missing), backend.info(missing)]) {
      await assert.rejects(attempt, (error: unknown) => {
        assert.ok(error instanceof GdpError);
        assert.equal(error.code, 600);
        assert.equal(error.message, "ERROR: 600 no route available [Berkeley:Swarm-GDP:600]");
        return true;
      });
    }
    assert.equal(backend.counters().openLogs, 0);
    assert.deepEqual(backend.state(), { ready: true, state: "ok" });
  });
});

Deno.test("info, list and create", async () => {
  await withBackend({}, async (backend) => {
    const name = makeLog(3);
    const info = await backend.info(name);
    assert.match(info.name, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(info, { name: info.name, count: 3, human: name });
    assert.deepEqual(await backend.info(info.name), { name: info.name, count: 3 });
    assert.deepEqual(await backend.list(), []);
    await assert.rejects(
      backend.create("new.log"),
      (e: unknown) => e instanceof GdpError && e.code === 501,
    );
  });
});

Deno.test("last() sees other writers' records although libgdp's count is cached", async () => {
  await withBackend({}, async (backend) => {
    const empty = await backend.open(makeLog(0));
    assert.equal(await empty.last(), 0);
    await empty.close();

    const name = makeLog(2);
    const log = await backend.open(name);
    assert.equal(await log.last(), 2);
    dbl.append(name, "record 3");
    assert.equal(await log.last(), 3);
    const follower = collect(log, 4);
    dbl.append(name, "record 4");
    await waitFor(() => follower.records.length === 1, "record 4");
    assert.equal(await log.last(), 4);
    follower.stop();
    await log.close();
  });
});

Deno.test("read: history in order, fewer records when the log ends sooner", async () => {
  await withBackend({}, async (backend) => {
    const log = await backend.open(makeLog(20));
    assert.deepEqual(await readAll(log, 5, 10), range(5, 14));
    assert.deepEqual(await readAll(log, 15, 100), range(15, 20));
    assert.deepEqual(await readAll(log, 21, 5), []);
    for await (const record of log.read(1, 20)) {
      assert.equal(decoder.decode(record.data), "record 1");
      break; // reads still in flight must be freed too
    }
    await log.close();
  });
});

Deno.test("in order and gapless when libgdp delivers the first record late: the gap is read", async () => {
  dbl.reset();
  await withBackend({ reorderHoldMs: 10 }, async (backend) => {
    dbl.setReorder(300);
    const name = makeLog(5);
    const log = await backend.open(name);
    const follower = collect(log, 1);
    await waitFor(() => follower.records.length === 5, "records 1-5");
    appendRange(name, 6, 8);
    await waitFor(() => follower.records.length === 8, "records 6-8");
    // the late first event still arrives, and must be dropped
    await waitFor(() => backend.counters().duplicatesDropped >= 1, "the late duplicate");
    assert.deepEqual(follower.recnos(), range(1, 8));
    assert.ok(backend.counters().gapReads >= 1);
    assert.deepEqual(follower.errors, []);
    await log.close();
  });
});

Deno.test("in order when the late record comes within the hold: no read needed", async () => {
  await withBackend({ reorderHoldMs: 5_000 }, async (backend) => {
    dbl.setReorder(20);
    const name = makeLog(0);
    const log = await backend.open(name);
    const follower = collect(log, 1);
    await waitFor(() => dbl.counters().liveSubs === 1, "subscribed");
    appendRange(name, 1, 4); // record 1 is delivered after 2-4
    await waitFor(() => follower.records.length === 4, "records 1-4");
    assert.deepEqual(follower.recnos(), range(1, 4));
    assert.equal(backend.counters().gapReads, 0);
    await log.close();
  });
});

Deno.test("resume across a link break: a delay, no gap, no duplicate, no error", async () => {
  await withBackend({ downAfterMs: 10_000 }, async (backend) => {
    const name = makeLog(5);
    const log = await backend.open(name);
    const follower = collect(log, 1);
    await waitFor(() => follower.records.length === 5, "records 1-5");
    dbl.breakLink(60_000);
    await waitFor(() => backend.state().state === "connecting", "retrying");
    assert.equal(backend.state().ready, true, "not down yet");
    appendRange(name, 6, 10);
    dbl.restoreLink();
    await waitFor(() => follower.records.length === 10, "records 6-10");
    assert.deepEqual(follower.recnos(), range(1, 10));
    assert.deepEqual(follower.errors, []);
    assert.ok(backend.counters().resubscribes >= 1);
    assert.equal(dbl.counters().subscribes, 2, "renewed once, on the same handle");
    assert.equal(dbl.counters().opens, 1, "never reopened");
    await waitFor(() => backend.state().state === "ok", "ok again");
    follower.stop();
    await log.close();
  });
});

Deno.test("a follow that starts during an outage waits for the link, then gets everything", async () => {
  await withBackend({}, async (backend) => {
    const name = makeLog(3);
    const log = await backend.open(name);
    dbl.breakLink(60_000);
    await assert.rejects(log.last(), (e: unknown) => e instanceof GdpError && e.code === 600);
    const follower = collect(log, 1);
    await waitFor(() => backend.state().state === "connecting", "retrying");
    dbl.append(name, "record 4");
    dbl.restoreLink();
    await waitFor(() => follower.records.length === 4, "records 1-4");
    assert.deepEqual(follower.recnos(), range(1, 4));
    assert.deepEqual(follower.errors, []);
    follower.stop();
    await log.close();
  });
});

Deno.test("SHUTDOWN and FAILURE events renew the subscription on the same handle", async () => {
  await withBackend({}, async (backend) => {
    const name = makeLog(2);
    const log = await backend.open(name);
    const follower = collect(log, 1);
    await waitFor(() => follower.records.length === 2, "records 1-2");
    dbl.endSubscriptions(SHUTDOWN);
    appendRange(name, 3, 4);
    await waitFor(() => follower.records.length === 4, "records 3-4");
    dbl.endSubscriptions(FAILURE);
    appendRange(name, 5, 6);
    await waitFor(() => follower.records.length === 6, "records 5-6");
    assert.deepEqual(follower.recnos(), range(1, 6));
    assert.equal(backend.counters().resubscribes, 2);
    assert.equal(dbl.counters().opens, 1);
    follower.stop();
    await log.close();
  });
});

Deno.test("a subscription lost silently (a log server restart) is caught up by the probe", async () => {
  await withBackend({ probeMs: 30 }, async (backend) => {
    const name = makeLog(2);
    const log = await backend.open(name);
    const follower = collect(log, 1);
    await waitFor(() => follower.records.length === 2, "records 1-2");
    dbl.endSubscriptions(SILENTLY);
    appendRange(name, 3, 5);
    await waitFor(() => follower.records.length === 5, "records 3-5, read");
    assert.deepEqual(follower.recnos(), range(1, 5));
    assert.ok(backend.counters().probes >= 1);
    assert.equal(backend.counters().resubscribes, 0, "libgdp renews it by itself");
    follower.stop();
    await log.close();
  });
});

Deno.test("503 to followers once per outage past downAfterMs, and records resume after", async () => {
  await withBackend({ downAfterMs: 100, probeMs: 20 }, async (backend) => {
    const name = makeLog(1);
    const log = await backend.open(name);
    const follower = collect(log, 1);
    await waitFor(() => follower.records.length === 1, "record 1");
    for (const outage of [1, 2]) {
      dbl.breakLink(60_000);
      await waitFor(() => follower.errors.length === outage, `the 503 of outage ${outage}`);
      assert.equal(follower.errors[outage - 1]?.code, 503);
      const state = backend.state();
      assert.equal(state.ready, false);
      assert.equal(state.state, "down");
      await assert.rejects(log.last(), (e: unknown) => e instanceof GdpError && e.code === 503);
      appendRange(name, 2 * outage, 2 * outage + 1);
      dbl.restoreLink();
      await waitFor(() => follower.records.length === 2 * outage + 1, "the records of the outage");
      await waitFor(() => backend.state().state === "ok", "ok again");
    }
    assert.deepEqual(follower.recnos(), range(1, 5));
    assert.equal(follower.errors.length, 2, "one 503 per outage");
    assert.equal(backend.counters().downReports, 2);
    follower.stop();
    await log.close();
  });
});

Deno.test("a later follower from an older recno gets what was dropped meanwhile, read again", async () => {
  await withBackend({}, async (backend) => {
    const name = makeLog(6);
    const log = await backend.open(name);
    const first = collect(log, 1);
    await waitFor(() => first.records.length === 6, "records 1-6");
    first.stop();
    dbl.append(name, "record 7"); // handed on to nobody
    await waitFor(() => backend.counters().delivered === 7, "record 7 passed");
    const second = collect(log, 2);
    await waitFor(() => second.records.length === 6, "records 2-7");
    dbl.append(name, "record 8");
    await waitFor(() => second.records.length === 7, "record 8");
    assert.deepEqual(second.recnos(), range(2, 8));
    assert.equal(dbl.counters().subscribes, 1, "one subscription all along");
    assert.throws(() => log.follow(1, () => {}, () => {}), GdpError, "one follower at a time");
    second.stop();
    await log.close();
  });
});

Deno.test("past maxSubscribed logs, a follow polls the log: in order, gapless, closable", async () => {
  await withBackend({ maxSubscribed: 0, probeMs: 20 }, async (backend) => {
    const name = makeLog(2);
    const log = await backend.open(name);
    const follower = collect(log, 1);
    appendRange(name, 3, 6);
    await waitFor(() => follower.records.length === 6, "records 1-6");
    assert.deepEqual(follower.recnos(), range(1, 6));
    assert.equal(dbl.counters().subscribes, 0);
    assert.equal(backend.counters().polledFollows, 1);
    follower.stop();
    await log.close();
    assert.equal(dbl.counters().openHandles, 0, "a polled log's handle is closed");
  });
});

Deno.test("append: through the log's handle when appendable, else 501", async () => {
  await withBackend({ appendable: true }, async (backend) => {
    const log = await backend.open(makeLog(1));
    const follower = collect(log, 2);
    const record = await log.append(encoder.encode("appended"));
    assert.equal(record.recno, 2);
    await waitFor(() => follower.records.length === 1, "the appended record");
    assert.equal(decoder.decode(follower.records[0]?.data), "appended");
    await log.close();
  });
  await withBackend({}, async (backend) => {
    const log = await backend.open(makeLog(1));
    await assert.rejects(
      log.append(encoder.encode("x")),
      (e: unknown) => e instanceof GdpError && e.code === 501,
    );
    await log.close();
  });
});

Deno.test("the router option reaches gdp_init", async () => {
  await withBackend({ router: "gdp.example.org:8009" }, () => {
    assert.equal(dbl.router(), "gdp.example.org:8009");
    return Promise.resolve();
  });
});

Deno.test("close() stops every log and keeps only subscribed handles; it refuses work after", async () => {
  dbl.dropLogs();
  dbl.reset();
  const backend = await openLibgdpBackend({ path: dbl.path, ...FAST });
  const log = await backend.open(makeLog(2));
  const follower = collect(log, 1);
  await waitFor(() => follower.records.length === 2, "records");
  const unused = await backend.open(makeLog(1));
  await backend.close(); // with the follow and both handles still open
  assert.deepEqual(backend.state(), { ready: false, state: "closed" });
  await assert.rejects(backend.open("x"), (e: unknown) => e instanceof GdpError && e.code === 503);
  await assert.rejects(log.last(), GdpError);
  await log.close();
  await unused.close();
  assert.deepEqual([dbl.counters().openHandles, dbl.counters().liveSubs], [1, 1]);
  assertClean(backend, dbl);
});

Deno.test("two backends in one process share libgdp's event queue", async () => {
  await withBackend({}, async (one) => {
    const two = await openLibgdpBackend({ path: dbl.path, ...FAST });
    try {
      const [x, y] = [makeLog(1), makeLog(1)];
      const a = collect(await one.open(x), 1);
      const b = collect(await two.open(y), 1);
      appendRange(x, 2, 3);
      appendRange(y, 2, 3);
      await waitFor(() => a.records.length === 3 && b.records.length === 3, "both");
      assert.deepEqual([a.recnos(), b.recnos()], [range(1, 3), range(1, 3)]);
    } finally {
      await two.close();
    }
  });
});

Deno.test("records other writers appended are read before an append, which then displaces none", async () => {
  await withBackend({ appendable: true }, async (backend) => {
    const name = makeLog(1);
    const log = await backend.open(name);
    assert.equal((await log.append(encoder.encode("mine 1"))).recno, 2);
    dbl.append(name, "theirs"); // record 3, unseen by this process's cached count
    dbl.append(name, "theirs too");
    const record = await log.append(encoder.encode("mine 2"));
    assert.equal(record.recno, 5, "numbered past the other writer's records");
    assert.equal(dbl.counters().appendsLost, 0, "libgdp's count was raised before the append");
    assert.equal(backend.counters().appendRetries, 0);
    const stored = [];
    for await (const r of log.read(1, 10)) stored.push(decoder.decode(r.data));
    assert.deepEqual(stored, ["record 1", "mine 1", "theirs", "theirs too", "mine 2"]);
    await log.close();
  });
});

Deno.test("an append another writer displaced is appended again: no 404 from gdplogd's count, no loss", async () => {
  await withBackend({ appendable: true }, async (backend) => {
    const name = makeLog(1);
    const log = await backend.open(name);
    // Another process's append reaches gdplogd first, under the number libgdp gives ours;
    // gdplogd counts ours all the same, so "the last record" (-1) it names does not exist.
    dbl.raceAppend(name, "theirs");
    const record = await log.append(encoder.encode("mine"));
    assert.equal(record.recno, 3, "numbered past the other writer's record");
    assert.equal(dbl.counters().appendsLost, 1, "libgdp's first try was answered OK and dropped");
    assert.equal(backend.counters().appendRetries, 1);
    const stored = [];
    for await (const r of log.read(1, 10)) stored.push(decoder.decode(r.data));
    assert.deepEqual(stored, ["record 1", "theirs", "mine"]);
    await log.close();
    // Opened afresh, the handle carries gdplogd's count (4): the records say 3.
    assert.equal((await backend.info(name)).count, 3, "the count is the records'");
    const reopened = await backend.open(name);
    assert.equal(await reopened.last(), 3);
    await reopened.close();
  });
});

Deno.test("a name asked for before its log existed is served as soon as it does", async () => {
  await withBackend({}, async (backend) => {
    const name = uniqueLog("fresh");
    await assert.rejects(
      backend.open(name),
      (e: unknown) => e instanceof GdpError && e.code === 600,
    );
    dbl.createLog(name); // the name database did not know it: nothing was cached
    dbl.append(name, "record 1");
    const log = await backend.open(name);
    assert.equal(await log.last(), 1);
    await log.close();
  });
});

Deno.test("a handle is closed only once the calls in flight on it have returned", async () => {
  await withBackend({}, async (backend) => {
    const log = await backend.open(makeLog(3));
    dbl.setLatency(100_000); // every call takes 100 ms
    try {
      const reading = readAll(log, 1, 3); // three reads in flight at once
      await new Promise((resolve) => setTimeout(resolve, 20));
      await log.close(); // libgdp would free those reads' requests under them
      assert.deepEqual(await reading, [1, 2, 3]);
      assert.deepEqual([dbl.counters().closes, dbl.counters().openHandles], [1, 0]);
    } finally {
      dbl.setLatency(0);
    }
  });
});
