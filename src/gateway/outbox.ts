/**
 * What one WebSocket connection sends, under `--send-queue-bytes`: each event
 * as its own text frame, or in batch mode the events of a turn gathered into
 * one batch frame, held while the socket is still writing an earlier one (its
 * drain sends it). Past the cap, nothing more is queued and its owner hears
 * `onLimit("maxQueuedBytes")`, as from the socket itself (the session closes
 * with 1013).
 *
 * @example
 * ```ts
 * import type { ServerWebSocket } from "../net/websocket/mod.ts";
 * import { Outbox } from "./outbox.ts";
 *
 * declare const socket: ServerWebSocket;
 * const traffic = { framesOut: 0, bytesOut: 0 };
 * const owner = { onLimit: () => socket.close(1013, "send queue full") };
 * const outbox = new Outbox(socket, owner, { batch: true, sendQueueBytes: 8 << 20, traffic });
 * outbox.send('{"type":1}');
 * outbox.flush(); // one frame: [{"type":1}]
 * ```
 *
 * @module
 */

import type { ServerWebSocket, SocketHandler } from "../net/websocket/mod.ts";
import { batchFrame, type Utf8Parts } from "./batch_frame.ts";
import type { Traffic } from "./gateway_metrics.ts";

export interface OutboxOptions {
  /** Batch mode: every frame is a JSON array of events (docs/protocol.md#batch-mode). */
  batch: boolean;
  /** Bytes queued for the socket at most, an unsent batch included. */
  sendQueueBytes: number;
  /** Frame and byte totals, shared by every connection. */
  traffic: Traffic;
}

/** Who hears that the queue would pass `sendQueueBytes` (what was to be sent is not). */
export type QueueOwner = Required<Pick<SocketHandler, "onLimit">>;

const OPEN = 1;

export class Outbox {
  /** Frames handed to the socket. */
  frames = 0;
  readonly #socket: ServerWebSocket;
  readonly #owner: QueueOwner;
  readonly #batchMode: boolean;
  readonly #cap: number;
  readonly #traffic: Traffic;
  /** Events for the next batch frame: strings, and history the store joined (UTF-8). */
  #batch: (string | Uint8Array)[] = [];
  /** Characters (bytes for UTF-8) in `#batch`. */
  #batchChars = 0;

  /** The options are copied: every connection holds its outbox, not an options object too. */
  constructor(socket: ServerWebSocket, owner: QueueOwner, options: OutboxOptions) {
    this.#socket = socket;
    this.#owner = owner;
    this.#batchMode = options.batch;
    this.#cap = options.sendQueueBytes;
    this.#traffic = options.traffic;
  }

  /** Bytes waiting for the socket: its queue and an unsent batch. */
  get queued(): number {
    return this.#socket.bufferedAmount + this.#batchChars;
  }

  /** One event: a frame of its own, or the next element of the batch. */
  send(text: string): void {
    if (!this.#batchMode) return this.#write(text);
    this.#add(text, text.length);
  }

  /** Batch mode: events the store joined by commas, as UTF-8. */
  sendJoined(utf8: Uint8Array): void {
    this.#add(utf8, utf8.length);
  }

  /** One object per frame: `count` events the store joined by newlines, a frame each. */
  sendLines(utf8: Uint8Array, count: number): void {
    if (this.#counted(utf8.length, count)) this.#socket.sendLines(utf8);
  }

  /**
   * Sends the batch as one frame. While the socket is still writing an earlier
   * frame, the batch waits and grows (unless `now`): the socket's drain sends it.
   * A client that keeps up gets every event at once; one that is busy gets
   * fewer, larger frames, which cost both sides less per event.
   */
  flush(now = false): void {
    if (this.#batch.length === 0) return;
    if (!now && this.#socket.bufferedAmount > 0) return;
    const frame = batchFrame(this.#batch);
    this.clear();
    this.#write(frame);
    this.#socket.flush();
  }

  /** Drops the unsent batch. */
  clear(): void {
    this.#batch = [];
    this.#batchChars = 0;
  }

  /** A text frame: a string, or parts of UTF-8 already checked. */
  #write(text: string | Utf8Parts): void {
    const size = typeof text === "string" ? text.length : text.size;
    if (!this.#counted(size, 1)) return;
    if (typeof text === "string") this.#socket.send(text);
    else this.#socket.sendUtf8(text.parts);
  }

  /**
   * Whether `frames` frames of `size` may go to the socket now (it is open and
   * they fit under the cap), counted if so; past the cap, the owner hears of it.
   */
  #counted(size: number, frames: number): boolean {
    if (this.#socket.readyState !== OPEN) return false;
    if (this.#socket.bufferedAmount + size > this.#cap) {
      this.#owner.onLimit("maxQueuedBytes");
      return false;
    }
    this.frames += frames;
    this.#traffic.framesOut += frames;
    this.#traffic.bytesOut += size;
    return true;
  }

  #add(event: string | Uint8Array, size: number): void {
    if (this.#batch.push(event) === 1) queueMicrotask(() => this.flush());
    this.#batchChars += size;
    if (this.#socket.bufferedAmount + this.#batchChars > this.#cap) {
      this.#owner.onLimit("maxQueuedBytes");
    }
  }
}
