/**
 * Which `Host` names the gateway answers to: loopback names (`localhost`,
 * `*.localhost`), any IP address, the name it listens on, and the hosts of its
 * `--public-origin`s. A DNS-rebinding page reaches the gateway under the
 * attacker's own name, which is none of these, so it is refused (421) before
 * any route runs; an IP address cannot be rebound, so it is always served.
 *
 * @example
 * ```ts
 * const hosts = new Hosts({ own: ["https://gw.example.org"], listen: "0.0.0.0" });
 * hosts.allows("127.0.0.1:8080"); // true
 * hosts.allows("gw.example.org"); // true
 * hosts.allows("attacker.example:8080"); // false
 * ```
 *
 * @module
 */

import { normalizeOrigin } from "./origins.ts";

export class Hosts {
  readonly #names = new Set<string>(["localhost"]);

  /** `own`: the `--public-origin`s; `listen`: the `--hostname` the gateway listens on. */
  constructor({ own = [], listen }: { own?: readonly string[]; listen?: string }) {
    for (const origin of own) {
      this.#names.add(new URL(normalizeOrigin(origin, "--public-origin")).hostname);
    }
    const name = listen && hostnameOf(listen);
    if (name) this.#names.add(name);
  }

  /** True when a request with this `Host` header (null: none, HTTP/1.0) is served. */
  allows(host: string | null): boolean {
    if (host === null) return true;
    const name = hostnameOf(host);
    if (name === undefined) return false;
    return isIpAddress(name) || this.#names.has(name) || name.endsWith(".localhost");
  }
}

/** The host name of a `Host` value, lower case without a trailing dot; undefined if malformed. */
export function hostnameOf(host: string): string | undefined {
  try {
    const url = new URL(`http://${host}/`);
    if (url.username || url.password || url.pathname !== "/" || url.search) return undefined;
    return url.hostname.replace(/\.$/, "");
  } catch {
    return undefined;
  }
}

/** An IPv4 address (the URL parser writes every numeric form as dotted quad) or `[IPv6]`. */
function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.startsWith("[");
}
