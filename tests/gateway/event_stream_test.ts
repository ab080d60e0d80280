/** GET /logs/NAME/events: the Server-Sent Events stream, read as curl and EventSource read it. */

import assert from "node:assert/strict";
import type { Limits } from "../../src/config.ts";
import { formatRfc3339 } from "../../src/core/time.ts";
import type { Gateway } from "../../src/gateway/gateway.ts";
import { appendRange, embeddedFixture, serveForTest } from "../helpers/gateway.ts";
import { shippedTest } from "../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** One parsed SSE block: its fields, or a comment. */
interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comment?: string;
}

/** Reads an event stream block by block. */
class SseReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next block; fails after `timeoutMs` instead of hanging. */
  async next(timeoutMs = 10_000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#buffer.includes("\n\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no event in time")), deadline - Date.now());
      });
      const { value, done } = await Promise.race([this.#reader.read(), timeout])
        .finally(() => clearTimeout(timer));
      if (done) return undefined;
      this.#buffer += value;
    }
    const end = this.#buffer.indexOf("\n\n");
    const block = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 2);
    const event: SseEvent = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) event.comment = line.slice(1).trim();
      else {
        const colon = line.indexOf(":");
        const field = line.slice(0, colon) as keyof SseEvent;
        event[field] = line.slice(colon + 1).trimStart();
      }
    }
    return event;
  }

  /** The next `n` record events (skipping heartbeats and the retry hint). */
  async records(n: number): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    while (out.length < n) {
      const event = await this.next();
      if (!event) throw new Error(`stream ended after ${out.length} of ${n} records`);
      if (event.id !== undefined) out.push(event);
    }
    return out;
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function eventsUrl(gateway: Gateway, path: string): string {
  return gateway.url.replace(/^ws/, "http").replace(/\/$/, "") + path;
}

function streamTest(
  name: string,
  limits: Partial<Limits>,
  fn: (gateway: Gateway, append: (from: number, to: number) => Promise<void>) => Promise<void>,
): void {
  shippedTest(name, async (dataDir) => {
    const fixture = await embeddedFixture(dataDir);
    const gateway = await serveForTest(fixture.backend, limits);
    await fixture.createLog("sse.demo");
    try {
      await fn(gateway, (from, to) => appendRange(fixture, "sse.demo", from, to));
    } finally {
      await gateway.shutdown();
      await fixture.teardown();
    }
  });
}

function recnoOf(event: SseEvent): number {
  return (JSON.parse(event.data!) as { datum: { recno: number } }).datum.recno;
}

streamTest(
  "event stream: id is the recno, data the record's JSON, stored then live",
  {},
  async (gateway, append) => {
    await append(1, 3);
    const response = await fetch(eventsUrl(gateway, "/logs/sse.demo/events?start=1"));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-store");
    const reader = new SseReader(response);
    assert.deepEqual(await reader.next(), { retry: "1000" });
    const stored = await reader.records(3);
    assert.deepEqual(stored.map((e) => e.id), ["1", "2", "3"]);
    const first = JSON.parse(stored[0]!.data!);
    assert.equal(first.type, 1);
    assert.equal(first.logname, "sse.demo");
    assert.equal(first.datum.data, "record 1");
    await append(4, 6);
    assert.deepEqual((await reader.records(3)).map(recnoOf), [4, 5, 6]);
    await reader.cancel();
  },
);

streamTest("event stream: Last-Event-ID resumes at the next recno", {}, async (gateway, append) => {
  await append(1, 10);
  const url = eventsUrl(gateway, "/logs/sse.demo/events?start=1");
  const resumed = await fetch(url, { headers: { "last-event-id": "7" } });
  const reader = new SseReader(resumed);
  assert.deepEqual((await reader.records(3)).map(recnoOf), [8, 9, 10]);
  await reader.cancel();
  // A count from an absolute start counts from that start: 4 from record 5 ends at 8.
  const bounded = await fetch(eventsUrl(gateway, "/logs/sse.demo/events?start=5&count=4"), {
    headers: { "last-event-id": "6" },
  });
  const boundedReader = new SseReader(bounded);
  assert.deepEqual((await boundedReader.records(2)).map(recnoOf), [7, 8]);
  const done = await boundedReader.next();
  assert.equal(done?.event, "done");
  assert.equal(JSON.parse(done!.data!).type, 2);
  assert.equal(await boundedReader.next(), undefined, "the stream ends after done");
  // Resuming a stream that has delivered all it was asked for: 204 stops EventSource.
  const finished = await fetch(eventsUrl(gateway, "/logs/sse.demo/events?start=5&count=4"), {
    headers: { "last-event-id": "8" },
  });
  assert.equal(finished.status, 204);
});

streamTest(
  "event stream: since starts at the first record at or after it; Last-Event-ID still wins",
  {},
  async (gateway, append) => {
    await append(1, 10);
    const stored = await (await fetch(eventsUrl(gateway, "/logs/sse.demo/records"))).json() as {
      ts: { tv_sec: number; tv_nsec: number };
    }[];
    const since = encodeURIComponent(formatRfc3339({
      sec: stored[3]!.ts.tv_sec,
      nsec: stored[3]!.ts.tv_nsec,
    }));
    const url = eventsUrl(gateway, `/logs/sse.demo/events?since=${since}`);
    const fresh = new SseReader(await fetch(url));
    assert.deepEqual((await fresh.records(3)).map(recnoOf), [4, 5, 6]);
    await fresh.cancel();
    const resumed = new SseReader(await fetch(url, { headers: { "last-event-id": "7" } }));
    assert.deepEqual((await resumed.records(3)).map(recnoOf), [8, 9, 10]);
    await append(11, 11);
    assert.deepEqual((await resumed.records(1)).map(recnoOf), [11], "then live");
    await resumed.cancel();
  },
);

streamTest(
  "event stream: a missing log is 404, bad parameters 400, other methods 405",
  {},
  async (gateway) => {
    const missing = await fetch(eventsUrl(gateway, "/logs/no.such/events"));
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).ep_stat[0], 600);
    const cases: [string, string, string][] = [
      ["?start=abc", "", "start must be an integer"],
      ["?count=-1", "", "numrec must be from 0"],
      ["", "x", "Last-Event-ID must be an integer"],
      ["?since=yesterday", "", "since must be an RFC 3339 time"],
      ["?since=2026-12-07T05:49:54Z&start=1", "", "since and start exclude each other"],
    ];
    for (const [query, header, problem] of cases) {
      const headers: Record<string, string> = header ? { "last-event-id": header } : {};
      const bad = await fetch(eventsUrl(gateway, `/logs/sse.demo/events${query}`), { headers });
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).ep_stat[1], new RegExp(problem));
    }
    const post = await fetch(eventsUrl(gateway, "/logs/sse.demo/events"), { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  },
);

streamTest(
  "event stream: heartbeat comments while idle",
  { idleTimeoutSec: 1 },
  async (gateway) => {
    const response = await fetch(eventsUrl(gateway, "/logs/sse.demo/events"));
    const reader = new SseReader(response);
    assert.deepEqual(await reader.next(), { retry: "1000" });
    assert.deepEqual(await reader.next(5_000), { comment: "heartbeat" });
    await reader.cancel();
  },
);

streamTest("event stream: counts against max-connections; shutdown ends it with a shutdown event", {
  maxConnections: 1,
}, async (gateway) => {
  const response = await fetch(eventsUrl(gateway, "/logs/sse.demo/events"));
  const reader = new SseReader(response);
  await reader.next();
  const second = await fetch(eventsUrl(gateway, "/logs/sse.demo/events"));
  assert.equal(second.status, 503);
  await second.body?.cancel();
  assert.equal(gateway.connections(), 1);
  const stopping = gateway.shutdown();
  const event = await reader.next();
  assert.equal(event?.event, "shutdown");
  assert.equal(JSON.parse(event!.data!).type, 3);
  assert.equal(await reader.next(), undefined);
  await stopping;
});
