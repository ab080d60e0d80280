/**
 * Captures what gdp-ws logs in this process (LogTape records of the
 * `gdp-ws` category at `info` and above) while `fn` runs.
 */

import { configure, type LogRecord, reset } from "@logtape/logtape";

/** A captured log line: its level and its message with the properties filled in. */
export interface Captured {
  level: string;
  text: string;
  properties: Record<string, unknown>;
}

function render(record: LogRecord): string {
  return record.message.map((part) => typeof part === "string" ? part : String(part)).join("");
}

/** Runs `fn` with gdp-ws's logs going to the array it is given; restores no logging after. */
export async function captureLogs<T>(fn: (lines: Captured[]) => Promise<T>): Promise<T> {
  const lines: Captured[] = [];
  await configure({
    reset: true,
    sinks: {
      capture: (record) =>
        lines.push({ level: record.level, text: render(record), properties: record.properties }),
    },
    loggers: [
      { category: ["gdp-ws"], lowestLevel: "info", sinks: ["capture"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["capture"] },
    ],
  });
  try {
    return await fn(lines);
  } finally {
    await reset();
  }
}
