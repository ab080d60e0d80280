/**
 * Connections for driving a ServerWebSocket without a network: reads wait
 * until the connection is closed and then end; what writes do is the
 * subclass's.
 */

import type { ServerWebSocketOptions } from "../../src/net/websocket/mod.ts";

/** Socket options for tests: small messages, the gateway's default queue cap, no idle timer. */
export const SOCKET_OPTIONS: Readonly<ServerWebSocketOptions> = Object.freeze({
  maxMessageBytes: 1024,
  maxFragments: 16,
  maxQueuedBytes: 8 * 1024 * 1024,
  idleTimeoutSec: 0,
});

export abstract class FakeConn {
  #closed = Promise.withResolvers<null>();

  abstract write(bytes: Uint8Array): Promise<number>;

  read(_buffer: Uint8Array): Promise<number | null> {
    return this.#closed.promise;
  }

  close(): void {
    this.#closed.resolve(null);
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  /** This connection as a ServerWebSocket takes it. */
  get conn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }
}
