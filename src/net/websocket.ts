/**
 * The server side of one WebSocket (RFC 6455) over a connection the front door
 * accepted, in place of `Deno.upgradeWebSocket`, which buffers a whole frame of
 * up to 64 MiB before anyone may look at it, drops TCP without a close frame on
 * a protocol error and keeps a queue its `bufferedAmount` does not bound. Here:
 *
 * - a frame's length is checked from its header, before its payload is read
 *   (over `maxMessageBytes`: close 1009);
 * - protocol errors close with 1002, invalid UTF-8 in text with 1007;
 * - `bufferedAmount` is every byte queued and not yet written, so a session
 *   that keeps it under its limit bounds this socket's memory;
 * - silence for `idleTimeoutSec` sends a ping; as long again without an answer
 *   closes with 1001.
 *
 * It has the members of the browser `WebSocket` that {@linkcode Session} uses.
 *
 * @example
 * ```ts
 * const conn = await Deno.listen({ hostname: "127.0.0.1", port: 0 }).accept();
 * // … once the upgrade's head has been read and answered on `conn`:
 * const socket = new ServerWebSocket(conn, { maxMessageBytes: 1 << 21, idleTimeoutSec: 30 });
 * socket.onmessage = (e) => socket.send(String(e.data));
 * socket.start();
 * ```
 *
 * @module
 */

import { concat } from "../io/bytes.ts";
import { closeQuietly } from "../io/conn.ts";
import { nextSlice, sliceSpent } from "../io/time_slice.ts";

export interface ServerWebSocketOptions {
  /** Largest message (all fragments together) accepted; a larger one closes with 1009. */
  maxMessageBytes: number;
  /** Seconds of silence before a ping; as long again without any frame closes. 0: never. */
  idleTimeoutSec: number;
  /** The subprotocol agreed in the handshake. */
  protocol?: string;
  /** Bytes already read after the request head (a client that did not wait for 101). */
  initial?: Uint8Array;
}

/** What `onclose` receives. */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** RFC 6455 §7.4.1 status codes this module sends. */
export const Status = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_DATA: 1007,
  TOO_BIG: 1009,
} as const;

const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
/**
 * An idle socket reads into this much; a busy one into the larger buffer. Every
 * open socket holds one (a pending read needs its buffer), so it is small: a
 * pong or a typical request fits, and one that fills it gets the large buffer.
 */
const SMALL_READ = 512;
const LARGE_READ = 64 * 1024;
/** At most this much of the queue goes into one write. */
const WRITE_BATCH = 256 * 1024;
/** After our close frame, how long the peer has to answer before TCP is closed. */
const CLOSE_WAIT_MS = 2_000;
/** How long frames queued before our close frame (and it) may take to be written. */
const CLOSE_WRITE_MS = 30_000;

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
/** No unparsed input: one shared empty array instead of one per socket. */
const NOTHING = new Uint8Array(0);

class ProtocolError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export class ServerWebSocket {
  readonly protocol: string;
  binaryType: BinaryType = "arraybuffer";
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string | ArrayBuffer }) => void) | null = null;
  onclose: ((event: CloseInfo) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  /** Called instead of closing when a message is over the limit, before close 1009. */
  onoversize: (() => void) | null = null;
  /** Everything queued has been handed to the kernel (`bufferedAmount` is 0 again). */
  ondrain: (() => void) | null = null;

  readonly #conn: Deno.Conn;
  readonly #maxMessageBytes: number;
  /** Silence (ms) before a ping; 0: never. */
  readonly #idleMs: number;
  /** Bytes read with the request head, until the read loop takes them. */
  #initial: Uint8Array | undefined;
  readonly #closeListeners: ((event: CloseInfo) => void)[] = [];
  #state = CONNECTING;
  /** Unparsed bytes read from the peer. */
  #input: Uint8Array = NOTHING;
  /** Fragments of a message in progress. */
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  /** Frames queued for writing, and their total size. */
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #sentClose = false;
  /** After a protocol error: input is read and dropped until the peer closes. */
  #discarding = false;
  #closeInfo: CloseInfo | undefined;
  #lastHeard = performance.now();
  #pinged = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: Deno.Conn, options: ServerWebSocketOptions) {
    this.#conn = conn;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#idleMs = options.idleTimeoutSec * 1000;
    this.#initial = options.initial;
    this.protocol = options.protocol ?? "";
  }

  get readyState(): number {
    return this.#state;
  }

  /** Bytes queued and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#queued;
  }

  addEventListener(type: "close", listener: (event: CloseInfo) => void): void {
    if (type === "close") this.#closeListeners.push(listener);
  }

  /** Opens the socket (after the 101 has been written) and starts reading. */
  start(): void {
    this.#state = OPEN;
    if (this.#idleMs > 0) IdleWatch.of(this.#idleMs).add(this);
    this.onopen?.();
    void this.#readLoop();
  }

  /**
   * Ends a socket that was never started (its 101 could not be written): the
   * connection closes and `onclose` gets 1006, so whoever counted the socket
   * when it was accepted lets go of it.
   */
  abort(): void {
    this.#finish(Status.ABNORMAL, "", false);
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
   * Starts the closing handshake. Frames already queued go first, unless `drop`
   * (by default for 1013, a slow consumer: its queue is what it cannot take).
   */
  close(code: number = Status.NORMAL, reason = "", drop = code === 1013): void {
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    this.#state = CLOSING;
    if (drop) this.#dropQueue();
    this.#sendClose(code, reason);
    // A peer that reads nothing never gets the close frame: give up on it after
    // CLOSE_WRITE_MS. Once the frame is out, the peer has CLOSE_WAIT_MS to answer.
    const finish = () => this.#finish(code, reason, false);
    this.#closeTimer = setTimeout(finish, CLOSE_WRITE_MS);
    this.#afterWrites(() => {
      // The peer may have gone while the frame was written: no timer outlives the socket.
      if (this.#state === CLOSED) return;
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(finish, CLOSE_WAIT_MS);
    });
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(SMALL_READ);
    const initial = this.#initial;
    this.#initial = undefined;
    if (initial?.length) this.#received(initial);
    try {
      while (this.#state !== CLOSED) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.#lastHeard = performance.now();
        this.#pinged = false;
        this.#received(buffer.subarray(0, n));
        // After the peer's close frame nothing more is read: a read still
        // pending when the connection closes is cancelled with an Error, and
        // building 10,000 of them held the loop in a mass disconnect.
        if (this.#closeInfo?.wasClean) return;
        // Idle sockets hold a small buffer; one that fills it gets the large one.
        const size = n === buffer.length ? LARGE_READ : SMALL_READ;
        if (size !== buffer.length) buffer = new Uint8Array(size);
      }
    } catch {
      // Reset by the peer, or closed by us: either way the socket is done.
    }
    // In a time slice: peers that drop their connections together (a network
    // gone, a client fleet restarted) end in one turn, each with its teardown.
    while (this.#waitsForSlice()) await nextSlice();
    this.#finish(
      this.#closeInfo?.code ?? Status.ABNORMAL,
      this.#closeInfo?.reason ?? "",
      !!this.#closeInfo,
    );
  }

  /** Parses every complete frame in `bytes` plus what was left over. */
  #received(bytes: Uint8Array): void {
    if (this.#discarding) return;
    this.#input = this.#input.length === 0 ? bytes.slice() : concat([this.#input, bytes]);
    try {
      let offset = 0;
      while (this.#state === OPEN || this.#state === CLOSING) {
        const used = this.#parseFrame(this.#input.subarray(offset));
        if (used === 0) break;
        offset += used;
      }
      this.#input = this.#input.subarray(offset);
      // Do not keep a large buffer alive for a few leftover bytes.
      if (this.#input.length > 0 && this.#input.byteOffset > LARGE_READ) {
        this.#input = this.#input.slice();
      }
    } catch (error) {
      this.#input = NOTHING;
      if (!(error instanceof ProtocolError)) throw error;
      if (error.code === Status.TOO_BIG) this.onoversize?.();
      this.#fail(error.code, error.message);
    }
  }

  /** Handles one frame at the start of `bytes`; returns its length, 0 if incomplete. */
  #parseFrame(bytes: Uint8Array): number {
    if (bytes.length < 2) return 0;
    const b0 = bytes[0]!;
    const b1 = bytes[1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (b0 & 0x70) throw new ProtocolError(Status.PROTOCOL_ERROR, "reserved bits set");
    if (!(b1 & 0x80)) throw new ProtocolError(Status.PROTOCOL_ERROR, "client frame not masked");
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (bytes.length < 4) return 0;
      length = (bytes[2]! << 8) | bytes[3]!;
      header = 4;
    } else if (length === 127) {
      if (bytes.length < 10) return 0;
      const view = new DataView(bytes.buffer, bytes.byteOffset + 2, 8);
      if (view.getUint32(0) > 0x1fffff) {
        throw new ProtocolError(Status.TOO_BIG, "frame length over 2^53");
      }
      length = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
      header = 10;
    }
    this.#checkFrame(opcode, fin, length);
    const total = header + 4 + length;
    if (bytes.length < total) return 0;
    const mask = bytes.subarray(header, header + 4);
    const payload = bytes.slice(header + 4, total);
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    this.#onFrame(opcode, fin, payload);
    return total;
  }

  /** Refuses a frame from its header alone: before a byte of its payload is kept. */
  #checkFrame(opcode: number, fin: boolean, length: number): void {
    if (opcode >= Opcode.CLOSE) {
      if (opcode > Opcode.PONG) throw new ProtocolError(Status.PROTOCOL_ERROR, `opcode ${opcode}`);
      if (!fin) throw new ProtocolError(Status.PROTOCOL_ERROR, "fragmented control frame");
      if (length > 125) {
        throw new ProtocolError(Status.PROTOCOL_ERROR, `control frame of ${length} bytes`);
      }
      return;
    }
    if (opcode > Opcode.BINARY) throw new ProtocolError(Status.PROTOCOL_ERROR, `opcode ${opcode}`);
    if (opcode === Opcode.CONTINUATION && this.#fragments.length === 0) {
      throw new ProtocolError(Status.PROTOCOL_ERROR, "continuation without a message");
    }
    if (opcode !== Opcode.CONTINUATION && this.#fragments.length > 0) {
      throw new ProtocolError(Status.PROTOCOL_ERROR, "new message inside a fragmented one");
    }
    if (this.#fragmentBytes + length > this.#maxMessageBytes) {
      throw new ProtocolError(
        Status.TOO_BIG,
        `message over the ${this.#maxMessageBytes}-byte limit`,
      );
    }
  }

  #onFrame(opcode: number, fin: boolean, payload: Uint8Array): void {
    if (opcode === Opcode.PING) return this.#enqueue(frame(Opcode.PONG, payload));
    if (opcode === Opcode.PONG) return;
    if (opcode === Opcode.CLOSE) return this.#onCloseFrame(payload);
    if (this.#state !== OPEN) return;
    if (opcode !== Opcode.CONTINUATION) this.#fragmentOpcode = opcode;
    this.#fragments.push(payload);
    this.#fragmentBytes += payload.length;
    if (!fin) return;
    const message = this.#fragments.length === 1 ? payload : concat(this.#fragments);
    this.#fragments = [];
    this.#fragmentBytes = 0;
    if (this.#fragmentOpcode === Opcode.TEXT) {
      let text: string;
      try {
        text = utf8.decode(message);
      } catch {
        throw new ProtocolError(Status.INVALID_DATA, "text frame is not valid UTF-8");
      }
      this.onmessage?.({ data: text });
    } else {
      const data = message.buffer.byteLength === message.length
        ? message.buffer as ArrayBuffer
        : message.slice().buffer as ArrayBuffer;
      this.onmessage?.({ data });
    }
  }

  #onCloseFrame(payload: Uint8Array): void {
    if (payload.length === 1) {
      throw new ProtocolError(Status.PROTOCOL_ERROR, "close frame of 1 byte");
    }
    let code: number = Status.NO_STATUS;
    let reason = "";
    if (payload.length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      if (!isValidCloseCode(code)) {
        throw new ProtocolError(Status.PROTOCOL_ERROR, `close code ${code}`);
      }
      try {
        reason = utf8.decode(payload.subarray(2));
      } catch {
        throw new ProtocolError(Status.INVALID_DATA, "close reason is not valid UTF-8");
      }
    }
    this.#closeInfo = { code, reason, wasClean: true };
    // No read is pending any more (see #readLoop): a peer that stops reading
    // as well is given up after CLOSE_WAIT_MS.
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#finish(code, reason, true), CLOSE_WAIT_MS);
    const echo = this.#state === OPEN;
    if (echo) {
      this.#state = CLOSING;
      this.#dropQueue(); // nothing more will be sent but the echo
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
    if (echo) this.#sendClose(code === Status.NO_STATUS ? Status.NORMAL : code, "");
    this.#afterWrites(() => void this.#finishInSlice(code, reason));
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
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      this.#dropQueue();
      this.#sendClose(code, reason);
    }
    this.#afterWrites(() => {
      if (this.#state === CLOSED) return;
      this.#conn.closeWrite().catch(() => {});
      clearTimeout(this.#closeTimer);
      this.#closeTimer = setTimeout(() => this.#finish(code, reason, false), CLOSE_WAIT_MS);
    });
  }

  /** Pings a socket silent for the idle timeout, or closes it if it was pinged already. */
  checkIdle(now: number): void {
    if (this.#state !== OPEN) return;
    if (now - this.#lastHeard < this.#idleMs) return;
    if (!this.#pinged) {
      this.#pinged = true;
      this.#lastHeard = now;
      this.#enqueue(frame(Opcode.PING, new Uint8Array(0)));
      return;
    }
    this.close(Status.GOING_AWAY, "idle timeout: no answer to a ping", true);
  }

  #sendClose(code: number, reason: string): void {
    if (this.#sentClose) return;
    this.#sentClose = true;
    const text = encoder.encode(reason).subarray(0, 123);
    const payload = new Uint8Array(2 + text.length);
    payload[0] = code >> 8;
    payload[1] = code & 0xff;
    payload.set(text, 2);
    this.#enqueue(frame(Opcode.CLOSE, payload));
  }

  #enqueue(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (!this.#writing) void this.#writeLoop();
  }

  /** Drops queued frames not yet started (a frame being written finishes). */
  #dropQueue(): void {
    this.#queue = [];
    this.#queued = 0;
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && this.#state !== CLOSED) {
        const batch = this.#takeBatch();
        for (let at = 0; at < batch.length;) at += await this.#conn.write(batch.subarray(at));
        releaseJoined(batch);
        this.#queued -= batch.length;
        if (this.#queued < 0) this.#queued = 0;
        // Writes to 10,000 sockets complete in one turn of the event loop: a
        // socket with more to send waits for a time slice before its next
        // write, so that turn cannot grow with the number of sockets. In a
        // `while`: work it did not start may have spent the slice first.
        // (A socket with nothing left goes on to its drain at once: its batch
        // frame is what a busy client waits for.)
        if (this.#queue.length > 0) {
          while (this.#waitsForSlice()) await nextSlice();
        }
      }
    } catch {
      this.#queue = [];
      this.#queued = 0;
      this.#finish(Status.ABNORMAL, "", false);
    } finally {
      this.#writing = false;
      this.#drained?.();
      this.#drained = undefined;
      if (this.#state === OPEN) this.ondrain?.();
    }
  }

  #drained: (() => void) | undefined;

  /** Runs `fn` once everything queued has been written (or writing failed). */
  #afterWrites(fn: () => void): void {
    if (!this.#writing) return fn();
    const previous = this.#drained;
    this.#drained = () => {
      previous?.();
      fn();
    };
  }

  /** Up to WRITE_BATCH bytes of whole frames (at least one) as one buffer. */
  #takeBatch(): Uint8Array {
    let size = 0;
    let count = 0;
    while (
      count < this.#queue.length &&
      (count === 0 || size + this.#queue[count]!.length <= WRITE_BATCH)
    ) {
      size += this.#queue[count]!.length;
      count++;
    }
    const parts = this.#queue.splice(0, count);
    return parts.length === 1 ? parts[0]! : joinFrames(parts, size);
  }

  #finish(code: number, reason: string, wasClean: boolean): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    if (this.#idleMs > 0) IdleWatch.of(this.#idleMs).delete(this);
    clearTimeout(this.#closeTimer);
    this.#queue = [];
    this.#queued = 0;
    this.#input = NOTHING;
    this.#fragments = [];
    closeQuietly(this.#conn);
    const info = this.#closeInfo ?? { code, reason, wasClean };
    this.onclose?.(info);
    for (const listener of this.#closeListeners) listener(info);
  }
}

/**
 * The open sockets of one idle timeout, checked by one shared timer every half
 * timeout: a timer per socket cost each idle connection about 0.7 KiB of heap.
 * The timer runs only while the set holds a socket.
 */
class IdleWatch {
  static readonly #byTimeout = new Map<number, IdleWatch>();
  readonly #idleMs: number;
  readonly #sockets = new Set<ServerWebSocket>();
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(idleMs: number) {
    this.#idleMs = idleMs;
  }

  static of(idleMs: number): IdleWatch {
    let watch = IdleWatch.#byTimeout.get(idleMs);
    if (!watch) IdleWatch.#byTimeout.set(idleMs, watch = new IdleWatch(idleMs));
    return watch;
  }

  add(socket: ServerWebSocket): void {
    this.#sockets.add(socket);
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => this.#sweep(), this.#idleMs / 2);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  delete(socket: ServerWebSocket): void {
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

/**
 * Buffers that joined queued frames for one write, free again once it is
 * done. Joining into fresh ones, 10,000 sockets allocated hundreds of MB a
 * second outside V8's heap, and that pressure made V8 collect garbage for
 * 20-35 ms at a time.
 */
const joinBuffers: Uint8Array<ArrayBuffer>[] = [];
const JOIN_BUFFERS_KEPT = 64;
/** Every buffer joinFrames made: nothing else may go into the pool (frames are shared). */
const joinMade = new WeakSet<ArrayBufferLike>();

/** `parts` (`size` bytes, at most WRITE_BATCH) one after another, in a pooled buffer. */
function joinFrames(parts: readonly Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
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
function releaseJoined(bytes: Uint8Array): void {
  if (!joinMade.has(bytes.buffer) || joinBuffers.length >= JOIN_BUFFERS_KEPT) return;
  joinBuffers.push(new Uint8Array(bytes.buffer as ArrayBuffer));
}

/** Text frames built lately, by their text, and how many bytes they hold. */
const textFrames = new Map<string, Uint8Array>();
let textFrameBytes = 0;
/** Frames kept at most (bytes); larger frames are not kept there. */
const TEXT_FRAME_CACHE = 1024 * 1024;
const LARGEST_KEPT_FRAME = 64 * 1024;
/**
 * The last larger frame and its text. Batch frames of 4 KiB records run to a
 * megabyte, and the sessions of one fan-out flush the same one one after
 * another: encoding it again per socket was 60% of the gateway's time.
 */
let largeText = "";
let largeFrame: Uint8Array = new Uint8Array(0);

/**
 * A text frame of `text`. A fan-out sends the same strings to every socket of
 * a log, one socket after another, so recent frames are kept and shared (frames
 * are never changed once built): 1,000 sockets cost one UTF-8 encoding and one
 * frame per event, not 1,000. The cache starts over when it holds 1 MiB.
 */
function textFrame(text: string): Uint8Array {
  if (text.length > LARGEST_KEPT_FRAME) return largeTextFrame(text);
  let out = textFrames.get(text);
  if (out === undefined) {
    out = encodeTextFrame(text);
    if (out.length <= LARGEST_KEPT_FRAME) {
      if (textFrameBytes + out.length > TEXT_FRAME_CACHE) {
        textFrames.clear();
        textFrameBytes = 0;
      }
      textFrames.set(text, out);
      textFrameBytes += out.length;
    }
  }
  return out;
}

function largeTextFrame(text: string): Uint8Array {
  if (text !== largeText) {
    largeFrame = encodeTextFrame(text);
    largeText = text;
  }
  return largeFrame;
}

/** An unmasked server frame. */
function frame(opcode: number, payload: Uint8Array): Uint8Array {
  return frameOf(opcode, [payload]);
}

/** An unmasked server frame whose payload is `parts` one after another. */
function frameOf(opcode: number, parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(headerSize(size) + size);
  let at = writeHeader(out, opcode, size);
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A text frame, its text encoded straight into it when the text is ASCII (as
 * JSON mostly is): one allocation, not two. Else encoded, then copied.
 */
function encodeTextFrame(text: string): Uint8Array {
  const header = headerSize(text.length);
  const out = new Uint8Array(header + text.length);
  const { read, written } = encoder.encodeInto(text, out.subarray(header));
  if (read !== text.length || written !== text.length) {
    return frame(Opcode.TEXT, encoder.encode(text));
  }
  writeHeader(out, Opcode.TEXT, text.length);
  return out;
}

function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** Writes the header of a final frame at the start of `out`; returns its size. */
function writeHeader(out: Uint8Array, opcode: number, length: number): number {
  out[0] = 0x80 | opcode;
  if (length < 126) {
    out[1] = length;
    return 2;
  }
  if (length < 65_536) {
    out[1] = 126;
    out[2] = length >> 8;
    out[3] = length & 0xff;
    return 4;
  }
  out[1] = 127;
  const view = new DataView(out.buffer, out.byteOffset);
  view.setUint32(2, Math.floor(length / 2 ** 32));
  view.setUint32(6, length >>> 0);
  return 10;
}

/** Codes a peer may send in a close frame (RFC 6455 §7.4). */
function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}
