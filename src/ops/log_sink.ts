/**
 * A LogTape sink that can never hold the process: lines are formatted at
 * once and queued, one write at a time goes to the stream, and when the
 * stream does not take them (standard error a pipe nobody reads) the queue
 * stops at `maxBytes` and further lines are dropped and counted. When a write
 * completes again, one line says how many were dropped. Disposing waits for
 * the queue at most `flushMs`: a stuck write must not keep shutdown waiting.
 *
 * @example
 * ```ts
 * import { getTextFormatter } from "@logtape/logtape";
 *
 * const sink = boundedStreamSink(Deno.stderr.writable, {
 *   formatter: getTextFormatter(),
 *   maxBytes: 1 << 20,
 *   flushMs: 1000,
 * });
 * // configure({ sinks: { stderr: sink }, ... }); then, at shutdown:
 * await sink[Symbol.asyncDispose]();
 * console.log(sink.dropped());
 * ```
 *
 * @module
 */

import { concat } from "../io/bytes.ts";
import type { LogRecord, Sink, TextFormatter } from "@logtape/logtape";

export interface BoundedSinkOptions {
  formatter: TextFormatter;
  /** Bytes of formatted lines held while the stream does not take them; more are dropped. */
  maxBytes: number;
  /** How long disposing waits for queued lines to be written, in ms. */
  flushMs: number;
}

/** A sink with a count of the lines it dropped, disposed without waiting past its deadline. */
export type BoundedSink = Sink & AsyncDisposable & {
  /** Lines dropped since the sink was made. */
  dropped(): number;
  /** Resolves once every queued line is written, or after `ms`, whichever is first. */
  flush(ms: number): Promise<void>;
};

/** Lines of a stream, written one batch at a time, at most `maxBytes` waiting. */
export function boundedStreamSink(
  stream: WritableStream<Uint8Array>,
  options: BoundedSinkOptions,
): BoundedSink {
  const encoder = new TextEncoder();
  const writer = stream.getWriter();
  let queue: Uint8Array[] = [];
  let queuedBytes = 0;
  let writing = false;
  let dropped = 0;
  /** Drops not yet reported by a line of their own. */
  let unreported = 0;
  let broken = false;
  const idle = new Set<() => void>();

  const enqueue = (bytes: Uint8Array): boolean => {
    if (broken || queuedBytes + bytes.length > options.maxBytes) return false;
    queue.push(bytes);
    queuedBytes += bytes.length;
    if (!writing) void pump();
    return true;
  };

  /** Writes what is queued, a batch per write, until the queue is empty. */
  const pump = async () => {
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.length === 1 ? queue[0]! : concat(queue);
        const lines = queue.length;
        queue = [];
        queuedBytes = 0;
        try {
          await writer.write(batch);
        } catch {
          // The stream is gone (a closed pipe): everything from here on is dropped.
          broken = true;
          dropped += lines + queue.length;
          queue = [];
          queuedBytes = 0;
          return;
        }
        if (unreported > 0) {
          const notice = droppedNotice(unreported);
          if (enqueue(encoder.encode(options.formatter(notice)))) unreported = 0;
        }
      }
    } finally {
      writing = false;
      for (const resolve of idle) resolve();
      idle.clear();
    }
  };

  const flush = (ms: number): Promise<void> => {
    if (!writing && queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        idle.delete(done);
        resolve();
      }
      idle.add(done);
    });
  };

  const sink = (record: LogRecord) => {
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode(options.formatter(record));
    } catch {
      dropped++;
      return;
    }
    if (!enqueue(bytes)) {
      dropped++;
      unreported++;
    }
  };
  return Object.assign(sink, {
    dropped: () => dropped,
    flush,
    [Symbol.asyncDispose]: async () => {
      await flush(options.flushMs);
      // A write still stuck keeps the writer: releasing it would fail that write's promise
      // and closing would wait for it. Otherwise the stream is free for the next sink.
      if (!writing) writer.releaseLock();
    },
  });
}

/** The line that reports `n` dropped lines once the stream takes lines again. */
function droppedNotice(n: number): LogRecord {
  const text = "log lines dropped: standard error did not take them";
  return {
    category: ["gdp-ws", "log"],
    level: "warning",
    message: ["", n, ` ${text}`],
    rawMessage: `{dropped} ${text}`,
    timestamp: Date.now(),
    properties: { dropped: n },
  };
}
