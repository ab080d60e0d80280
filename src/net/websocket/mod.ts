/**
 * The gateway's own RFC 6455 server, by concern: the socket's state machine
 * (`socket.ts`), the frame codec (`frames.ts`), the reader that turns bytes
 * into messages under their limits (`reader.ts`), the send queue with its
 * coalesced pong (`send_queue.ts`), pooled write buffers (`join_pool.ts`),
 * the shared idle timer (`idle_watch.ts`) and the one close-code table
 * (`close_codes.ts`, with a code as a metric label); what a socket is given and reports is in `socket_options.ts`. It knows nothing of GDP and imports only from `io/`.
 *
 * @example
 * ```ts
 * import { CloseCode, ServerWebSocket } from "./mod.ts";
 *
 * const conn = await Deno.listen({ hostname: "127.0.0.1", port: 0 }).accept();
 * const socket = new ServerWebSocket(conn, {
 *   maxMessageBytes: 1 << 21,
 *   maxFragments: 1024,
 *   maxQueuedBytes: 1 << 23,
 *   idleTimeoutSec: 30,
 * });
 * socket.start();
 * socket.close(CloseCode.GOING_AWAY, "bye");
 * ```
 *
 * @module
 */

export { CloseCode, closeLabel, isValidCloseCode } from "./close_codes.ts";
export {
  type CloseInfo,
  ServerWebSocket,
  type ServerWebSocketOptions,
  type SocketHandler,
  type SocketLimit,
} from "./socket.ts";
