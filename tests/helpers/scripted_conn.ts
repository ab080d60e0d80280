/**
 * A connection without a network for the HTTP/1.1 reader and writer: reads
 * hand out a script of bytes a few at a time (one by default), writes are
 * recorded, or hang until the connection is closed (a client that reads
 * nothing).
 */

import type { ConnLike } from "../../src/io/conn.ts";

export class ScriptedConn implements ConnLike {
  readonly written: Uint8Array[] = [];
  /** Every buffer (by its ArrayBuffer) a read was given: how often the reader reallocated. */
  readonly readBuffers = new Set<ArrayBufferLike>();
  closed = false;
  halfClosed = false;
  #at = 0;
  readonly #script: Uint8Array;
  readonly #perRead: number;
  readonly #stallWrites: boolean;
  readonly #ends: boolean;
  readonly #closing = Promise.withResolvers<null>();

  /**
   * `script`: what the client sends, `perRead` bytes per read; after it the
   * client ends its side (`ends`), or reads wait until the connection is closed.
   */
  constructor(script: Uint8Array, { perRead = 1, stallWrites = false, ends = false } = {}) {
    this.#script = script;
    this.#perRead = perRead;
    this.#stallWrites = stallWrites;
    this.#ends = ends;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    this.readBuffers.add(buffer.buffer);
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    if (this.#at >= this.#script.length) {
      return this.#ends ? Promise.resolve(null) : this.#closing.promise;
    }
    const n = Math.min(this.#perRead, buffer.length, this.#script.length - this.#at);
    buffer.set(this.#script.subarray(this.#at, this.#at + n));
    this.#at += n;
    return Promise.resolve(n);
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    if (this.#stallWrites) {
      return this.#closing.promise.then(() => {
        throw new Deno.errors.BadResource("closed");
      });
    }
    this.written.push(bytes.slice());
    return Promise.resolve(bytes.length);
  }

  closeWrite(): Promise<void> {
    this.halfClosed = true;
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#closing.resolve(null);
  }

  /** Everything written, as latin1 text. */
  get text(): string {
    return this.written.map((b) => String.fromCharCode(...b)).join("");
  }
}
