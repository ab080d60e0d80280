/**
 * A point in time on the command line (`--since`, `--until`): an RFC 3339
 * time, or how long ago, as a duration such as `15m`, `2h30m` or `7d`
 * (`ms`, `s`, `m`, `h`, `d`). Resolved to RFC 3339 text to the millisecond,
 * what the gateway takes as `startts`, `since` and `until`.
 *
 * @example
 * ```ts
 * const at = Date.parse("2026-12-07T06:00:00Z");
 * timeArgument("15m", "since", at); // "2026-12-07T05:45:00Z"
 * timeArgument("2026-12-07T05:49:54.5Z", "since"); // the same text
 * ```
 *
 * @module
 */

import { ConfigError } from "../config.ts";
import { formatRfc3339, parseRfc3339 } from "../core/time.ts";

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `text` as RFC 3339 text: itself when it is a time, `now` less it when it is a duration. */
export function timeArgument(text: string, flag: string, now = Date.now()): string {
  if (/^(\d{1,9}(ms|s|m|h|d))+$/.test(text)) {
    let ms = 0;
    for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
      ms += Number(amount) * UNIT_MS[unit!]!;
    }
    const at = now - ms;
    const sec = Math.floor(at / 1000);
    return formatRfc3339({ sec, nsec: (at - sec * 1000) * 1_000_000 });
  }
  const parsed = parseRfc3339(text);
  if (typeof parsed === "string") {
    throw new ConfigError(
      `--${flag} must be a duration ago (15m, 2h30m, 7d) or an RFC 3339 time ` +
        `(2026-12-07T05:49:54Z), not ${JSON.stringify(text)}`,
    );
  }
  return text;
}
