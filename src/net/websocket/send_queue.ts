/**
 * What a socket has to send and has not yet handed to the kernel: whole
 * frames, in order, counted in bytes and capped. A pong waits in a slot of its
 * own: a peer is owed an answer to its latest ping only (RFC 6455 §5.5.3), so
 * a newer ping replaces the pong not yet sent instead of queueing another, and
 * a client that pings and never reads is owed one frame, not one per ping.
 *
 * @example
 * ```ts
 * import { SendQueue } from "./send_queue.ts";
 *
 * const queue = new SendQueue(1024);
 * queue.push(new Uint8Array(100)); // true
 * queue.pong(new Uint8Array([0x8a, 0])); // true
 * queue.pong(new Uint8Array([0x8a, 0])); // true, and still one pong waits
 * queue.push(new Uint8Array(2000)); // false: over the cap, nothing queued
 * const batch = queue.take()!; // the pong, then the 100 bytes, joined
 * queue.written(batch.length);
 * ```
 *
 * @module
 */

import { joinFrames, WRITE_BATCH } from "./join_pool.ts";

export class SendQueue {
  readonly #cap: number;
  #frames: Uint8Array[] = [];
  #pong: Uint8Array | undefined;
  /** Bytes of the frames and pong waiting. */
  #waiting = 0;
  /** Bytes taken for a write that has not completed. */
  #writing = 0;

  /** `cap`: the most bytes the queue may hold, the write in progress included. */
  constructor(cap: number) {
    this.#cap = cap;
  }

  /** Bytes queued and not yet written, the write in progress included. */
  get bytes(): number {
    return this.#waiting + this.#writing;
  }

  /** True while a frame waits to be taken. */
  get waiting(): boolean {
    return this.#frames.length > 0 || this.#pong !== undefined;
  }

  /**
   * Queues `frame`; false, and nothing queued, when it would take the queue
   * past its cap. `capped` false is for the one close frame a socket sends.
   */
  push(frame: Uint8Array, capped = true): boolean {
    if (capped && this.bytes + frame.length > this.#cap) return false;
    this.#frames.push(frame);
    this.#waiting += frame.length;
    return true;
  }

  /** Queues a pong in place of the one still waiting, if any; false past the cap. */
  pong(frame: Uint8Array): boolean {
    const replaced = this.#pong?.length ?? 0;
    if (this.bytes - replaced + frame.length > this.#cap) return false;
    this.#pong = frame;
    this.#waiting += frame.length - replaced;
    return true;
  }

  /** The pong waiting to be sent, if any. */
  get pendingPong(): Uint8Array | undefined {
    return this.#pong;
  }

  /**
   * The next write: the waiting pong first (it answers a ping the peer may be
   * timing), then whole frames, up to WRITE_BATCH bytes but at least one
   * frame, joined into one pooled buffer when there are several. Its bytes
   * count until {@linkcode written} says they went out.
   */
  take(): Uint8Array | undefined {
    const frames = this.#frames;
    let size = this.#pong?.length ?? 0;
    let count = 0;
    while (
      count < frames.length &&
      ((count === 0 && size === 0) || size + frames[count]!.length <= WRITE_BATCH)
    ) {
      size += frames[count]!.length;
      count++;
    }
    const parts = frames.splice(0, count);
    if (this.#pong) parts.unshift(this.#pong);
    this.#pong = undefined;
    this.#waiting -= size;
    this.#writing += size;
    if (parts.length <= 1) return parts[0];
    return joinFrames(parts, size);
  }

  /** `n` bytes of what was taken have been written. */
  written(n: number): void {
    this.#writing = Math.max(0, this.#writing - n);
  }

  /**
   * Drops everything waiting; a write in progress still completes and counts
   * until then, unless `writing` says it will not (the connection is gone).
   */
  clear(writing = true): void {
    this.#frames = [];
    this.#pong = undefined;
    this.#waiting = 0;
    if (!writing) this.#writing = 0;
  }
}
