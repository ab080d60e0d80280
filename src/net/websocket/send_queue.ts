/**
 * What a socket has to send, and the loop that writes it: whole frames, in
 * order, counted in bytes until the kernel has them, and capped. Frames
 * queued in one synchronous run go out in one write: the first write starts
 * at {@linkcode SendQueue.flush}, or in a microtask when nobody flushes (a
 * write started at the first frame took that frame alone, and a client's
 * cost per message is several times higher when each comes in a segment of
 * its own, BENCHMARKS.md). A pong waits
 * in a slot of its own: a peer is owed an answer to its latest ping only (RFC
 * 6455 §5.5.3), so a newer ping replaces the pong not yet sent instead of
 * queueing another, and a client that pings and never reads is owed one
 * frame, not one per ping.
 *
 * @example
 * ```ts
 * import { SendQueue } from "./send_queue.ts";
 *
 * const conn = { write: (b: Uint8Array) => Promise.resolve(b.length) } as unknown as Deno.Conn;
 * const queue = new SendQueue(conn, 1024, (event) => console.log(event));
 * queue.push(new Uint8Array(100)); // true: queued
 * queue.pong(new Uint8Array([1])); // true
 * queue.push(new Uint8Array(2000)); // false: over the cap, nothing queued
 * queue.flush(); // both in one write now ("drained" follows)
 * ```
 *
 * @module
 */

import { nextSlice, sliceSpent } from "../../io/time_slice.ts";
import { frame, Opcode } from "./frames.ts";
import { joinFrames, releaseJoined, WRITE_BATCH } from "./join_pool.ts";

/** What the queue tells its socket: writing failed (the connection is gone), or all is written. */
export type SendQueueEvent = "failed" | "drained";

/**
 * Queues whose first write waits for the microtask: one microtask starts them
 * all (not one closure and one microtask per socket of a fan-out).
 */
let due: SendQueue[] = [];

function flushDue(): void {
  const queues = due;
  due = [];
  for (const queue of queues) queue.flush();
}

export class SendQueue {
  readonly #conn: Deno.Conn;
  readonly #cap: number;
  readonly #notify: (event: SendQueueEvent) => void;
  #frames: Uint8Array[] = [];
  #pong: Uint8Array | undefined;
  /** Bytes of the frames and pong waiting. */
  #waiting = 0;
  /** Bytes taken for a write that has not completed. */
  #inWrite = 0;
  /** The write loop runs, or is due to start (`#due`). */
  #writing = false;
  /** The write loop starts at the next flush, or in the microtask queued for it. */
  #due = false;
  #stopped = false;
  /** What runs once everything queued is written. */
  #drained: (() => void) | undefined;

  /** `cap`: the most bytes the queue may hold, the write in progress included. */
  constructor(conn: Deno.Conn, cap: number, notify: (event: SendQueueEvent) => void) {
    this.#conn = conn;
    this.#cap = cap;
    this.#notify = notify;
  }

  /** Bytes queued and not yet written, the write in progress included. */
  get bytes(): number {
    return this.#waiting + this.#inWrite;
  }

  /**
   * Queues `frame` and writes it when its turn comes (with the frames queued
   * after it in this run, at the next flush or microtask); false, and nothing
   * queued, when it would take the queue past its cap. `capped` false is for
   * the one close frame a socket sends.
   */
  push(frame: Uint8Array, capped = true): boolean {
    if (capped && this.bytes + frame.length > this.#cap) return false;
    this.#frames.push(frame);
    this.#waiting += frame.length;
    this.#write();
    return true;
  }

  /**
   * Queues a pong carrying `payload` in place of the one still waiting, if
   * any (an equal one is kept as it is); false past the cap.
   */
  pong(payload: Uint8Array): boolean {
    const waiting = this.#pong;
    if (waiting && isPongOf(waiting, payload)) return true;
    const pong = frame(Opcode.PONG, payload);
    const replaced = waiting?.length ?? 0;
    if (this.bytes - replaced + pong.length > this.#cap) return false;
    this.#pong = pong;
    this.#waiting += pong.length - replaced;
    this.#write();
    return true;
  }

  /**
   * Drops everything waiting; a write in progress still completes and counts
   * until then.
   */
  clear(): void {
    this.#frames = [];
    this.#pong = undefined;
    this.#waiting = 0;
  }

  /** The socket is closed: nothing more is written, and nothing counts. */
  stop(): void {
    this.#stopped = true;
    this.clear();
    this.#inWrite = 0;
  }

  /** Runs `fn` once everything queued has been written (or writing failed). */
  afterWrites(fn: () => void): void {
    if (!this.#writing) return fn();
    const previous = this.#drained;
    this.#drained = () => {
      previous?.();
      fn();
    };
  }

  /**
   * Starts writing what is queued now, if no write is in progress (frames
   * queued meanwhile go out with the next write, when it completes).
   */
  flush(): void {
    if (!this.#due) return;
    this.#due = false;
    void this.#writeLoop();
  }

  #write(): void {
    if (this.#writing || this.#stopped) return;
    this.#writing = true;
    this.#due = true;
    if (due.push(this) === 1) queueMicrotask(flushDue);
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#hasWaiting() && !this.#stopped) {
        const batch = this.#take();
        for (let at = 0; at < batch.length;) at += await this.#conn.write(batch.subarray(at));
        releaseJoined(batch);
        this.#inWrite = Math.max(0, this.#inWrite - batch.length);
        // Writes to 10,000 sockets complete in one turn of the event loop: a
        // socket with more to send waits for a time slice before its next
        // write, so that turn cannot grow with the number of sockets. In a
        // `while`: work it did not start may have spent the slice first.
        // (A socket with nothing left goes on to its drain at once: its batch
        // frame is what a busy client waits for.)
        if (this.#hasWaiting()) {
          while (!this.#stopped && sliceSpent()) await nextSlice();
        }
      }
    } catch {
      this.stop();
      this.#notify("failed");
    } finally {
      this.#writing = false;
      const drained = this.#drained;
      this.#drained = undefined;
      drained?.();
      this.#notify("drained");
    }
  }

  #hasWaiting(): boolean {
    return this.#frames.length > 0 || this.#pong !== undefined;
  }

  /**
   * The next write: the waiting pong first (it answers a ping the peer may be
   * timing), then whole frames, up to WRITE_BATCH bytes but at least one
   * frame, joined into one pooled buffer when there are several.
   */
  #take(): Uint8Array {
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
    this.#inWrite += size;
    return parts.length === 1 ? parts[0]! : joinFrames(parts, size);
  }
}

/** Whether the pong frame `pong` (unmasked, 7-bit length) carries `payload`. */
function isPongOf(pong: Uint8Array, payload: Uint8Array): boolean {
  if (pong.length !== payload.length + 2) return false;
  for (let i = 0; i < payload.length; i++) if (pong[i + 2] !== payload[i]) return false;
  return true;
}
