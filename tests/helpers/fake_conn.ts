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

/**
 * A connection that hands the socket scripted bytes, as many per read as the
 * socket's buffer takes (or as a chunk holds), and keeps what is written to
 * it. Counts the reads the socket starts; writes can be held until let go.
 */
export class ScriptedConn extends FakeConn {
  /** Reads the socket has started. */
  reads = 0;
  readonly written: Uint8Array[] = [];
  #chunks: Uint8Array[] = [];
  #more: (() => void) | undefined;
  #gate: PromiseWithResolvers<void> | undefined;
  #closed = false;

  /** Bytes for the socket's next reads: each chunk is at most one read. */
  push(...chunks: Uint8Array[]): void {
    this.#chunks.push(...chunks);
    this.#more?.();
  }

  /** Writes wait until {@linkcode release} (a peer that does not read). */
  hold(): void {
    this.#gate ??= Promise.withResolvers<void>();
  }

  release(): void {
    this.#gate?.resolve();
    this.#gate = undefined;
  }

  override async read(buffer: Uint8Array): Promise<number | null> {
    this.reads++;
    while (this.#chunks.length === 0) {
      if (this.#closed) return null;
      await new Promise<void>((resolve) => this.#more = resolve);
    }
    const chunk = this.#chunks[0]!;
    const n = Math.min(chunk.length, buffer.length);
    for (let i = 0; i < n; i++) buffer[i] = chunk[i]!;
    if (n < chunk.length) this.#chunks[0] = chunk.subarray(n);
    else this.#chunks.shift();
    return n;
  }

  async write(bytes: Uint8Array): Promise<number> {
    while (this.#gate) await this.#gate.promise;
    // A copy: the socket may reuse a pooled buffer once the write is done.
    this.written.push(bytes.slice());
    return bytes.length;
  }

  override close(): void {
    this.#closed = true;
    this.#more?.();
    this.release();
    super.close();
  }
}
