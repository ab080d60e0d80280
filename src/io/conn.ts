/**
 * What the modules holding sockets share.
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * closeQuietly(listener);
 * closeQuietly(listener); // already closed: nothing happens
 * ```
 *
 * @module
 */

/** What the HTTP/1.1 reader and writer use of a connection (a `Deno.Conn` is one). */
export interface ConnLike {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** Closes `conn`, which may already be closed (by its peer's end, or by us). */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
