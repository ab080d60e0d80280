/**
 * A connection's last answer: written with `connection: close`, then our side
 * is ended and what the client still sends is read and dropped for a bounded
 * time and number of bytes. Closing with unread input would reset the
 * connection, and a reset can discard the answer before the client has read
 * it. {@linkcode answerAtAccept} is the same for a connection refused at accept,
 * after a short wait for its request head.
 *
 * @example
 * ```ts
 * import { ConnInput } from "./input.ts";
 *
 * async function tooMany(conn: Deno.Conn): Promise<void> {
 *   const answer = new Response("too many connections", { status: 503 });
 *   await answerAtAccept(conn, new ConnInput(conn, 4096), answer);
 *   conn.close();
 * }
 * ```
 *
 * @module
 */

import type { ConnLike } from "../../io/conn.ts";
import { Deadline } from "../deadline.ts";
import { HeadScanner } from "./head.ts";
import type { ConnInput } from "./input.ts";
import { writeResponse } from "./response.ts";

/** After a last answer, input is read and dropped this long at most. */
export const LINGER_MS = 1_000;
/** ... and this much at most. */
export const LINGER_BYTES = 256 * 1024;
/** A refused connection's request head is awaited this long at most before its answer. */
const REFUSAL_READ_MS = 250;
/** A refusal's answer is small: it gets this long to be taken. */
const REFUSAL_WRITE_MS = 1_000;
const REFUSAL_LINGER_MS = 250;

/** Writes `response` as the connection's last answer, then lingers (the caller closes). */
export async function answerAndClose(
  conn: ConnLike,
  input: ConnInput,
  response: Response,
  { writeMs, lingerMs = LINGER_MS }: { writeMs: number; lingerMs?: number },
): Promise<void> {
  try {
    await writeResponse(conn, response, {
      headOnly: false,
      close: true,
      chunked: false,
      stallMs: writeMs,
    });
  } catch {
    return; // The client is gone, or took nothing: nothing to linger for.
  }
  await lingerClose(conn, input, lingerMs);
}

/**
 * Ends our side (the client reads the answer, then its end), then reads and
 * drops what the client still sends, up to `ms` and {@linkcode LINGER_BYTES}.
 */
export async function lingerClose(conn: ConnLike, input: ConnInput, ms: number): Promise<void> {
  try {
    await conn.closeWrite();
  } catch {
    return;
  }
  const deadline = new Deadline(ms);
  try {
    let dropped = input.buffered.length;
    input.consume(dropped);
    while (dropped < LINGER_BYTES && await input.fill(deadline) === "data") {
      dropped += input.buffered.length;
      input.consume(input.buffered.length);
    }
  } finally {
    deadline.clear();
  }
}

/**
 * Answers `answer` to a connection refused at accept, within 1.5 s in all:
 * its head is awaited briefly first, since an answer sent before the request
 * reaches an HTTP client as a message it did not expect, not as a refusal.
 */
export async function answerAtAccept(
  conn: ConnLike,
  input: ConnInput,
  answer: Response,
): Promise<void> {
  const deadline = new Deadline(REFUSAL_READ_MS);
  const scanner = new HeadScanner();
  try {
    while (scanner.scan(input.buffered) === -1 && await input.fill(deadline) === "data");
  } finally {
    deadline.clear();
  }
  await answerAndClose(conn, input, answer, {
    writeMs: REFUSAL_WRITE_MS,
    lingerMs: REFUSAL_LINGER_MS,
  });
}
