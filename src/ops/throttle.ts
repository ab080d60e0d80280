/**
 * Keeps a repeated failure from flooding the log: the first occurrence of a
 * message is logged, repeats within `intervalMs` are only counted.
 *
 * @example
 * ```ts
 * import { getLogger } from "@logtape/logtape";
 *
 * const log = getLogger(["gdp-ws", "store"]);
 * const throttle = new LogThrottle(10_000);
 * const suppressed = throttle.due("disk full");
 * if (suppressed !== undefined) log.error("disk full ({n} repeats)", { n: suppressed });
 * ```
 *
 * @module
 */

export class LogThrottle {
  readonly #intervalMs: number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Repeats suppressed since the last report when `key` is due a log line; else undefined. */
  due(key: string): number | undefined {
    const now = performance.now();
    const entry = this.#last.get(key);
    if (entry && now - entry.at < this.#intervalMs) {
      entry.suppressed++;
      return undefined;
    }
    // Bounded: a client cannot grow the map with endless distinct messages.
    if (this.#last.size >= 100) this.#last.clear();
    this.#last.set(key, { at: now, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }
}
