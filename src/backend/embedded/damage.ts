/**
 * Damage to the store's file found while serving: SQLite failing with
 * SQLITE_CORRUPT or SQLITE_NOTADB. The first one turns the store not ready
 * and refuses writes until the process restarts; each is counted, and logged
 * at ERROR once per 10 s per cause.
 *
 * @example
 * ```ts
 * const damage = new Damage("/var/lib/gdp-ws/gdp-ws.sqlite");
 * try {
 *   damage.refuseWrites(); // throws a 503 once damage was found
 * } catch (error) {
 *   throw damage.note(error, "appending") ?? error;
 * }
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { GdpError } from "../../core/errors.ts";
import { LogThrottle } from "../../ops/throttle.ts";
import type { BackendState } from "../backend.ts";
import { isCorruption } from "./integrity.ts";

const log = getLogger(["gdp-ws", "embedded"]);

export class Damage {
  readonly #path: string;
  /** What SQLite said the first time; undefined while none was found. */
  #reason: string | undefined;
  #count = 0;
  readonly #log = new LogThrottle(10_000);

  constructor(path: string) {
    this.#path = path;
  }

  /** Errors that said the store is damaged, since it was opened. */
  get count(): number {
    return this.#count;
  }

  /**
   * When `error` says the store is damaged: notes, counts and logs it, and
   * returns what the client is told (500). Undefined for any other error.
   */
  note(error: unknown, doing: string): GdpError | undefined {
    if (!isCorruption(error)) return undefined;
    const reason = error instanceof Error ? error.message : String(error);
    this.#count++;
    this.#reason ??= reason;
    const suppressed = this.#log.due(`${doing}: ${reason}`);
    if (suppressed !== undefined) {
      log.error(
        "The store {path} is damaged: {reason} while {doing}; /readyz answers 503 and appends " +
          "are refused until it is restored ({suppressed} more not logged)",
        { path: this.#path, reason, doing, suppressed },
      );
    }
    return GdpError.of(500, `the store is damaged: ${reason}`, { cause: error });
  }

  /** Not ready once damage was found; undefined while none was. */
  state(): BackendState | undefined {
    if (this.#reason === undefined) return undefined;
    return {
      ready: false,
      state: "corrupt",
      detail: `${this.#path} is damaged (${this.#reason}); appends are refused`,
    };
  }

  /**
   * Throws 503 once damage was found: a write into a damaged b-tree can spread
   * the damage, and the last recno it builds on may be what was lost.
   */
  refuseWrites(): void {
    if (this.#reason === undefined) return;
    throw GdpError.of(
      503,
      `the store is damaged (${this.#reason}); writes are refused until it is restored`,
    );
  }
}
