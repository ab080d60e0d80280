/**
 * Logging setup (LogTape). Modules log through `getLogger(["gdp-ws", ...])`;
 * only the entry point configures sinks, so library use stays silent.
 *
 * @module
 */

import {
  configure,
  getTextFormatter,
  jsonLinesFormatter,
  type LogLevel,
  reset,
} from "@logtape/logtape";
import type { LogFormat } from "../config.ts";
import { type BoundedSink, boundedStreamSink } from "./log_sink.ts";

/**
 * Lines waiting for standard error before new ones are dropped: when it is a
 * pipe nobody reads, logging must neither grow the process nor hold it.
 */
const LOG_QUEUE_BYTES = 1 << 20;

/** How long stopping waits for queued lines to reach standard error. */
const LOG_FLUSH_MS = 1000;

let sink: BoundedSink | undefined;

/** Sends gdp-ws's logs to stderr at `level` and above, as text or JSON lines. */
export async function setupLogging(level: LogLevel, format: LogFormat): Promise<void> {
  sink = boundedStreamSink(Deno.stderr.writable, {
    formatter: format === "json" ? jsonLinesFormatter : getTextFormatter(),
    maxBytes: LOG_QUEUE_BYTES,
    flushMs: LOG_FLUSH_MS,
  });
  await configure({
    reset: true,
    sinks: { stderr: sink },
    loggers: [
      { category: ["gdp-ws"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/**
 * Flushes (for at most a second: a stuck standard error must not hold
 * shutdown) and removes the sinks.
 */
export async function stopLogging(): Promise<void> {
  await reset();
}

/** Log lines dropped because standard error did not take them, since logging was set up. */
export function droppedLogLines(): number {
  return sink?.dropped() ?? 0;
}
