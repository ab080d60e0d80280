/**
 * IP addresses and ranges of them: IPv4 and IPv6 addresses parsed strictly
 * (dotted decimal without leading zeros, RFC 4291 text without a zone) into
 * one 128-bit space (IPv4 as IPv4-mapped IPv6, so `127.0.0.1` and
 * `::ffff:127.0.0.1` are one address), written back in one canonical form, and
 * sets of CIDR ranges to look addresses up in. `loopback` and `private` name
 * the usual ranges.
 *
 * @example
 * ```ts
 * const trusted = IpRanges.parse(["10.0.0.0/8", "loopback", "2001:db8::/32"]);
 * trusted.has("10.1.2.3"); // true
 * trusted.has("::ffff:127.0.0.1"); // true: IPv4-mapped loopback
 * trusted.has("192.0.2.7"); // false
 * canonicalIp("2001:DB8:0:0::1"); // "2001:db8::1"
 * ```
 *
 * @module
 */

/** The ranges a word stands for. */
const WORDS: Readonly<Record<string, readonly string[]>> = {
  loopback: ["127.0.0.0/8", "::1/128"],
  // RFC 1918, and IPv6 unique local addresses (RFC 4193).
  private: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
};

/** An address, as 128 bits. */
type Bits = bigint;

const MAPPED_PREFIX = 0xffffn << 32n;
const ALL = (1n << 128n) - 1n;

/** An entry of {@linkcode IpRanges.parse} that is not a range. */
export class RangeSyntaxError extends Error {
  override name = "RangeSyntaxError";
}

/** A set of CIDR ranges. */
export class IpRanges {
  readonly #ranges: { base: Bits; mask: Bits }[];
  /** The entries as given, for messages. */
  readonly entries: readonly string[];

  private constructor(ranges: { base: Bits; mask: Bits }[], entries: readonly string[]) {
    this.#ranges = ranges;
    this.entries = entries;
  }

  /** No range at all: {@linkcode has} is always false. */
  static readonly NONE: IpRanges = new IpRanges([], []);

  /**
   * Ranges from `entries`: `A.B.C.D/N`, `IPV6/N`, a bare address (one
   * address), `loopback` or `private`. Throws a {@linkcode RangeSyntaxError}
   * naming the first entry that is none of these, or whose address has bits
   * set past its prefix (`10.0.0.1/8`: a typo for a host or for `10.0.0.0/8`).
   */
  static parse(entries: readonly string[]): IpRanges {
    const ranges: { base: Bits; mask: Bits }[] = [];
    for (const entry of entries) {
      const word = WORDS[entry.toLowerCase()];
      for (const text of word ?? [entry]) ranges.push(parseRange(text, entry));
    }
    return new IpRanges(ranges, [...entries]);
  }

  /** True when some range holds `address` (text, as {@linkcode parseIp} takes it). */
  has(address: string): boolean {
    const bits = parseIp(address);
    return bits !== undefined && this.hasBits(bits);
  }

  /** True when some range holds the address `bits`. */
  hasBits(bits: Bits): boolean {
    return this.#ranges.some(({ base, mask }) => (bits & mask) === base);
  }

  /** True when there is no range. */
  get empty(): boolean {
    return this.#ranges.length === 0;
  }
}

function parseRange(text: string, entry: string): { base: Bits; mask: Bits } {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const base = parseIp(addressText);
  if (base === undefined) {
    throw new RangeSyntaxError(
      `${entry}: not an IP address or range (A.B.C.D/N, an IPv6 address/N, loopback or private)`,
    );
  }
  const v4 = !addressText.includes(":");
  const width = v4 ? 32 : 128;
  const prefixText = slash < 0 ? String(width) : text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > width) {
    throw new RangeSyntaxError(`${entry}: the prefix length must be a number from 0 to ${width}`);
  }
  const prefix = Number(prefixText) + (v4 ? 96 : 0);
  const mask = prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
  if ((base & mask) !== base) {
    throw new RangeSyntaxError(
      `${entry}: the address has bits set past the prefix; the range is ${
        formatIp(base & mask)
      }/${prefixText}`,
    );
  }
  return { base, mask };
}

/**
 * The 128 bits of an IPv4 (dotted decimal, no leading zeros) or IPv6 address
 * (RFC 4291 text, an embedded IPv4 tail allowed, no zone); undefined for
 * anything else. IPv4 comes back IPv4-mapped (`::ffff:A.B.C.D`).
 */
export function parseIp(text: string): Bits | undefined {
  if (!text.includes(":")) {
    const v4 = parseIpv4(text);
    return v4 === undefined ? undefined : MAPPED_PREFIX | v4;
  }
  return parseIpv6(text);
}

function parseIpv4(text: string): Bits | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let bits = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    bits = (bits << 8n) | BigInt(part);
  }
  return bits;
}

function parseIpv6(text: string): Bits | undefined {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  // An embedded IPv4 address may only end the text.
  const groupsOf = (half: string, last: boolean): number[] | undefined => {
    if (half === "") return [];
    const groups: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part.includes(".")) {
        const v4 = last && i === parts.length - 1 ? parseIpv4(part) : undefined;
        if (v4 === undefined) return undefined;
        groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
        groups.push(parseInt(part, 16));
      }
    }
    return groups;
  };
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  let bits = 0n;
  for (const group of groups) bits = (bits << 16n) | BigInt(group);
  return bits;
}

/**
 * An address in one canonical form: IPv4 (and IPv4-mapped IPv6) as dotted
 * decimal, other IPv6 as RFC 5952 (lower case, the longest run of zero groups
 * as `::`).
 */
export function formatIp(bits: Bits): string {
  if (bits >> 32n === 0xffffn) {
    return [24n, 16n, 8n, 0n].map((shift) => String((bits >> shift) & 0xffn)).join(".");
  }
  const groups = Array.from(
    { length: 8 },
    (_, i) => Number((bits >> BigInt(112 - 16 * i)) & 0xffffn),
  );
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

/** `text` in canonical form ({@linkcode formatIp}), or undefined when it is not an address. */
export function canonicalIp(text: string): string | undefined {
  const bits = parseIp(text);
  return bits === undefined ? undefined : formatIp(bits);
}

/** True for a loopback address (`127.0.0.0/8`, `::1`, IPv4-mapped or not). */
export function isLoopback(address: string): boolean {
  return LOOPBACK.has(address);
}

const LOOPBACK = IpRanges.parse(["loopback"]);
