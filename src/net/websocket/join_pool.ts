/**
 * Buffers that join queued frames for one write, free again once it is done.
 * Joining into fresh ones, 10,000 sockets allocated hundreds of MB a second
 * outside V8's heap, and that pressure made V8 collect garbage often and long
 * (BENCHMARKS.md). The pool keeps at most 64 of them.
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

const joinBuffers: Uint8Array<ArrayBuffer>[] = [];
const JOIN_BUFFERS_KEPT = 64;
/** Every buffer joinFrames made: nothing else may go into the pool (frames are shared). */
const joinMade = new WeakSet<ArrayBufferLike>();

/** `parts` (`size` bytes, at most WRITE_BATCH) one after another, in a pooled buffer. */
export function joinFrames(parts: readonly Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  let buffer = joinBuffers.pop();
  if (!buffer) joinMade.add((buffer = new Uint8Array(WRITE_BATCH)).buffer);
  let at = 0;
  for (const part of parts) {
    buffer.set(part, at);
    at += part.length;
  }
  return buffer.subarray(0, size);
}

/** Gives back the buffer of `bytes`, once written, if {@linkcode joinFrames} made it. */
export function releaseJoined(bytes: Uint8Array): void {
  if (!joinMade.has(bytes.buffer) || joinBuffers.length >= JOIN_BUFFERS_KEPT) return;
  joinBuffers.push(new Uint8Array(bytes.buffer as ArrayBuffer));
}
