/**
 * Which browser origins may use the gateway. Its own origin — the scheme it
 * serves (`https` with `--cert`) and the `Host` the request was sent to, or a
 * `--public-origin` — always may; `--allow-origin` adds others (exact,
 * `*.domain` patterns, or `*`), which also get CORS headers.
 *
 * @example
 * ```ts
 * const origins = new Origins({ allow: ["*.example.org"], own: ["https://gw.example.org"] });
 * origins.allows("https://app.example.org", { scheme: "http", host: "127.0.0.1:8080" }); // true
 * origins.allows("http://127.0.0.1:8080", { scheme: "http", host: "127.0.0.1:8080" }); // true: own
 * origins.allows("https://127.0.0.1:8080", { scheme: "http", host: "127.0.0.1:8080" }); // false
 * ```
 *
 * @module
 */

import { ConfigError } from "../config.ts";
import { escapeRegex } from "./grants.ts";

/** Where a request was sent: the gateway's scheme and the request's `Host`. */
export interface RequestTarget {
  scheme: "http" | "https";
  host: string | null;
}

/** The origins the gateway serves as its own and those it also allows. */
export class Origins {
  readonly #own = new Set<string>();
  readonly #exact = new Set<string>();
  readonly #patterns: RegExp[] = [];
  #any = false;

  /** `allow`: `--allow-origin` entries; `own`: `--public-origin` entries. */
  constructor({ allow = [], own = [] }: { allow?: readonly string[]; own?: readonly string[] }) {
    for (const entry of own) this.#own.add(normalizeOrigin(entry, "--public-origin"));
    for (const entry of allow) {
      if (entry === "*") this.#any = true;
      else if (entry.includes("*")) this.#patterns.push(originPattern(entry));
      else this.#exact.add(normalizeOrigin(entry, "--allow-origin"));
    }
  }

  /** True for the gateway's own origin and for the configured ones. */
  allows(origin: string, target: RequestTarget): boolean {
    if (this.#any) return true;
    const normal = originOf(origin);
    if (normal === undefined) return false;
    if (this.#own.has(normal) || normal === originOf(`${target.scheme}://${target.host}`)) {
      return true;
    }
    return this.#exact.has(normal) || this.#patterns.some((p) => p.test(normal));
  }
}

/** The headers that let a page on `origin` read an answer. */
export function corsHeaders(origin: string): Record<string, string> {
  return { "access-control-allow-origin": origin, "vary": "Origin" };
}

/** `scheme://host[:port]` of a URL, lower case, default port dropped; undefined if it is none. */
function originOf(text: string): string | undefined {
  try {
    const origin = new URL(text).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** `*.example.org` (any scheme) or `https://*.example.org`: subdomains only. */
function originPattern(entry: string): RegExp {
  const match = /^(?:([a-z][a-z0-9+.-]*):\/\/)?\*\.([^*/]+)$/i.exec(entry);
  if (!match) {
    throw new ConfigError(
      `--allow-origin ${entry}: a pattern is *.DOMAIN or SCHEME://*.DOMAIN (optionally :PORT)`,
    );
  }
  const scheme = match[1] ? escapeRegex(match[1].toLowerCase()) : "https?";
  return new RegExp(`^${scheme}://([a-z0-9-]+\\.)+${escapeRegex(match[2]!.toLowerCase())}$`);
}

/** An origin as configured, checked and in normal form. */
export function normalizeOrigin(entry: string, flag: string): string {
  if (entry === "null" && flag === "--allow-origin") return entry;
  try {
    const url = new URL(entry);
    if (url.origin === "null" || url.pathname !== "/" || url.search || url.hash) throw 0;
    return url.origin;
  } catch {
    throw new ConfigError(
      `${flag} ${entry}: an origin is SCHEME://HOST[:PORT], such as https://app.example.org`,
    );
  }
}
