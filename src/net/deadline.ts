/**
 * One deadline for a stage of a connection (its head, its body, a write):
 * one timer however many reads or writes wait on it, and no reaction left on
 * a long-lived promise per wait, so a head sent a byte at a time costs one
 * timer, not one per byte.
 *
 * @example
 * ```ts
 * const deadline = new Deadline(1000);
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = await deadline.wait(listener.accept()); // EXPIRED after 1 s
 * if (accepted !== EXPIRED) accepted.close();
 * listener.close();
 * deadline.clear();
 * ```
 *
 * @module
 */

/** What {@linkcode Deadline.wait} gives when the deadline passed first. */
export const EXPIRED: unique symbol = Symbol("expired");

export class Deadline {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #expired = false;
  #wake: (() => void) | undefined;

  /** Expires `ms` from now. */
  constructor(ms: number) {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#expired = true;
      this.#wake?.();
    }, ms);
  }

  get expired(): boolean {
    return this.#expired;
  }

  /**
   * `promise`'s outcome, or {@linkcode EXPIRED} when the deadline passes first.
   * The promise goes on (a read cannot be cancelled); whoever waits again
   * must wait on that same promise.
   */
  wait<T>(promise: Promise<T>): Promise<T | typeof EXPIRED> {
    if (this.#expired) return Promise.resolve(EXPIRED);
    return new Promise<T | typeof EXPIRED>((resolve, reject) => {
      this.#wake = () => resolve(EXPIRED);
      promise.then((value) => {
        this.#wake = undefined;
        resolve(value);
      }, (error) => {
        this.#wake = undefined;
        reject(error);
      });
    });
  }

  /** Stops the timer: the stage is over. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wake = undefined;
  }
}
