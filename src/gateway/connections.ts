/**
 * The gateway's open connections: WebSocket sessions, event streams and
 * range reads while they stream, in total and per client address, and the admission check that keeps both under
 * `--max-connections` and `--max-connections-per-address`.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "../config.ts";
 * import { makeRefusals } from "../limits.ts";
 *
 * const connections = new Connections(DEFAULT_LIMITS, makeRefusals(DEFAULT_LIMITS));
 * const refused = connections.admit("203.0.113.7");
 * if (!refused) {
 *   const release = connections.hold("203.0.113.7");
 *   release(); // when the connection ends
 * }
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Limits } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import { limitLabel, type Refusals } from "../limits.ts";
import type { EventStream } from "./event_stream.ts";

const log = getLogger(["gdp-ws", "server"]);

/** Which connection limit refused a connection, and the error the client gets. */
export interface ConnectionRefusal {
  limit: "maxConnections" | "maxConnectionsPerAddress";
  error: GdpError;
}

/** What the gateway asks of an open WebSocket session: its queue, and to end. */
export interface OpenSession {
  /** Bytes waiting for its socket. */
  readonly queuedBytes: number;
  /** Settles when its socket has closed. */
  readonly closed: Promise<void>;
  /** Ends its subscriptions with SHUTDOWN and closes with 1001. */
  shutdown(): void;
}

/** Open WebSockets and event streams, counted in total and by client address. */
export class Connections {
  /** Open WebSocket sessions. */
  readonly sessions: Set<OpenSession> = new Set();
  /** Open event streams (GET /logs/NAME/events); they count as connections too. */
  readonly streams: Set<EventStream> = new Set();
  /** Range reads (GET /logs/NAME/records) streaming now; they count as connections meanwhile. */
  #reads = 0;
  readonly #perAddress = new Map<string, number>();
  readonly #limits: Limits;
  readonly #refusals: Refusals;

  constructor(limits: Limits, refusals: Refusals) {
    this.#limits = limits;
    this.#refusals = refusals;
  }

  /** WebSockets, event streams and range reads open now. */
  get size(): number {
    return this.sessions.size + this.streams.size + this.#reads;
  }

  /** Range reads streaming now. */
  get reads(): number {
    return this.#reads;
  }

  /** {@linkcode hold} for a range read, counted in {@linkcode size} too until let go. */
  holdRead(address: string): () => void {
    const release = this.hold(address);
    this.#reads++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#reads--;
      release();
    };
  }

  /**
   * Undefined when one more connection from `address` fits both limits; else
   * the refusal, counted and logged (`peer` names the client in the log).
   */
  admit(address: string, peer = address): ConnectionRefusal | undefined {
    const { maxConnections, maxConnectionsPerAddress } = this.#limits;
    const limit = this.size >= maxConnections
      ? "maxConnections"
      : (this.#perAddress.get(address) ?? 0) >= maxConnectionsPerAddress
      ? "maxConnectionsPerAddress"
      : undefined;
    if (!limit) return undefined;
    this.#refusals[limit].refused++;
    const max = this.#limits[limit];
    const what = limit === "maxConnections" ? "open" : `open from ${address}`;
    log.warning("Refused {peer}: {limit} limit: {max} {what}", {
      peer,
      limit: limitLabel(limit),
      max,
      what,
    });
    return { limit, error: GdpError.of(503, `too many connections (${max} ${what})`) };
  }

  /**
   * Counts a WebSocket session from `address` until {@linkcode closeSession}
   * (methods, not a closure: every idle connection would hold one).
   */
  openSession(session: OpenSession, address: string): void {
    this.sessions.add(session);
    this.#count(address, 1);
  }

  /** Lets go of a session counted by {@linkcode openSession}; again is a no-op. */
  closeSession(session: OpenSession, address: string): void {
    if (this.sessions.delete(session)) this.#count(address, -1);
  }

  /** Counts one more connection from `address`; the function returned lets it go, once. */
  hold(address: string): () => void {
    this.#count(address, 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#count(address, -1);
    };
  }

  #count(address: string, change: 1 | -1): void {
    const count = (this.#perAddress.get(address) ?? 0) + change;
    if (count > 0) this.#perAddress.set(address, count);
    else this.#perAddress.delete(address);
  }
}
