/**
 * The descriptors client connections may hold: the process's open-file limit
 * less a reserve for the store, logs and the runtime. Every connection holds
 * one from accept to close, at every stage (head, body, answer, event stream,
 * WebSocket, kept alive, lingering, being refused). Below the soft cap a new
 * connection is served; between the soft and the hard cap it is answered 503
 * and closed; at the hard cap the accept loop stops accepting, so clients wait
 * in the kernel's listen backlog and the process never reaches `EMFILE`.
 *
 * @example
 * ```ts
 * const budget = new FdBudget({ limit: 1024, source: "flag" }, 64);
 * budget.take(); // "serve"
 * budget.release();
 * console.log(budget.softCap, budget.hardCap); // 900 960
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { FdLimit, FdLimitSource } from "../io/fd_limit.ts";

const log = getLogger(["gdp-ws", "front"]);

/** Most connections answered 503 at once: the band between the soft and the hard cap. */
const MAX_REFUSAL_BAND = 64;

export class FdBudget {
  readonly limit: number;
  readonly source: FdLimitSource;
  /** Descriptors connections may hold: the limit less the reserve. */
  readonly hardCap: number;
  /** Past this many, a new connection is refused (503) instead of served. */
  readonly softCap: number;
  #inUse = 0;
  #waiters: (() => void)[] = [];

  constructor({ limit, source }: FdLimit, reserve: number) {
    this.limit = limit;
    this.source = source;
    this.hardCap = Math.max(2, limit - reserve);
    const band = Math.min(MAX_REFUSAL_BAND, Math.max(1, Math.floor(this.hardCap / 16)));
    this.softCap = this.hardCap - band;
  }

  get inUse(): number {
    return this.#inUse;
  }

  /** True when the accept loop must wait: every descriptor of the budget is held. */
  get full(): boolean {
    return this.#inUse >= this.hardCap;
  }

  /** Counts a new connection's descriptor: serve it, or refuse it (past the soft cap). */
  take(): "serve" | "refuse" {
    this.#inUse++;
    return this.#inUse > this.softCap ? "refuse" : "serve";
  }

  /** A connection's descriptor is closed. */
  release(): void {
    this.#inUse--;
    if (this.#inUse < this.hardCap) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once a descriptor is free. */
  room(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/**
 * Says at start which limit `budget` is under and where it came from (a
 * warning when assumed), and warns when `maxConnections` cannot all be served.
 */
export function logBudget(budget: FdBudget, maxConnections: number): void {
  const { limit, source, softCap, hardCap } = budget;
  const from = {
    flag: "from --fd-limit",
    proc: "read from /proc/self/limits",
    probed: "counted at start: descriptors free",
    "probed-floor": "counted at start: at least this many free, all the gateway can use",
    assumed: `assumed for ${Deno.build.os}`,
  }[source];
  const values = { limit, from, softCap, hardCap };
  if (source === "assumed") {
    log.warning(
      "File-descriptor limit {limit} ({from}: /proc/self/limits is not readable under " +
        "these permissions); pass --fd-limit with the limit the process runs under " +
        "(ulimit -n, LimitNOFILE); connections past {softCap} get 503, intake pauses at {hardCap}",
      values,
    );
  } else {
    log.info(
      "File-descriptor limit {limit} ({from}): connections past {softCap} get 503, " +
        "intake pauses at {hardCap}",
      values,
    );
  }
  if (maxConnections > softCap) {
    log.warning(
      "--max-connections {max} is over what the descriptor limit allows ({softCap}); " +
        "raise the limit (and --fd-limit) to serve that many",
      { max: maxConnections, softCap },
    );
  }
}
