/**
 * Who may append when tokens are off. A gateway with no tokens is open to
 * anyone who reaches it, so by default only clients on the same machine may
 * append or create logs (as Redis's protected mode does); `--open-appends`
 * lets everyone. A request that came through a proxy (it carries `Forwarded`
 * or `X-Forwarded-For`) is not a local client, even from 127.0.0.1.
 *
 * @example
 * ```ts
 * const peer: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 50000 };
 * isLocalClient(new Request("http://127.0.0.1:8080/"), peer); // true
 * ```
 *
 * @module
 */

import { GdpError } from "../core/errors.ts";

/** A loopback peer whose request names no proxy hop. */
export function isLocalClient(request: Request, peer: Deno.NetAddr): boolean {
  if (request.headers.has("forwarded") || request.headers.has("x-forwarded-for")) return false;
  const host = peer.hostname.toLowerCase();
  return host === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(host);
}

/** What decides who may append: whether tokens are on, and `--open-appends`. */
export interface AppendPolicy {
  readonly auth: { readonly enabled: boolean };
  readonly config: { readonly openAppends: boolean };
}

/** True when this client may append: tokens decide, else `--open-appends` or a local client. */
export function appendsOpen(gw: AppendPolicy, request: Request, peer: Deno.NetAddr): boolean {
  return gw.auth.enabled || gw.config.openAppends || isLocalClient(request, peer);
}

/** The 403 of an append from a remote client to a gateway without tokens. */
export function appendsClosed(): GdpError {
  return GdpError.of(
    403,
    "without tokens only local clients may append; the operator can allow others with " +
      "--open-appends or require tokens",
  );
}
