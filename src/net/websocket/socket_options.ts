/**
 * What a `ServerWebSocket` (socket.ts) is given (its limits, the subprotocol,
 * bytes read with the head) and what it reports when it closes or a limit is
 * passed.
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

/** What `onclose` receives. */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** A limit the socket enforces itself, named as in its options. */
export type SocketLimit = "maxMessageBytes" | "maxFragments" | "maxQueuedBytes";
