/**
 * Buffers that join queued frames for one write, free again once it is done.
 * Joining into fresh ones, 10,000 sockets allocated hundreds of MB a second
 * outside V8's heap, and that pressure made V8 collect garbage often and long
 * (BENCHMARKS.md). Two sizes: a fan-out sweep joins a few small frames for
 * each of many sockets at once, each join held until its write completes, so
 * the small ones are many; a busy socket's run fills a large one.
 *
 * @example
 * ```ts
 * import { joinFrames, releaseJoined } from "./join_pool.ts";
 *
 * const batch = joinFrames([new Uint8Array([1]), new Uint8Array([2, 3])], 3);
 * // … written to a connection, then:
 * releaseJoined(batch);
 * ```
 *
 * @module
 */

/** At most this much of a socket's queue goes into one write. */
export const WRITE_BATCH = 256 * 1024;
/** A join this small takes a small buffer (a sweep's share of 100 B frames fits many times). */
export const SMALL_JOIN = 4 * 1024;

/** Free buffers of one size, at most `kept` of them (4 MiB of small ones, 16 MiB of large). */
class Pool {
  readonly #free: Uint8Array<ArrayBuffer>[] = [];
  constructor(readonly size: number, readonly kept: number) {}

  take(): Uint8Array<ArrayBuffer> {
    const buffer = this.#free.pop();
    if (buffer) return buffer;
    const made = new Uint8Array(this.size);
    joinMade.add(made.buffer);
    return made;
  }

  give(buffer: ArrayBuffer): void {
    if (this.#free.length < this.kept) this.#free.push(new Uint8Array(buffer));
  }

  get free(): number {
    return this.#free.length;
  }
}

/** Every buffer joinFrames made: nothing else may go into a pool (frames are shared). */
const joinMade = new WeakSet<ArrayBufferLike>();
const small = new Pool(SMALL_JOIN, 1024);
const large = new Pool(WRITE_BATCH, 64);

/** `parts` (`size` bytes, at most WRITE_BATCH) one after another, in a pooled buffer. */
export function joinFrames(parts: readonly Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const buffer = (size <= SMALL_JOIN ? small : large).take();
  let at = 0;
  for (const part of parts) {
    buffer.set(part, at);
    at += part.length;
  }
  return buffer.subarray(0, size);
}

/** Gives back the buffer of `bytes`, once written, if {@linkcode joinFrames} made it. */
export function releaseJoined(bytes: Uint8Array): void {
  const buffer = bytes.buffer as ArrayBuffer;
  if (!joinMade.has(buffer)) return;
  (buffer.byteLength === SMALL_JOIN ? small : large).give(buffer);
}

/** Free buffers in the pools now, by size (for tests). */
export function pooled(): { small: number; large: number } {
  return { small: small.free, large: large.free };
}
