/** The bounded log sink: a stream that does not take lines never grows it or holds its disposal. */

import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { boundedStreamSink } from "../../src/ops/log_sink.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const record = (n: number): LogRecord => ({
  category: ["gdp-ws", "test"],
  level: "info",
  message: [`line ${n} ${"x".repeat(90)}`],
  rawMessage: `line ${n}`,
  timestamp: 0,
  properties: {},
});

const formatter = (r: LogRecord) => `${r.message.join("")}\n`;

/** A stream whose writes complete only when `release` is called; what it took, as text. */
function stuckStream() {
  const written: string[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      await gate;
      written.push(new TextDecoder().decode(chunk));
    },
  });
  return { stream, written, release };
}

/** `promise`, or a failure after `ms`: a hang becomes an assertion, not a stuck test. */
async function settles<T>(promise: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a stream that takes nothing: lines past the bound are dropped and counted, disposal does not wait", async () => {
  const { stream, written, release } = stuckStream();
  const sink = boundedStreamSink(stream, { formatter, maxBytes: 4096, flushMs: 20 });
  for (let n = 1; n <= 10_000; n++) sink(record(n));
  // The first line is in the stuck write; about 40 lines of 100 bytes wait; the rest are dropped.
  const dropped = sink.dropped();
  assert.ok(dropped > 9_900 && dropped < 10_000, `${dropped} dropped`);
  await settles(sink.flush(20), 10_000, "flush");
  assert.deepEqual(written, []);

  release();
  await settles(sink.flush(10_000), 20_000, "the flush after the stream takes lines");
  const text = written.join("");
  const kept = text.split("\n").filter((l) => l.startsWith("line "));
  assert.equal(kept.length, 10_000 - dropped);
  assert.match(
    text,
    new RegExp(`\n${dropped} log lines dropped: standard error did not take them\n$`),
  );
  sink(record(10_001));
  await settles(sink[Symbol.asyncDispose](), 20_000, "dispose");
  assert.match(written.at(-1)!, /^line 10001 /, "the notice is said once");
  stream.getWriter().releaseLock(); // disposed when idle: the stream is free again
});

Deno.test("disposal returns while a write is stuck, and leaves that write alone", async () => {
  const { stream, release } = stuckStream();
  const sink = boundedStreamSink(stream, { formatter, maxBytes: 4096, flushMs: 20 });
  sink(record(1));
  await settles(sink[Symbol.asyncDispose](), 10_000, "dispose");
  assert.throws(() => stream.getWriter(), TypeError, "the stuck write keeps its writer");
  release();
});

Deno.test("a stream that fails (a closed pipe): every line after is dropped, nothing throws", async () => {
  const stream = new WritableStream<Uint8Array>({
    write() {
      throw new Error("broken pipe");
    },
  });
  const sink = boundedStreamSink(stream, { formatter, maxBytes: 4096, flushMs: 20 });
  sink(record(1));
  await settles(sink.flush(10_000), 20_000, "flush");
  for (let n = 2; n <= 5; n++) sink(record(n));
  assert.equal(sink.dropped(), 5);
  await settles(sink[Symbol.asyncDispose](), 10_000, "dispose");
});
