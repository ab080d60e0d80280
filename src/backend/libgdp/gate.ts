/**
 * How many blocking libgdp calls run at once.
 *
 * Deno runs each `nonblocking` FFI call on a thread of its blocking pool, and
 * a libgdp call holds that thread for a whole round trip to the GDP (seconds
 * when the GDP is slow, 3 × 10 s when it does not answer). libgdp 2.1.12
 * also serializes some calls itself: `gdp_gin_open` holds a process-wide
 * lock for its round trip, so a thousand opens at once are a thousand
 * threads waiting on one lock (docs/libgdp.md). A {@linkcode CallGate}
 * admits at most `limit` calls at a time and queues the rest in order, so
 * the event pump's wait always finds a thread and the process never fills
 * its pool with waiters.
 *
 * @example
 * ```ts
 * const opens = new CallGate(1);
 * const stat = await opens.run(() => Promise.resolve(200));
 * ```
 *
 * @module
 */

/** See the module docs. */
export class CallGate {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /** A gate admitting `limit` calls at once. */
  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Calls now running. */
  get running(): number {
    return this.#running;
  }

  /** Calls waiting for their turn. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Runs `call` once fewer than `limit` calls are running. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await call();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the slot passes on without being released
      else this.#running--;
    }
  }
}
