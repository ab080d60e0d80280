/**
 * Who a request is from, when a proxy stands between: `--trust-proxy` names
 * the peers whose word is taken. From such a peer the client's address comes
 * from `Forwarded` (RFC 7239) or, without one, `X-Forwarded-For`, read from
 * the right past every hop that is itself a trusted proxy; the scheme and host
 * the client used come from the same `Forwarded` element (`proto=`, `host=`)
 * or from `X-Forwarded-Proto` and `X-Forwarded-Host`. From any other peer
 * these headers are ignored: the client is the peer, under the request's own
 * `Host`.
 *
 * A trusted proxy is configured by the operator, so what it sends must parse:
 * a `Forwarded` header that is not RFC 7239, a hop the walk reads that is not
 * an address, a second `X-Forwarded-Host` or `-Proto` value, a scheme other
 * than http(s) or a host that is not one gets a {@linkcode ForwardedProblem}
 * (the router answers 400). Hops left of the client are never read: they are
 * whatever the client sent. `for=unknown` or an obfuscated `for=_hidden`
 * cannot be told apart from other clients, so such a client is counted as the
 * trusted hop that reported it.
 *
 * @example
 * ```ts
 * const proxies = trustedProxies(["127.0.0.1"]);
 * const peer: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };
 * const request = new Request("http://127.0.0.1:8080/", {
 *   headers: { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https" },
 * });
 * const client = proxies.resolve(request, peer);
 * if (!("problem" in client)) console.log(client.address, client.scheme, client.label);
 * // 203.0.113.7 https 203.0.113.7 via 127.0.0.1:40000
 * ```
 *
 * @module
 */

import { ConfigError } from "../config.ts";
import { canonicalIp, IpRanges, parseIp, RangeSyntaxError } from "../net/ip_ranges.ts";
import { hostnameOf } from "./hosts.ts";

/** The proxies `--trust-proxy` names; a ConfigError naming the first entry that is not a range. */
export function trustedProxies(entries: readonly string[]): TrustedProxies {
  try {
    return new TrustedProxies(IpRanges.parse(entries));
  } catch (error) {
    if (error instanceof RangeSyntaxError) throw new ConfigError(`--trust-proxy ${error.message}`);
    throw error;
  }
}

/** The client of one request, as the gateway counts, checks and logs it. */
export interface Client {
  /**
   * Its address in canonical form (the per-address limits' key): the peer's,
   * or the one a trusted proxy gave, or that proxy's own when it could not say.
   */
  readonly address: string;
  /** The scheme the client used, when a trusted proxy said; else the gateway's own. */
  readonly scheme?: "http" | "https";
  /** The `Host` the client used: a trusted proxy's word, else the request's (null: none). */
  readonly host: string | null;
  /** The trusted proxy it came through (the socket's peer), when it did. */
  readonly via?: string;
  /** For logs: `203.0.113.7:4711`, or `203.0.113.7 via 127.0.0.1:40000`. */
  readonly label: string;
  /**
   * Forwarding headers: none, taken from a trusted peer, or ignored (sent by a
   * peer not trusted, or by a trusted one that only spoke for itself).
   */
  readonly forwarding: "none" | "trusted" | "ignored";
}

/** A trusted proxy's forwarding header that does not parse: the router answers 400. */
export interface ForwardedProblem {
  /** The header, as the client should read it: `Forwarded`, `X-Forwarded-For`. */
  readonly header: string;
  readonly problem: string;
}

/** The peers whose forwarding headers are taken (`--trust-proxy`). */
export class TrustedProxies {
  readonly #ranges: IpRanges;

  constructor(ranges: IpRanges = IpRanges.NONE) {
    this.#ranges = ranges;
  }

  /** True when `peer` may speak for other clients. */
  trusts(peer: Deno.NetAddr): boolean {
    return !this.#ranges.empty && this.#ranges.has(peer.hostname);
  }

  /** The client of `request`, which arrived from `peer`, or why a trusted proxy's word is refused. */
  resolve(request: Request, peer: Deno.NetAddr): Client | ForwardedProblem {
    const headers = request.headers;
    const peerAddress = canonicalIp(peer.hostname) ?? peer.hostname;
    const peerLabel = `${peerAddress}:${peer.port}`;
    const forwarded = headers.get("forwarded");
    const xff = headers.get("x-forwarded-for");
    const any = forwarded !== null || xff !== null || headers.has("x-forwarded-host") ||
      headers.has("x-forwarded-proto");
    const direct: Client = {
      address: peerAddress,
      host: headers.get("host"),
      label: peerLabel,
      forwarding: any ? "ignored" : "none",
    };
    if (!any || !this.trusts(peer)) return direct;
    const hop = forwarded !== null
      ? this.#fromForwarded(forwarded, peerAddress)
      : this.#fromXForwarded(headers, xff, peerAddress);
    if ("problem" in hop) return hop;
    const host = hop.host ?? headers.get("host");
    const address = hop.address ?? hop.reporter;
    const where = hop.address === undefined
      ? `${hop.unknown ?? "unknown"}`
      : hop.port === undefined
      ? address
      : `${address.includes(":") ? `[${address}]` : address}:${hop.port}`;
    return {
      address,
      ...(hop.scheme ? { scheme: hop.scheme } : {}),
      host,
      via: peerLabel,
      label: `${where} via ${peerLabel}`,
      forwarding: "trusted",
    };
  }

  /** The client's hop in a `Forwarded` header (RFC 7239), read from the right. */
  #fromForwarded(value: string, peer: string): Hop | ForwardedProblem {
    const elements = parseForwarded(value);
    if (typeof elements === "string") return { header: "Forwarded", problem: elements };
    let reporter = peer;
    for (let i = elements.length - 1; i >= 0; i--) {
      const element = elements[i]!;
      const node = element.get("for");
      const parsed = node === undefined ? undefined : parseNode(node);
      if (typeof parsed === "string") return { header: "Forwarded", problem: parsed };
      // Past a trusted hop the walk goes on, to the leftmost at most.
      if (parsed?.address !== undefined && i > 0 && this.#ranges.has(parsed.address)) {
        reporter = parsed.address;
        continue;
      }
      const origin = originParts(element.get("proto"), element.get("host"), "Forwarded");
      if ("problem" in origin) return origin;
      return {
        reporter,
        ...(parsed?.address !== undefined ? { address: parsed.address } : {}),
        ...(parsed?.port !== undefined ? { port: parsed.port } : {}),
        ...(parsed?.unknown !== undefined ? { unknown: parsed.unknown } : {}),
        ...origin,
      };
    }
    // An empty list: nothing said but by whom.
    return { reporter };
  }

  /** The client's hop in `X-Forwarded-For`, with `X-Forwarded-Proto` and `-Host`. */
  #fromXForwarded(headers: Headers, xff: string | null, peer: string): Hop | ForwardedProblem {
    const proto = single(headers.get("x-forwarded-proto"), "X-Forwarded-Proto");
    if (typeof proto === "object") return proto;
    const host = single(headers.get("x-forwarded-host"), "X-Forwarded-Host");
    if (typeof host === "object") return host;
    const origin = originParts(proto, host, "X-Forwarded");
    if ("problem" in origin) return origin;
    // Empty list elements are allowed and mean nothing (RFC 9110 §5.6.1).
    const entries = (xff ?? "").split(",").map((e) => e.trim()).filter((e) => e !== "");
    let reporter = peer;
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i]!;
      if (entry.toLowerCase() === "unknown") return { reporter, unknown: "unknown", ...origin };
      const parsed = parseXffEntry(entry);
      if (parsed === undefined) {
        return {
          header: "X-Forwarded-For",
          problem: `has ${JSON.stringify(entry.slice(0, 64))} where an IP address belongs`,
        };
      }
      if (i > 0 && this.#ranges.has(parsed.address)) {
        reporter = parsed.address;
        continue;
      }
      return { reporter, ...parsed, ...origin };
    }
    return { reporter, ...origin };
  }
}

/** What the walk found: the client's address (none: unknown), and where it sent the request. */
interface Hop {
  /** The trusted hop that wrote the client's entry (the peer, or a proxy behind it). */
  reporter: string;
  address?: string;
  port?: number;
  /** `unknown` or an obfuscated identifier, when that is all the proxy said. */
  unknown?: string;
  scheme?: "http" | "https";
  host?: string;
}

/** One element of `Forwarded`: its parameters, names lower-cased, values unquoted. */
type Element = Map<string, string>;

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** RFC 7239's `Forwarded` as elements, or what is wrong with it. */
export function parseForwarded(value: string): Element[] | string {
  const elements: Element[] = [];
  let element: Element = new Map();
  let i = 0;
  const skipSpace = () => {
    while (value[i] === " " || value[i] === "\t") i++;
  };
  const token = (): string => {
    const start = i;
    while (i < value.length && TCHAR.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  skipSpace();
  while (i < value.length) {
    if (value[i] === "," || value[i] === ";") {
      // Empty list elements and empty pairs are allowed.
      if (value[i] === "," && element.size > 0) {
        elements.push(element);
        element = new Map();
      }
      i++;
      skipSpace();
      continue;
    }
    const name = token().toLowerCase();
    if (name === "" || value[i] !== "=") {
      return `is not RFC 7239: expected name=value at character ${i + 1}`;
    }
    i++;
    let pairValue: string;
    if (value[i] === '"') {
      const quoted = readQuoted(value, i);
      if (quoted === undefined) return "is not RFC 7239: a quoted string does not end";
      [pairValue, i] = quoted;
    } else {
      pairValue = token();
      if (pairValue === "") return `is not RFC 7239: ${name}= has no value`;
    }
    if (element.has(name)) return `is not RFC 7239: ${name}= twice in one element`;
    element.set(name, pairValue);
    skipSpace();
    if (i < value.length && value[i] !== "," && value[i] !== ";") {
      return `is not RFC 7239: unexpected ${JSON.stringify(value[i])} at character ${i + 1}`;
    }
  }
  if (element.size > 0) elements.push(element);
  return elements;
}

/** A quoted string starting at `at`: its text and the index after it; undefined if unterminated. */
function readQuoted(value: string, at: number): [string, number] | undefined {
  let text = "";
  for (let i = at + 1; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\\") {
      if (i + 1 >= value.length) return undefined;
      text += value[++i];
    } else if (c === '"') return [text, i + 1];
    else text += c;
  }
  return undefined;
}

/** A `for=` node: an address (and port), `unknown` or an obfuscated name; or what is wrong. */
function parseNode(node: string): { address?: string; port?: number; unknown?: string } | string {
  const obfuscated = /^_[A-Za-z0-9._-]+$/;
  const match = /^(\[[^\]]*\]|[^:]*)(?::([^:]*))?$/.exec(node);
  const name = match?.[1] ?? "";
  const portText = match?.[2];
  if (portText !== undefined && !/^\d{1,5}$/.test(portText) && !obfuscated.test(portText)) {
    return `for=${
      JSON.stringify(node.slice(0, 64))
    } has a port that is neither a number nor _obfuscated`;
  }
  const port = portText !== undefined && /^\d+$/.test(portText) && Number(portText) <= 65_535
    ? Number(portText)
    : undefined;
  if (name.toLowerCase() === "unknown") return { unknown: "unknown" };
  if (obfuscated.test(name)) return { unknown: name };
  const bracketed = name.startsWith("[");
  const text = bracketed ? name.slice(1, -1) : name;
  // IPv6 only in brackets, IPv4 only bare (RFC 7239 §6).
  const address = bracketed === text.includes(":") ? canonicalIp(text) : undefined;
  if (address === undefined) {
    return `for=${
      JSON.stringify(node.slice(0, 64))
    } is not an IPv4 address, a bracketed IPv6 address, unknown or _obfuscated`;
  }
  return { address, ...(port !== undefined ? { port } : {}) };
}

/** An `X-Forwarded-For` entry: an address, optionally `[IPv6]:port` or `IPv4:port`. */
function parseXffEntry(entry: string): { address: string; port?: number } | undefined {
  const bare = canonicalIp(entry);
  if (bare !== undefined) return { address: bare };
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d+\.\d+\.\d+\.\d+))(?::(\d{1,5}))?$/.exec(entry);
  const address = match && canonicalIp(match[1] ?? match[2]!);
  if (!address) return undefined;
  const port = match[3] !== undefined ? Number(match[3]) : undefined;
  return port !== undefined && port <= 65_535 ? { address, port } : { address };
}

/** A header that must hold one value (a proxy sets it; one that appends makes a list). */
function single(value: string | null, header: string): string | undefined | ForwardedProblem {
  if (value === null) return undefined;
  if (value.includes(",")) {
    return { header, problem: "holds more than one value; the proxy should set it, not append" };
  }
  return value.trim();
}

/** `proto=` and `host=` (or the X-Forwarded- pair) checked: http(s) and a valid host. */
function originParts(
  proto: string | undefined,
  host: string | undefined,
  source: "Forwarded" | "X-Forwarded",
): { scheme?: "http" | "https"; host?: string } | ForwardedProblem {
  const scheme = proto === undefined ? undefined : SCHEMES[proto.toLowerCase()];
  const protoHeader = source === "Forwarded" ? "Forwarded" : "X-Forwarded-Proto";
  if (proto !== undefined && scheme === undefined) {
    const what = source === "Forwarded" ? `proto=${JSON.stringify(proto)}` : JSON.stringify(proto);
    return { header: protoHeader, problem: `${what} is not http or https` };
  }
  if (host !== undefined && !isHost(host)) {
    const header = source === "Forwarded" ? "Forwarded" : "X-Forwarded-Host";
    const what = source === "Forwarded" ? `host=${JSON.stringify(host)}` : JSON.stringify(host);
    return { header, problem: `${what} is not a host name or address with an optional port` };
  }
  return { ...(scheme ? { scheme } : {}), ...(host !== undefined ? { host } : {}) };
}

/** Schemes a proxy may report; a WebSocket's are its HTTP scheme's. */
const SCHEMES: Readonly<Record<string, "http" | "https">> = {
  http: "http",
  https: "https",
  ws: "http",
  wss: "https",
};

/** A `Host` value of a DNS name or an address, with an optional port. */
function isHost(host: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(host);
  if (!match) return false;
  const name = match[1]!;
  if (name.startsWith("[") && parseIp(name.slice(1, -1)) === undefined) return false;
  return hostnameOf(host) !== undefined;
}
