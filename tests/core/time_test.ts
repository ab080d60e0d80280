/** RFC 3339 times (src/core/time.ts): read to the nanosecond, written back, compared. */

import assert from "node:assert/strict";
import { compareTs, formatRfc3339, MAX_SEC, MIN_SEC, parseRfc3339 } from "../../src/core/time.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("RFC 3339 text is read to the nanosecond, offsets and leap years included", () => {
  const cases: [string, number, number][] = [
    ["1970-01-01T00:00:00Z", 0, 0],
    ["2026-12-07T05:49:54.5Z", 1_796_622_594, 500_000_000],
    ["2026-12-07t05:49:54.000000001z", 1_796_622_594, 1],
    ["2026-12-07T06:49:54.123456789+01:00", 1_796_622_594, 123_456_789],
    ["2026-12-06T23:19:54-06:30", 1_796_622_594, 0],
    ["2024-02-29T00:00:00Z", 1_709_164_800, 0],
    ["1969-12-31T23:59:59.75Z", -1, 750_000_000],
    ["0000-01-01T00:00:00Z", MIN_SEC, 0],
    ["9999-12-31T23:59:59.999999999Z", MAX_SEC, 999_999_999],
    ["2016-12-31T23:59:60Z", 1_483_228_800, 0], // a leap second: the next minute's first
  ];
  for (const [text, sec, nsec] of cases) {
    assert.deepEqual(parseRfc3339(text), { sec, nsec, accuracy: 0 }, text);
  }
  // The same instants as JavaScript reads them, where it can (milliseconds).
  for (const [text, sec, nsec] of cases.slice(0, 6)) {
    assert.equal(Date.parse(text.toUpperCase()), sec * 1000 + Math.floor(nsec / 1e6), text);
  }
});

Deno.test("anything else is refused with the reason", () => {
  const bad: [string, RegExp][] = [
    ["yesterday", /must be an RFC 3339 time such as/],
    ["", /must be an RFC 3339 time/],
    ["2026-12-07", /must be an RFC 3339 time/],
    ["2026-12-07T05:49:54", /must be an RFC 3339 time/], // no offset: whose local time?
    ["2026-12-07 05:49:54Z", /must be an RFC 3339 time/],
    ["2026-12-07T05:49:54.1234567891Z", /must be an RFC 3339 time/], // past nanoseconds
    ["2026-12-07T05:49:54,5Z", /must be an RFC 3339 time/],
    ["+02026-12-07T05:49:54Z", /must be an RFC 3339 time/],
    ["2026-13-01T00:00:00Z", /no such date: 2026-13-01/],
    ["2023-02-29T00:00:00Z", /no such date: 2023-02-29/],
    ["2026-04-31T00:00:00Z", /no such date/],
    ["2026-12-07T24:00:00Z", /no such time of day/],
    ["2026-12-07T05:60:00Z", /no such time of day/],
    ["2026-12-07T05:49:61Z", /no such time of day/],
    ["2026-12-07T05:49:54+24:00", /no such offset/],
    ["2026-12-07T05:49:54Z".repeat(100), /must be an RFC 3339 time/],
  ];
  for (const [text, reason] of bad) {
    const result = parseRfc3339(text);
    assert.equal(typeof result, "string", text);
    assert.match(result as string, reason, text);
  }
});

Deno.test("times are written in UTC with the fraction they need, and read back the same", () => {
  assert.equal(formatRfc3339({ sec: 0, nsec: 0 }), "1970-01-01T00:00:00Z");
  assert.equal(formatRfc3339({ sec: 1_796_622_594, nsec: 500_000_000 }), "2026-12-07T05:49:54.5Z");
  assert.equal(formatRfc3339({ sec: -1, nsec: 1 }), "1969-12-31T23:59:59.000000001Z");
  assert.equal(formatRfc3339({ sec: MIN_SEC, nsec: 0 }), "0000-01-01T00:00:00Z");
  let seed = 7;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  for (let i = 0; i < 2000; i++) {
    const ts = {
      sec: Math.floor(MIN_SEC + random() * (MAX_SEC - MIN_SEC)),
      nsec: Math.floor(random() * 1e9),
    };
    assert.deepEqual(parseRfc3339(formatRfc3339(ts)), { ...ts, accuracy: 0 });
  }
});

Deno.test("compareTs orders by second, then nanosecond, and ignores accuracy", () => {
  assert.ok(compareTs({ sec: 1, nsec: 999_999_999 }, { sec: 2, nsec: 0 }) < 0);
  assert.ok(compareTs({ sec: 2, nsec: 1 }, { sec: 2, nsec: 0 }) > 0);
  const coarse = { sec: 2, nsec: 5, accuracy: 0.5 };
  const exact = { sec: 2, nsec: 5, accuracy: 0 };
  assert.equal(compareTs(coarse, exact), 0);
});
