/**
 * A connection's input as the HTTP/1.1 reader sees it: bytes read into one
 * buffer that grows by doubling up to a cap and is compacted only when its
 * front has been consumed, so reading a head or a body costs time linear in
 * its size however it is split into reads. At most one read is outstanding:
 * a read that outlived its deadline is the one the next fill waits for.
 *
 * @example
 * ```ts
 * import { Deadline } from "../deadline.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port });
 * const server = await listener.accept();
 * await client.write(new TextEncoder().encode("hello"));
 * const input = new ConnInput(server, 16 * 1024);
 * const deadline = new Deadline(1000);
 * await input.fill(deadline); // "data"
 * input.consume(input.buffered.length);
 * deadline.clear();
 * for (const c of [client, server, listener]) c.close();
 * ```
 *
 * @module
 */

import type { ConnLike } from "../../io/conn.ts";
import { type Deadline, EXPIRED } from "../deadline.ts";

/** How a fill ended: bytes arrived, the peer ended (or failed), time ran out, or the cap is reached. */
export type FillOutcome = "data" | "end" | "timeout" | "full";

const FIRST_SIZE = 2048;
/**
 * Reads a stage (a head, a body) makes before the next ones are paced: a
 * client that sends a byte at a time costs a wake-up of the event loop per
 * read (about 0.1 ms of CPU each), so past these each read waits
 * {@linkcode PACE_MS} first and finds what arrived meanwhile. A head comes
 * in a few reads, a body in pieces of up to 64 KiB: neither is paced.
 */
export const FREE_READS = 64;
export const PACE_MS = 100;

export class ConnInput {
  readonly #conn: ConnLike;
  readonly #cap: number;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #pending: Promise<number | null> | undefined;
  #ended = false;
  /** Room the outstanding read was given, and whether the last read took all of it. */
  #room = 0;
  #filled = false;
  #reads = 0;
  readonly #paceMs: number;

  /**
   * `cap`: the most bytes held unconsumed at once; `paceMs`: the wait before
   * each read past a stage's first {@linkcode FREE_READS} (0: none).
   */
  constructor(conn: ConnLike, cap: number, paceMs = PACE_MS) {
    this.#conn = conn;
    this.#cap = cap;
    this.#paceMs = paceMs;
    this.#buffer = new Uint8Array(Math.min(FIRST_SIZE, cap));
  }

  /** The bytes read and not yet consumed (a view, valid until the next fill). */
  get buffered(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  /** True once the peer has ended its side (or the connection failed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** A new stage (a head, a body) starts: its first {@linkcode FREE_READS} reads are not paced. */
  newStage(): void {
    this.#reads = 0;
  }

  /** Drops the first `n` buffered bytes. */
  consume(n: number): void {
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /**
   * Reads more bytes after the buffered ones, waiting until `deadline` at
   * most. A read that filled all the room it had doubles the next one's (up
   * to the cap): a body arriving fast is read in large pieces, while a
   * connection that trickles, or waits, keeps a small buffer.
   */
  async fill(deadline: Deadline): Promise<FillOutcome> {
    if (this.#ended) return "end";
    if (this.#pending === undefined) {
      if (++this.#reads > FREE_READS && this.#paceMs > 0) {
        if (await pause(deadline, this.#paceMs) === EXPIRED) return "timeout";
      }
      if (this.#filled && this.#start === this.#end) this.reserve(this.#buffer.length * 2);
      if (!this.#makeRoom()) return "full";
      this.#room = this.#buffer.length - this.#end;
      this.#pending = this.#conn.read(this.#buffer.subarray(this.#end));
    }
    let n: number | null | typeof EXPIRED;
    try {
      n = await deadline.wait(this.#pending);
    } catch {
      n = null; // reset, or closed by us
    }
    if (n === EXPIRED) return "timeout";
    this.#pending = undefined;
    if (n === null) {
      this.#ended = true;
      return "end";
    }
    this.#end += n;
    this.#filled = n === this.#room;
    return "data";
  }

  /**
   * Makes room for reads of up to `size` bytes, within the cap; nothing
   * changes while a read is outstanding.
   */
  reserve(size: number): void {
    if (this.#pending !== undefined) return;
    const held = this.#end - this.#start;
    const want = Math.min(this.#cap, held + size);
    if (this.#buffer.length >= want) return;
    const grown = new Uint8Array(want);
    grown.set(this.#buffer.subarray(this.#start, this.#end));
    this.#buffer = grown;
    this.#start = 0;
    this.#end = held;
  }

  /** Back to a small buffer once little is held (a kept-alive connection waiting). */
  shrink(): void {
    const held = this.#end - this.#start;
    if (this.#pending !== undefined || this.#buffer.length <= FIRST_SIZE || held > FIRST_SIZE) {
      return;
    }
    const small = new Uint8Array(Math.min(FIRST_SIZE, this.#cap));
    small.set(this.#buffer.subarray(this.#start, this.#end));
    this.#buffer = small;
    this.#start = 0;
    this.#end = held;
  }

  /**
   * The buffered bytes, copied, and the buffer let go: a WebSocket takes the
   * connection over with them (an idle socket kept 2 KiB here for nothing).
   */
  takeAll(): Uint8Array {
    const bytes = this.buffered.slice();
    this.#buffer = new Uint8Array(0);
    this.#start = this.#end = 0;
    return bytes;
  }

  /** Room after the buffered bytes: compacts, then grows up to the cap; false when full. */
  #makeRoom(): boolean {
    if (this.#end < this.#buffer.length) return true;
    const held = this.#end - this.#start;
    if (held >= this.#cap) return false;
    if (this.#start > 0 && held <= this.#buffer.length / 2) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    } else {
      // From FIRST_SIZE: after takeAll the buffer is empty, and doubling 0 makes no room.
      const grown = new Uint8Array(
        Math.min(this.#cap, Math.max(FIRST_SIZE, this.#buffer.length * 2)),
      );
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = grown;
    }
    this.#start = 0;
    this.#end = held;
    return true;
  }
}

/** Waits `ms`, or until `deadline`. */
async function pause(deadline: Deadline, ms: number): Promise<void | typeof EXPIRED> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await deadline.wait(new Promise<void>((resolve) => timer = setTimeout(resolve, ms)));
  } finally {
    clearTimeout(timer);
  }
}
