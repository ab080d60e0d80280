/**
 * The open sockets of one idle timeout, checked by one shared timer every half
 * timeout: a timer per socket cost each idle connection more heap than the
 * socket itself (BENCHMARKS.md, idle memory). The timer runs only while the
 * set holds a socket, and is unref'd: it never keeps the process alive.
 *
 * @example
 * ```ts
 * import { IdleWatch } from "./idle_watch.ts";
 *
 * const socket = { checkIdle: (now: number) => console.log("checked at", now) };
 * IdleWatch.of(30_000).add(socket);
 * IdleWatch.of(30_000).delete(socket); // the last one: the timer stops
 * ```
 *
 * @module
 */

/** What the watch asks of a socket: to ping or close itself if it has been silent too long. */
export interface IdleChecked {
  checkIdle(now: number): void;
}

export class IdleWatch {
  static readonly #byTimeout = new Map<number, IdleWatch>();
  readonly #idleMs: number;
  readonly #sockets = new Set<IdleChecked>();
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(idleMs: number) {
    this.#idleMs = idleMs;
  }

  /** The watch of sockets whose idle timeout is `idleMs`. */
  static of(idleMs: number): IdleWatch {
    let watch = IdleWatch.#byTimeout.get(idleMs);
    if (!watch) IdleWatch.#byTimeout.set(idleMs, watch = new IdleWatch(idleMs));
    return watch;
  }

  add(socket: IdleChecked): void {
    this.#sockets.add(socket);
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => this.#sweep(), this.#idleMs / 2);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  delete(socket: IdleChecked): void {
    this.#sockets.delete(socket);
    if (this.#sockets.size > 0 || this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const now = performance.now();
    for (const socket of this.#sockets) socket.checkIdle(now);
  }
}
