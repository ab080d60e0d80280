/**
 * When to try a subscription again after libgdp ended it or the link failed:
 * at most one try pending, on a timer that does not keep the process alive,
 * with exponential backoff (`initialMs`, doubling, at most `maxMs`) until a
 * try succeeds.
 *
 * @example
 * ```ts
 * import { Renewal } from "./renewal.ts";
 *
 * const renewal = new Renewal(100, 30_000);
 * renewal.schedule(() => console.log("subscribe again"), renewal.backoff()); // in 100 ms
 * renewal.schedule(() => console.log("not run: one is pending"), 0);
 * renewal.cancel();
 * ```
 *
 * @module
 */

export class Renewal {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #delay = 0;

  constructor(readonly initialMs: number, readonly maxMs: number) {}

  /** The next delay of the backoff: `initialMs` first, then twice the last, at most `maxMs`. */
  backoff(): number {
    this.#delay = Math.min(Math.max(this.initialMs, this.#delay * 2), this.maxMs);
    return this.#delay;
  }

  /** A try succeeded: the next backoff starts from `initialMs` again. */
  succeeded(): void {
    this.#delay = 0;
  }

  /** Runs `run` in `delay` ms, unless a try is pending already. */
  schedule(run: () => void, delay: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      run();
    }, delay);
    Deno.unrefTimer(this.#timer);
  }

  /** Drops the pending try, if any. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
