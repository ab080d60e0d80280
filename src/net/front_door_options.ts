/**
 * What a front door (front_door.ts) is given (where to listen, its limits, how to
 * answer a request and word a refusal) and what it reports (its counts, for
 * `/readyz`).
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "../config.ts";
 * import { makeRefusals } from "../limits.ts";
 *
 * const options: FrontDoorOptions = {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: DEFAULT_LIMITS,
 *   refusals: makeRefusals(DEFAULT_LIMITS),
 *   handle: () => new Response("hello"),
 * };
 * ```
 *
 * @module
 */

import type { Limits } from "../config.ts";
import type { FdLimit, FdLimitSource } from "../io/fd_limit.ts";
import type { Refusals } from "../limits.ts";
import type { RawUpgrade } from "./handshake.ts";

export interface FrontDoorOptions {
  hostname: string;
  port: number;
  /** PEM texts: serve TLS. */
  cert?: string;
  key?: string;
  limits: Limits;
  refusals: Refusals;
  /** The process's open-file limit as the operator gave it (`--fd-limit`); else learnt or assumed. */
  fdLimit?: number;
  /** The limit already learnt (counted at start, before anything held descriptors; not with `fdLimit`). */
  learntFdLimit?: FdLimit;
  /**
   * The most body bytes a request to `target` may carry (0: none; undefined:
   * `limits.maxRecordBytes`, as for every request when this is absent).
   */
  bodyLimit?(method: string, target: string): number | undefined;
  /** A peer speaking for many clients (a trusted proxy): held to `maxHandshakes`, not per address. */
  sharedPeer?(peer: Deno.NetAddr): boolean;
  /**
   * The answer to a request the front door refuses itself (a malformed head, a
   * late body, no descriptor left); by default `{"error": …}`.
   */
  refusal?(status: number, message: string): Response;
  /**
   * Answers a request (its body, if any, a stream read from the client as it
   * is pulled); for a WebSocket upgrade `raw` is given, and `raw.accept` takes it.
   */
  handle(request: Request, peer: Deno.NetAddr, raw?: RawUpgrade): Response | Promise<Response>;
}

/** Counts the front door keeps, for /readyz. */
export interface FrontDoorStats {
  /** Client connections open now, each holding a descriptor, whatever its stage. */
  open: number;
  /** Connections sending their request (head or body) or kept alive waiting for one. */
  handshakes: number;
  /** Connections being answered 503 at accept (at most 64 at once). */
  refusing: number;
  /** Connections refused while 64 answers were under way: closed at once, unanswered. */
  refusedUnanswered: number;
  /** The open-file limit the budget is under, and where it came from. */
  fdLimit: number;
  fdLimitSource: FdLimitSource;
  /** Descriptors connections may hold: the limit less `fdReserve`. */
  fdBudget: number;
  /** Times the accept loop stopped at the budget's hard cap until a connection closed. */
  acceptPauses: number;
  /** Accepts that failed (EMFILE and the like) and were retried. */
  acceptErrors: number;
}
