/**
 * What a `ServerWebSocket` (socket.ts) is given (its limits, the subprotocol,
 * bytes read with the head), its fixed settings, and what it reports when it
 * closes or a limit is passed.
 *
 * @module
 */

export interface ServerWebSocketOptions {
  /**
   * Largest message: its payload plus the whole size of every frame after
   * its first (fragments, control frames between them). Over it: close 1009.
   */
  maxMessageBytes: number;
  /** Data frames one message may arrive in; more close with 1009. */
  maxFragments: number;
  /** Bytes queued for the peer at most, control frames included; more close with 1013. */
  maxQueuedBytes: number;
  /** Seconds of silence before a ping; as long again without any frame closes. 0: never. */
  idleTimeoutSec: number;
  /** The subprotocol agreed in the handshake. */
  protocol?: string;
  /** Bytes already read after the request head (a client that did not wait for 101). */
  initial?: Uint8Array;
}

/**
 * What a socket tells its owner, as methods of one object: every open socket
 * holds its handler, and one object costs less than a closure per event.
 */
export interface SocketHandler {
  /** The socket is open: its 101 was written, reading starts. */
  onOpen?(): void;
  /** A whole message: text as a string, binary as an ArrayBuffer of its own. */
  onMessage?(data: string | ArrayBuffer): void;
  /** The socket closed (once). */
  onClose?(info: CloseInfo): void;
  /**
   * The peer went past one of the socket's own limits; called before the
   * socket closes (1009, or 1013 for the send queue), so that the owner can
   * count it, answer first, or close with its own reason.
   */
  onLimit?(limit: SocketLimit): void;
  /** Everything queued has been handed to the kernel (`bufferedAmount` is 0 again). */
  onDrain?(): void;
  /**
   * Asked once before each message is handled: how many ms to hold it first
   * (0: none). Meanwhile the socket reads nothing (TCP pushes back on the
   * client) and keeps the message: it is delayed, not lost.
   */
  admit?(): number;
}

/** What `onClose` receives. */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** A limit the socket enforces itself, named as in its options. */
export type SocketLimit = "maxMessageBytes" | "maxFragments" | "maxQueuedBytes";

/**
 * An idle socket reads into this much; a busy one into the larger buffer. Every
 * open socket holds one (a pending read needs its buffer), so it is small: a
 * pong or a typical request fits, and one that fills it gets the large buffer.
 */
export const SMALL_READ = 512;
export const LARGE_READ = 64 * 1024;
/**
 * Messages and control frames handled between looks at the time slice. Looking
 * before each one, a producer's appends waited a round each behind a busy
 * fan-out (docs/limits.md); the slice is looked at before the first of a read.
 */
export const HANDLED_PER_LOOK = 32;
/** After our close frame, how long the peer has to answer before TCP is closed. */
export const CLOSE_WAIT_MS = 2_000;
/** How long frames queued before our close frame (and it) may take to be written. */
export const CLOSE_WRITE_MS = 30_000;
