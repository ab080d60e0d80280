/**
 * The health of one log's link: up, or failing since a moment. Calls answered
 * meanwhile fail as they did; once the outage has lasted `downAfterMs`, they
 * get a 503 and the follower is told once per outage.
 *
 * @example
 * ```ts
 * const link = new LinkHealth("edu.berkeley.demo.temp", 10_000);
 * link.down(); // the first failure: the outage starts
 * link.lasted(); // false for 10 s
 * link.up(); // "edu.berkeley.demo.temp is reachable again"
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { GdpError } from "../../core/errors.ts";
import { unreachable } from "./link_errors.ts";
import type { UpstreamHealth } from "./upstream_context.ts";

const log = getLogger(["gdp-ws", "libgdp"]);

export class LinkHealth {
  readonly #name: string;
  readonly #downAfterMs: number;
  #state: UpstreamHealth = { kind: "ok" };

  constructor(name: string, downAfterMs: number) {
    this.#name = name;
    this.#downAfterMs = downAfterMs;
  }

  get state(): UpstreamHealth {
    return this.#state;
  }

  /**
   * A call failed on the link. The first failure starts an outage; a later one,
   * once the outage has lasted, returns the 503 to report, once per outage and
   * only when someone is there to hear it (`listening`).
   */
  down(listening = true): GdpError | undefined {
    const state = this.#state;
    if (state.kind !== "failing") {
      this.#state = { kind: "failing", since: Date.now(), reported: false };
      return undefined;
    }
    if (state.reported || !this.lasted() || !listening) return undefined;
    state.reported = true;
    const error = unreachable(this.#name, this.#downAfterMs);
    log.error("{message}", { message: error.message });
    return error;
  }

  /** True once calls have failed for `downAfterMs`: they are answered 503 meanwhile. */
  lasted(): boolean {
    const state = this.#state;
    return state.kind === "failing" && Date.now() - state.since >= this.#downAfterMs;
  }

  /** A call succeeded: the outage, if any, is over. */
  up(): void {
    if (this.#state.kind === "ok") return;
    this.#state = { kind: "ok" };
    log.info("{name} is reachable again", { name: this.#name });
  }
}
