/**
 * What a route handler is given: the request, its matched parameters, who sent
 * it, what its token allows, and the gateway's shared parts.
 *
 * @example
 * ```ts
 * import { json } from "./answers.ts";
 *
 * const hello: RouteHandler = (ctx) => json({ client: ctx.client.address, name: ctx.params.name });
 * ```
 *
 * @module
 */

import type { Grant } from "../auth/grants.ts";
import type { Client } from "../auth/proxies.ts";
import type { FrontDoorStats } from "../net/front_door.ts";
import type { RawUpgrade } from "../net/handshake.ts";
import type { GatewayContext } from "./context.ts";

/** One request, as a handler sees it. */
export interface RouteContext {
  readonly gw: GatewayContext;
  readonly request: Request;
  readonly url: URL;
  /** The route's `:name` parameters, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The socket's peer: the client, or a proxy in front of it. */
  readonly peer: Deno.NetAddr;
  /**
   * The client: its address (what per-address limits count), the scheme and
   * host it used, and how logs name it; through a trusted proxy, the proxy's word.
   */
  readonly client: Client;
  /** What the client's token allows; undefined when tokens are off (everything is). */
  readonly grant?: Grant;
  /** The `bearer.<token>` subprotocol the token came in (an upgrade echoes it only when alone). */
  readonly bearerProtocol?: string;
  /** The connection to take over, for a WebSocket upgrade. */
  readonly raw?: RawUpgrade;
  /** The front door's counts, for `/readyz`. */
  readonly front?: () => FrontDoorStats;
}

/** A route's handler. */
export type RouteHandler = (ctx: RouteContext) => Response | Promise<Response>;
