/**
 * A yield to the event loop that lets the I/O ready now complete first, and
 * costs tens of microseconds instead of a timer's millisecond or two. It
 * writes a byte over a loopback connection this process holds and waits to
 * read it back: the read completes only on a later turn of the event loop, in
 * the same phase as every other socket's I/O. (A timer of 0 ms fires a
 * millisecond or two later, and the gateway sat idle that long after every
 * time slice; `setImmediate` and `MessageChannel` resume before pending socket
 * I/O is completed, and starve it. BENCHMARKS.md has the measurements.)
 *
 * The connection is opened at the first yield and closed by
 * {@linkcode closeTurns}. Where it cannot be opened (no network permission for
 * 127.0.0.1), a 0 ms timer stands in.
 *
 * @example
 * ```ts
 * import { closeTurns, nextTurn } from "./next_turn.ts";
 * await nextTurn();
 * await closeTurns();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { closeQuietly } from "./conn.ts";

interface Loopback {
  writer: Deno.Conn;
  reader: Deno.Conn;
}

const log = getLogger(["gdp-ws", "turn"]);
const ONE = new Uint8Array(1);
const received = new Uint8Array(256);
/** The open loopback; null once it could not be opened (then timers stand in). */
let loopback: Promise<Loopback | null> | undefined;
/** The yield in progress: concurrent callers share it. */
let pending: Promise<void> | undefined;

/** Resolves on a later turn of the event loop, after the I/O that is ready now. */
export function nextTurn(): Promise<void> {
  return pending ??= turn().finally(() => pending = undefined);
}

async function turn(): Promise<void> {
  const pair = await (loopback ??= openLoopback());
  if (!pair) return await timer();
  try {
    // Caught here, so a failed write does not leave the read's rejection unhandled.
    const read = pair.reader.read(received).catch((error: unknown) => error);
    await pair.writer.write(ONE);
    const got = await read;
    if (typeof got !== "number") throw got ?? new Error("the loopback was closed");
  } catch (error) {
    // Whatever broke it, the waiters must still resume: this turn by a timer,
    // later ones over a new connection.
    log.warning("The loopback for yielding failed; opening another: {error}", { error });
    if (loopback && (await loopback) === pair) loopback = undefined;
    closeQuietly(pair.writer);
    closeQuietly(pair.reader);
    await timer();
  }
}

/** Closes the loopback (the next yield opens it again); for shutdown and tests. */
export async function closeTurns(): Promise<void> {
  await pending;
  const pair = await loopback;
  loopback = undefined;
  if (!pair) return;
  closeQuietly(pair.writer);
  closeQuietly(pair.reader);
}

async function openLoopback(): Promise<Loopback | null> {
  let listener: Deno.Listener | undefined;
  let writer: Deno.TcpConn | undefined;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    writer = await Deno.connect({ hostname: "127.0.0.1", port });
    writer.setNoDelay(true);
    const local = (writer.localAddr as Deno.NetAddr).port;
    // Only our own connection is kept: another local process may have raced it.
    for (;;) {
      const reader = await listener.accept();
      if ((reader.remoteAddr as Deno.NetAddr).port === local) return { writer, reader };
      reader.close();
    }
  } catch (error) {
    if (writer) closeQuietly(writer);
    log.warning("No loopback for yielding to the event loop; using timers: {error}", { error });
    return null;
  } finally {
    listener?.close();
  }
}

function timer(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
