/**
 * The body of a range read: records `from` to `to` of an open log as a JSON
 * array, or as NDJSON (one object per line), each element a DATA event's
 * `datum`. It is a pull stream: a chunk is read from the backend and encoded
 * only when the reader (the front door, writing chunked to the socket) has
 * taken what came before, within the process's time slices, so a page of
 * 10,000 records costs the memory of a chunk or two, however slowly the
 * client reads. Chunks start small and grow to `readChunk` records while they
 * stay under {@linkcode CHUNK_BYTES}, so large records are not read 512 at a
 * time.
 *
 * A read that fails mid-page errors the stream: the front door then closes
 * the connection without the chunked body's last chunk, so a client never
 * takes half a page for a whole one.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "../backend/embedded/store.ts";
 *
 * const store = openEmbedded({ dataDir: "./data" });
 * const log = await store.open("edu.berkeley.demo.temp");
 * const body = rangeBody(log, 1, 10, { ndjson: true, encoding: "text", readChunk: 512 }, () => {
 *   void log.close();
 * });
 * console.log(await new Response(body).text());
 * ```
 *
 * @module
 */

import type { LogHandle } from "../backend/backend.ts";
import { GdpError } from "../core/errors.ts";
import { nextSlice, sliceSpent } from "../io/time_slice.ts";
import { COMPACT_STYLE, encodeDatum } from "../wire/events.ts";
import type { Encoding } from "../wire/requests.ts";

/** About how many bytes one chunk holds. */
export const CHUNK_BYTES = 64 * 1024;
/** Records in the first read, before their size is known. */
const FIRST_READ = 16;

/** How the body is written. */
export interface BodyFormat {
  ndjson: boolean;
  encoding: Encoding;
  /** The most records one backend read fetches (`--read-chunk`'s value, 512). */
  readChunk: number;
}

const encoder = new TextEncoder();

/** Records `from` to `to` of `log` as a stream; `onEnd` runs once when it ends, fails or is cancelled. */
export function rangeBody(
  log: LogHandle,
  from: number,
  to: number,
  format: BodyFormat,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  let next = from;
  let want = Math.min(FIRST_READ, format.readChunk);
  let opened = false;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  const separator = format.ndjson ? "\n" : ",";
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        let text = opened || format.ndjson ? "" : "[";
        opened = true;
        if (next > to) {
          const last = format.ndjson ? text : `${text}]`;
          if (last !== "") controller.enqueue(encoder.encode(last));
          controller.close();
          return end();
        }
        // Checked before the read: a stored chunk is read synchronously (SQLite).
        while (sliceSpent()) await nextSlice();
        if (ended) return; // cancelled meanwhile
        const count = Math.min(want, to - next + 1);
        const parts: string[] = [];
        for await (const record of log.read(next, count)) {
          if (record.recno !== next) break;
          parts.push(encodeDatum(record, format.encoding, COMPACT_STYLE));
          next++;
        }
        if (ended) return; // cancelled while reading
        if (parts.length === 0) throw GdpError.of(500, `record ${next} could not be read`);
        if (!format.ndjson && next - parts.length !== from) text += ",";
        text += parts.join(separator);
        if (format.ndjson) text += "\n";
        // The end with the last records: one chunk, so the front door's last write is not a lone small one.
        const last = next > to;
        if (last && !format.ndjson) text += "]";
        const bytes = encoder.encode(text);
        // Next time as many records as fill about CHUNK_BYTES, at most readChunk.
        want = Math.max(
          1,
          Math.min(format.readChunk, Math.floor(parts.length * CHUNK_BYTES / bytes.length) || 1),
        );
        controller.enqueue(bytes);
        if (last) {
          controller.close();
          end();
        }
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    cancel: end,
  }, { highWaterMark: CHUNK_BYTES, size: (chunk) => chunk.byteLength });
}
