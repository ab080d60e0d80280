/**
 * Notices a client leaving while an answer streams to it. An event stream can
 * last for hours and writes only when something happens (a record, or a
 * heartbeat every `--idle-timeout`): without a read waiting beside the writes,
 * a client that went away would hold its connection, its descriptor and its
 * per-address slot until the next write failed. Bytes a client sends during
 * a stream mean nothing (it is answered to the end and then closed), so they
 * are read and dropped.
 *
 * @example
 * ```ts
 * import type { ConnLike } from "../../io/conn.ts";
 * import { ConnInput } from "./input.ts";
 *
 * async function stream(conn: ConnLike, write: () => Promise<void>): Promise<void> {
 *   const gone = new AbortController(); // gone.signal ends the stream's source
 *   const stop = closeWhenGone(conn, new ConnInput(conn, 4096), gone);
 *   try {
 *     await write();
 *   } finally {
 *     stop();
 *   }
 * }
 * ```
 *
 * @module
 */

import { closeQuietly, type ConnLike } from "../../io/conn.ts";
import { Deadline } from "../deadline.ts";
import type { ConnInput } from "./input.ts";

/** setTimeout's longest delay: a stream is not watched longer than about 24 days. */
const LONGEST_MS = 2 ** 31 - 1;

/**
 * Closes `conn` and aborts `gone` when its client ends or resets it; the
 * function returned stops watching.
 */
export function closeWhenGone(
  conn: ConnLike,
  input: ConnInput,
  gone: AbortController,
): () => void {
  let watching = true;
  const deadline = new Deadline(LONGEST_MS);
  void (async () => {
    while (watching) {
      const outcome = await input.fill(deadline);
      if (!watching) return;
      if (outcome === "data") {
        input.consume(input.buffered.length);
        continue;
      }
      watching = false;
      deadline.clear();
      closeQuietly(conn);
      gone.abort();
    }
  })();
  return () => {
    watching = false;
    deadline.clear();
  };
}
