/**
 * A client connection whose descriptor the front door can count to the end.
 * Closing a Deno connection while a read or write is in flight does not close
 * its descriptor at once: the op holds the socket until it has been cancelled,
 * a turn or more later. A budget that let go of the descriptor at `close()`
 * would accept new connections before the old ones' descriptors were gone, and
 * a burst of closes could take the process past its limit. So every read and
 * write goes through here, and {@linkcode CountedConn.settled} resolves once
 * the connection is closed and no op holds it. Whoever closes it, the
 * `onClose` it was made with hears of it once.
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port });
 * const conn = new CountedConn(await listener.accept());
 * const reading = conn.read(new Uint8Array(16)).catch(() => null);
 * conn.close();
 * await conn.settled(); // the read was cancelled: the descriptor is closed
 * await reading;
 * client.close();
 * listener.close();
 * ```
 *
 * @module
 */

import type { ConnLike } from "../io/conn.ts";

export class CountedConn implements ConnLike {
  readonly #inner: Deno.Conn;
  readonly #onClose: ((conn: CountedConn) => void) | undefined;
  #inFlight = 0;
  #closed = false;
  #settled: (() => void) | undefined;
  readonly #done = () => {
    if (--this.#inFlight === 0 && this.#closed) this.#fire();
  };

  /**
   * `onClose` is called at the first `close()`, by whoever closes it (one
   * function for every connection: an idle WebSocket holds no listener).
   */
  constructor(inner: Deno.Conn, onClose?: (conn: CountedConn) => void) {
    this.#inner = inner;
    this.#onClose = onClose;
  }

  get remoteAddr(): Deno.Addr {
    return this.#inner.remoteAddr;
  }

  get localAddr(): Deno.Addr {
    return this.#inner.localAddr;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#track(this.#inner.read(buffer));
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#track(this.#inner.write(bytes));
  }

  closeWrite(): Promise<void> {
    return this.#track(this.#inner.closeWrite());
  }

  /** Closes the connection (again is a no-op, as its WebSocket may have closed it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#inner.close();
    } catch {
      // Closed already.
    }
    if (this.#inFlight === 0) this.#fire();
    this.#onClose?.(this);
  }

  /** Resolves once the connection is closed and no read or write holds its descriptor. */
  settled(): Promise<void> {
    if (this.#closed && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#settled;
      this.#settled = () => {
        previous?.();
        resolve();
      };
    });
  }

  /**
   * TCP_NODELAY on the TCP connection under it (the WebSocket asks for it; a
   * connection of another kind has no Nagle to turn off).
   */
  setNoDelay(noDelay = true): void {
    (this.#inner as Partial<Deno.TcpConn>).setNoDelay?.(noDelay);
  }

  /** This connection where a `Deno.Conn` is taken (the WebSocket uses read, write, close and setNoDelay). */
  get conn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }

  #fire(): void {
    const settled = this.#settled;
    this.#settled = undefined;
    settled?.();
  }

  #track<T>(op: Promise<T>): Promise<T> {
    this.#inFlight++;
    op.then(this.#done, this.#done);
    return op;
  }
}
