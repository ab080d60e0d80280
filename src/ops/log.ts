/**
 * Logging setup (LogTape). Modules log through `getLogger(["gdp-ws", ...])`;
 * only the entry point configures sinks, so library use stays silent.
 *
 * @module
 */

import {
  configure,
  getStreamSink,
  getTextFormatter,
  jsonLinesFormatter,
  type LogLevel,
  reset,
} from "@logtape/logtape";
import type { LogFormat } from "../config.ts";

/** Sends gdp-ws's logs to stderr at `level` and above, as text or JSON lines. */
export async function setupLogging(level: LogLevel, format: LogFormat): Promise<void> {
  await configure({
    reset: true,
    sinks: {
      stderr: getStreamSink(Deno.stderr.writable, {
        formatter: format === "json" ? jsonLinesFormatter : getTextFormatter(),
      }),
    },
    loggers: [
      { category: ["gdp-ws"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Flushes and removes the sinks (tests and shutdown). */
export async function stopLogging(): Promise<void> {
  await reset();
}
