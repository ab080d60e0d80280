/**
 * The server side of one WebSocket (RFC 6455) over a connection the front door
 * accepted, in place of `Deno.upgradeWebSocket`, which buffers a whole frame of
 * up to 64 MiB before anyone may look at it, drops TCP without a close frame on
 * a protocol error and keeps a queue its `bufferedAmount` does not bound. Here
 * what a message may cost is checked from frame headers ({@linkcode FrameReader}:
 * 1009 past `maxMessageBytes` or `maxFragments`); protocol errors close with
 * 1002, invalid UTF-8 with 1007; input is handled a message at a time in the
 * process's time slices, with no read pending meanwhile, and `admit` may hold a
 * message back (a rate limit): either way TCP slows the client, and one read
 * of 100,000 frames does not hold the event loop. Everything queued, control
 * frames included, counts in `bufferedAmount`, capped at `maxQueuedBytes`
 * ({@linkcode SendQueue}: close 1013). Silence for `idleTimeoutSec` sends a
 * ping; as long again without an answer closes with 1001.
 *
 * Its owner hears of it through one {@linkcode SocketHandler}.
 *
 * @example
 * ```ts
 * import { ServerWebSocket } from "./socket.ts";
 *
 * const conn = await Deno.listen({ hostname: "127.0.0.1", port: 0 }).accept();
 * // … once the upgrade's head has been read and answered on `conn`:
 * const socket = new ServerWebSocket(conn, {
 *   maxMessageBytes: 1 << 21,
 *   maxFragments: 1024,
 *   maxQueuedBytes: 1 << 23,
 *   idleTimeoutSec: 30,
 * });
 * socket.handler = { onMessage: (data) => socket.send(String(data)) };
 * socket.start();
 * ```
 *
 * @module
 */

import { closeQuietly } from "../../io/conn.ts";
import { Pause } from "../../io/pause.ts";
import { nextSlice, sliceSpent } from "../../io/time_slice.ts";
import { CloseCode } from "./close_codes.ts";
import {
  closeFrame,
  frame,
  FrameError,
  frameOf,
  Opcode,
  parseClosePayload,
  textFrame,
  textFramesOf,
} from "./frames.ts";
import { type IdleChecked, IdleWatch } from "./idle_watch.ts";
import { FrameReader, ReadResult } from "./reader.ts";
import { SendQueue } from "./send_queue.ts";
import {
  CLOSE_WAIT_MS,
  CLOSE_WRITE_MS,
  type CloseInfo,
  HANDLED_PER_LOOK,
  LARGE_READ,
  type ServerWebSocketOptions,
  SMALL_READ,
  type SocketHandler,
  type SocketLimit,
} from "./socket_options.ts";

export type { CloseInfo, ServerWebSocketOptions, SocketHandler, SocketLimit };

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const utf8 = new TextDecoder("utf-8", { fatal: true });
/** The idle ping: frames are never changed once built, so one serves every socket. */
const PING = frame(Opcode.PING, new Uint8Array(0));
/** The handler of a socket nobody listens to. */
const NO_HANDLER: SocketHandler = Object.freeze({});

export class ServerWebSocket implements IdleChecked {
  readonly protocol: string;
  /** Who is told of messages, limits, drains and the close. */
  handler: SocketHandler = NO_HANDLER;

  readonly #conn: Deno.Conn;
  readonly #maxQueuedBytes: number;
  /** Silence (ms) before a ping; 0: never. */
  readonly #idleMs: number;
  /** Bytes read with the request head, until the read loop takes them. */
  #initial: Uint8Array | undefined;
  #state = CONNECTING;
  readonly #reader: FrameReader;
  readonly #queue: SendQueue;
  #sentClose = false;
  /** After a protocol error: input is read and dropped until the peer closes. */
  #discarding = false;
  #closeInfo: CloseInfo | undefined;
  #lastHeard = performance.now();
  #pinged = false;
  /** Input read and not yet handled: waiting for a time slice, or for `admit`. */
  #busy = false;
  /** The wait `admit` asked for, ended early when the socket closes. */
  #pause: Pause | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: Deno.Conn, options: ServerWebSocketOptions) {
    this.#conn = conn;
    this.#reader = new FrameReader(options);
    this.#queue = new SendQueue(conn, options.maxQueuedBytes, (event) => {
      if (event === "failed") this.#finish(CloseCode.ABNORMAL, "", false);
      else if (this.#state === OPEN) this.handler.onDrain?.();
    });
    this.#maxQueuedBytes = options.maxQueuedBytes;
    this.#idleMs = options.idleTimeoutSec * 1000;
    this.#initial = options.initial;
    this.protocol = options.protocol ?? "";
  }

  get readyState(): number {
    return this.#state;
  }

  /** Bytes queued and not yet handed to the kernel, control frames included. */
  get bufferedAmount(): number {
    return this.#queue.bytes;
  }

  /** Opens the socket (after the 101 has been written) and starts reading. */
  start(): void {
    this.#state = OPEN;
    // Frames are whole when written, and batched already: Nagle would hold an answer
    // back until the client acknowledges the one before, which it may delay.
    try {
      (this.#conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
    } catch {
      // Gone already: the first read says so.
    }
    if (this.#idleMs > 0) IdleWatch.of(this.#idleMs).add(this);
    this.handler.onOpen?.();
    void this.#readLoop();
  }

  /**
   * Ends a socket that was never started (its 101 could not be written): the
   * connection closes and `onclose` gets 1006, so whoever counted the socket
   * when it was accepted lets go of it.
   */
  abort(): void {
    this.#finish(CloseCode.ABNORMAL, "", false);
  }

  send(data: string | Uint8Array): void {
    if (this.#state !== OPEN) return;
    this.#enqueue(typeof data === "string" ? textFrame(data) : frame(Opcode.BINARY, data));
  }

  /** A text frame of `parts` one after another: UTF-8 the caller has checked. */
  sendUtf8(parts: readonly Uint8Array[]): void {
    if (this.#state !== OPEN) return;
    this.#enqueue(frameOf(Opcode.TEXT, parts));
  }

  /**
   * A text frame for each line of `lines` (UTF-8 the caller has checked,
   * separated by newlines, none in a line), built into one buffer.
   */
  sendLines(lines: Uint8Array): void {
    if (this.#state !== OPEN) return;
    this.#enqueue(textFramesOf(lines));
  }

  /**
   * Writes now what was sent in this run. Without it the frames sent in one
   * run go out together in a microtask: one write, however many they are.
   */
  flush(): void {
    this.#queue.flush();
  }

  /**
   * Starts the closing handshake. Frames already queued go first, unless `drop`
   * (by default for 1013, a slow consumer: its queue is what it cannot take).
   */
  close(
    code: number = CloseCode.NORMAL,
    reason = "",
    drop = code === CloseCode.TRY_AGAIN_LATER,
  ): void {
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    this.#state = CLOSING;
    // A message held back by `admit` will not be handled now: read on, to the peer's close.
    this.#pause?.end();
    if (drop) this.#queue.clear();
    this.#sendClose(code, reason);
    // A peer that reads nothing never gets the close frame: give up on it after
    // CLOSE_WRITE_MS. Once the frame is out, the peer has CLOSE_WAIT_MS to answer.
    const finish = () => this.#finish(code, reason, false);
    this.#closeTimer = setTimeout(finish, CLOSE_WRITE_MS);
    this.#queue.afterWrites(() => {
      // The peer may have gone while the frame was written: no timer outlives the socket.
      if (this.#state === CLOSED) return;
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(finish, CLOSE_WAIT_MS);
    });
  }

  /** Pings a socket silent for the idle timeout, or closes it if it was pinged already. */
  checkIdle(now: number): void {
    if (this.#state !== OPEN) return;
    // Input still being handled is no silence: this socket chose not to read.
    if (this.#busy) {
      this.#lastHeard = now;
      this.#pinged = false;
      return;
    }
    if (now - this.#lastHeard < this.#idleMs) return;
    if (!this.#pinged) {
      this.#pinged = true;
      this.#lastHeard = now;
      this.#enqueue(PING);
      return;
    }
    this.close(CloseCode.GOING_AWAY, "idle timeout: no answer to a ping", true);
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(SMALL_READ);
    const initial = this.#initial;
    this.#initial = undefined;
    try {
      if (initial?.length) await this.#handle(initial, initial.length);
      while (this.#state !== CLOSED && !this.#closeInfo?.wasClean) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.#lastHeard = performance.now();
        this.#pinged = false;
        if (!this.#discarding) await this.#handle(buffer, n);
        // Idle sockets hold a small buffer; one that fills it gets the large one.
        const size = n === buffer.length ? LARGE_READ : SMALL_READ;
        if (size !== buffer.length) buffer = new Uint8Array(size);
      }
    } catch {
      // Reset by the peer, or closed by us: either way the socket is done.
    }
    // After the peer's close frame nothing more is read: a read still pending
    // when the connection closes is cancelled with an Error, and building
    // 10,000 of them held the loop in a mass disconnect. Its close ends it.
    if (this.#closeInfo?.wasClean) return;
    // In a time slice: peers that drop their connections together (a network
    // gone, a client fleet restarted) end in one turn, each with its teardown.
    while (this.#waitsForSlice()) await nextSlice();
    this.#finish(
      this.#closeInfo?.code ?? CloseCode.ABNORMAL,
      this.#closeInfo?.reason ?? "",
      !!this.#closeInfo,
    );
  }

  /**
   * Handles what one read brought, a message or control frame at a time, in
   * time slices, looked at every HANDLED_PER_LOOK (frames from 10,000 sockets,
   * or 100,000 in one read, must not hold one turn of the event loop). No read
   * is pending meanwhile.
   */
  async #handle(bytes: Uint8Array, end: number): Promise<void> {
    const reader = this.#reader;
    this.#busy = true;
    try {
      let unchecked = HANDLED_PER_LOOK;
      for (let at = 0; at < end;) {
        if (++unchecked > HANDLED_PER_LOOK) {
          unchecked = 1;
          while (this.#waitsForSlice()) await nextSlice();
        }
        if (this.#discarding || this.#closeInfo || this.#state === CLOSED) return;
        try {
          const result = reader.next(bytes, at, end);
          at = reader.at;
          if (result === ReadResult.MESSAGE) await this.#onMessage(reader.kind, reader.take());
          else if (result === ReadResult.CONTROL) this.#onControl(reader.kind, reader.take());
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          if (error.limit) this.handler.onLimit?.(error.limit);
          return this.#fail(error.code, error.message);
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  async #onMessage(opcode: number, payload: Uint8Array): Promise<void> {
    // After our close frame (RFC 6455 §5.5.1) data is read only to find the peer's.
    if (this.#state !== OPEN) return;
    let data: string | ArrayBuffer;
    if (opcode === Opcode.TEXT) {
      try {
        data = utf8.decode(payload);
      } catch {
        // RFC 6455 §8.1: text is UTF-8, else the connection fails with 1007.
        throw new FrameError(CloseCode.INVALID_DATA, "text frame is not valid UTF-8");
      }
    } else {
      // A view of the read buffer (which is reused) never fills its buffer from
      // byte 0; a message buffer may, and is the message's alone.
      data = payload.byteOffset === 0 && payload.buffer.byteLength === payload.length
        ? payload.buffer as ArrayBuffer
        : payload.slice().buffer as ArrayBuffer;
    }
    const hold = this.handler.admit?.() ?? 0;
    if (hold > 0) {
      await (this.#pause ??= new Pause()).for(hold);
      if (this.#state !== OPEN) return;
    }
    this.handler.onMessage?.(data);
  }

  #onControl(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.CLOSE) return this.#onCloseFrame(payload);
    if (opcode !== Opcode.PING || this.#state !== OPEN) return;
    // RFC 6455 §5.5.3: a pong carries the ping's payload, and only the latest
    // ping need be answered: a pong still waiting is replaced.
    if (!this.#queue.pong(payload)) this.#overflow();
  }

  #onCloseFrame(payload: Uint8Array): void {
    const { code, reason } = parseClosePayload(payload);
    this.#closeInfo = { code, reason, wasClean: true };
    // No read is pending any more (see #readLoop): a peer that stops reading
    // as well is given up after CLOSE_WAIT_MS.
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#finish(code, reason, true), CLOSE_WAIT_MS);
    const echo = this.#state === OPEN;
    if (echo) {
      this.#state = CLOSING;
      this.#queue.clear(); // nothing more will be sent but the echo
    }
    void this.#endInSlice(echo, code, reason);
  }

  /**
   * Echoes the peer's close code (RFC 6455 §5.5.1) and closes the connection,
   * in a time slice: the write and the close are a syscall each, and 2,500
   * peers closing together would otherwise hold one turn for tens of ms.
   */
  async #endInSlice(echo: boolean, code: number, reason: string): Promise<void> {
    while (this.#waitsForSlice()) await nextSlice();
    if (this.#state === CLOSED) return;
    if (echo) this.#sendClose(code === CloseCode.NO_STATUS ? CloseCode.NORMAL : code, "");
    this.#queue.afterWrites(() => void this.#finishInSlice(code, reason));
  }

  /**
   * Closes the connection once the echo is written, in a time slice too: the
   * echoes of 2,500 peers complete together, and each close brings the
   * session's teardown with it.
   */
  async #finishInSlice(code: number, reason: string): Promise<void> {
    while (this.#waitsForSlice()) await nextSlice();
    this.#finish(code, reason, true);
  }

  /**
   * Whether this socket's next step waits for a time slice: not once it is
   * closed (nothing to wait for, and no slice is started for it).
   */
  #waitsForSlice(): boolean {
    return this.#state !== CLOSED && sliceSpent();
  }

  /**
   * A protocol error: a close frame with `code`, then the end of our side. What
   * the peer still sends is read and dropped until it closes (or CLOSE_WAIT_MS):
   * closing with unread input would reset the connection and lose the close frame.
   */
  #fail(code: number, reason: string): void {
    this.#closeInfo = { code, reason, wasClean: false };
    this.#discarding = true;
    this.#reader.release();
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      this.#queue.clear();
      this.#sendClose(code, reason);
    }
    this.#queue.afterWrites(() => {
      if (this.#state === CLOSED) return;
      this.#conn.closeWrite().catch(() => {});
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#finish(code, reason, false), CLOSE_WAIT_MS);
    });
  }

  #sendClose(code: number, reason: string): void {
    if (this.#sentClose) return;
    this.#sentClose = true;
    // Past the cap: a socket always has room for its one close frame.
    this.#queue.push(closeFrame(code, reason), false);
  }

  #enqueue(bytes: Uint8Array): void {
    if (!this.#queue.push(bytes)) this.#overflow();
  }

  /** The queue is at its cap: the peer is not reading. Close 1013 and drop what it cannot take. */
  #overflow(): void {
    this.handler.onLimit?.("maxQueuedBytes");
    this.close(CloseCode.TRY_AGAIN_LATER, `send queue over ${this.#maxQueuedBytes} bytes`, true);
  }

  #finish(code: number, reason: string, wasClean: boolean): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    if (this.#idleMs > 0) IdleWatch.of(this.#idleMs).delete(this);
    clearTimeout(this.#closeTimer);
    this.#pause?.end();
    this.#queue.stop();
    this.#reader.release();
    closeQuietly(this.#conn);
    const info = this.#closeInfo ?? { code, reason, wasClean };
    this.handler.onClose?.(info);
  }
}
