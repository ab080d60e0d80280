/**
 * What a route handler is given: the request, its matched parameters, who sent
 * it, what its token allows, and the gateway's shared parts.
 *
 * @example
 * ```ts
 * import { json } from "./answers.ts";
 *
 * const hello: RouteHandler = (ctx) => json({ peer: ctx.peer.hostname, name: ctx.params.name });
 * ```
 *
 * @module
 */

import type { Grant } from "../auth/grants.ts";
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
  /** The client's address. */
  readonly peer: Deno.NetAddr;
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
