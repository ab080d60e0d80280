/**
 * IP addresses and CIDR ranges (issue 22): strict parsing, one canonical
 * form for both families, and the ranges `--trust-proxy` takes.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalIp,
  formatIp,
  IpRanges,
  isLoopback,
  parseIp,
  RangeSyntaxError,
} from "../../src/net/ip_ranges.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("addresses: both families, one canonical form", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["::FFFF:7f00:1", "127.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["::1", "::1"],
    ["::", "::"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
    ["1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"],
    ["fe80::1:2", "fe80::1:2"],
    ["1::", "1::"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [text, canonical] of cases) assert.equal(canonicalIp(text), canonical, text);
});

Deno.test("addresses: anything else is none", () => {
  for (
    const text of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4", // a leading zero reads as octal elsewhere
      "1.2.3.4 ",
      "0x7f.0.0.1",
      "2130706433",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      ":1",
      "1:",
      "12345::1",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "fe80::1%eth0",
      "[::1]",
      "localhost",
      "unknown",
    ]
  ) {
    assert.equal(parseIp(text), undefined, JSON.stringify(text));
  }
});

/** 128-bit addresses with runs of zero groups, as real ones have. */
const addresses = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
  minLength: 8,
  maxLength: 8,
}).map((groups) => groups.reduce((bits, group) => (bits << 16n) | BigInt(group), 0n));

Deno.test("addresses: parsing undoes formatting; IPv6 is written as WHATWG's URL writes it", () => {
  fc.assert(
    fc.property(addresses, (bits) => {
      const text = formatIp(bits);
      assert.equal(parseIp(text), bits);
      if (bits >> 32n !== 0xffffn) assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("ranges: CIDRs of both families, bare addresses and the words", () => {
  const ranges = IpRanges.parse(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"]);
  for (
    const inside of [
      "10.0.0.0",
      "10.255.255.255",
      "::ffff:10.1.2.3",
      "192.0.2.7",
      "2001:db8:ffff::1",
      "::1",
    ]
  ) {
    assert.equal(ranges.has(inside), true, inside);
  }
  for (
    const outside of [
      "11.0.0.0",
      "9.255.255.255",
      "192.0.2.8",
      "2001:db9::",
      "::2",
      "127.0.0.1",
      "junk",
    ]
  ) {
    assert.equal(ranges.has(outside), false, outside);
  }
  const words = IpRanges.parse(["loopback", "Private"]);
  for (
    const inside of [
      "127.0.0.1",
      "127.9.9.9",
      "::1",
      "10.1.1.1",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "fd00::2",
    ]
  ) {
    assert.equal(words.has(inside), true, inside);
  }
  for (const outside of ["172.32.0.1", "192.0.2.2", "8.8.8.8", "2001:db8::1", "fe80::1"]) {
    assert.equal(words.has(outside), false, outside);
  }
  assert.equal(IpRanges.parse(["0.0.0.0/0"]).has("203.0.113.9"), true);
  assert.equal(IpRanges.parse(["0.0.0.0/0"]).has("2001:db8::1"), false, "IPv4's /0 is IPv4 only");
  assert.equal(IpRanges.parse(["::/0"]).has("2001:db8::1"), true);
  assert.equal(IpRanges.NONE.has("127.0.0.1"), false);
  assert.equal(IpRanges.NONE.empty, true);
  assert.equal(isLoopback("::ffff:127.0.0.2"), true);
  assert.equal(isLoopback("192.0.2.2"), false);
});

Deno.test("ranges: a bad entry is refused, naming it and the rule", () => {
  const cases: [string, RegExp][] = [
    [
      "10.0.0.1/8",
      /^10\.0\.0\.1\/8: the address has bits set past the prefix; the range is 10\.0\.0\.0\/8$/,
    ],
    ["2001:db8::1/32", /the range is 2001:db8::\/32/],
    ["10.0.0.0/33", /prefix length must be a number from 0 to 32/],
    ["::/129", /from 0 to 128/],
    ["10.0.0.0/", /prefix length/],
    ["10.0.0.0/08", /prefix length/],
    ["example.org", /^example\.org: not an IP address or range/],
    ["", /not an IP address or range/],
    ["10.0.0.0/8/8", /prefix length/],
  ];
  for (const [entry, message] of cases) {
    assert.throws(() => IpRanges.parse([entry]), (error: unknown) => {
      assert.ok(error instanceof RangeSyntaxError);
      assert.match(error.message, message);
      return true;
    }, entry);
  }
});
