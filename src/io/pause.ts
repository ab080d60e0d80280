/**
 * A wait of some milliseconds that its owner can end early, so that a closing
 * connection does not keep a held message (and its timer) alive.
 *
 * @example
 * ```ts
 * import { Pause } from "./pause.ts";
 *
 * const pause = new Pause();
 * const waited = pause.for(10_000);
 * pause.end(); // `waited` settles now, not in 10 s
 * await waited;
 * ```
 *
 * @module
 */

export class Pause {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resume: (() => void) | undefined;

  /** Settles after `ms`, or at {@linkcode Pause.end}. One wait at a time. */
  for(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#resume = () => {
        clearTimeout(this.#timer);
        this.#timer = this.#resume = undefined;
        resolve();
      };
      this.#timer = setTimeout(this.#resume, ms);
    });
  }

  /** Ends the wait in progress, if any. */
  end(): void {
    this.#resume?.();
  }
}
