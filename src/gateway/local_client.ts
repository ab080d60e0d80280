/**
 * Who may append when tokens are off. A gateway with no tokens is open to
 * anyone who reaches it, so by default only clients on the same machine may
 * append or create logs (as Redis's protected mode does); `--open-appends`
 * lets everyone. A request that names a proxy hop (any of `Forwarded`,
 * `X-Forwarded-For`, `-Host`, `-Proto`) is not a local client, even from
 * 127.0.0.1, and even through a trusted proxy that calls its client
 * 127.0.0.1: an SSH tunnel, a second proxy or a tunnel agent on the proxy's
 * machine all connect from loopback, so the proxy's word proves nothing about
 * where the request began.
 *
 * @example
 * ```ts
 * const peer: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 50000 };
 * const client = { address: "127.0.0.1", host: null, label: "127.0.0.1:50000", forwarding: "none" } as const;
 * isLocalClient(client, peer); // true
 * ```
 *
 * @module
 */

import type { Client } from "../auth/proxies.ts";
import { GdpError } from "../core/errors.ts";
import { isLoopback } from "../net/ip_ranges.ts";

/** A loopback peer whose request names no proxy hop. */
export function isLocalClient(client: Client, peer: Deno.NetAddr): boolean {
  return client.forwarding === "none" && isLoopback(peer.hostname);
}

/** What decides who may append: whether tokens are on, and `--open-appends`. */
export interface AppendPolicy {
  readonly auth: { readonly enabled: boolean };
  readonly config: { readonly openAppends: boolean };
}

/** True when this client may append: tokens decide, else `--open-appends` or a local client. */
export function appendsOpen(gw: AppendPolicy, client: Client, peer: Deno.NetAddr): boolean {
  return gw.auth.enabled || gw.config.openAppends || isLocalClient(client, peer);
}

/** The 403 of an append from a remote client to a gateway without tokens. */
export function appendsClosed(): GdpError {
  return GdpError.of(
    403,
    "without tokens only local clients may append; the operator can allow others with " +
      "--open-appends or require tokens",
  );
}
