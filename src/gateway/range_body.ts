/**
 * The body of a range read: records `from` to `to` of an open log as a JSON
 * array, or as NDJSON (one object per line), each element a DATA event's
 * `datum`. It is a pull stream: a chunk is read from the backend and encoded
 * only when the reader (the front door, writing chunked to the socket) has
 * taken what came before, within the process's time slices, so a page of
 * 10,000 records costs the memory of a chunk or two, however slowly the
 * client reads. A store that builds events itself (the embedded store, in
 * SQL) builds the elements too, joined, as it does a replay's history in
 * batch mode. Chunks start small and grow to `readChunk` records while they
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
import { concat } from "../io/bytes.ts";
import { COMPACT_STYLE, datumTemplate, encodeDatum } from "../wire/events.ts";
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
  // Text payloads the store can build itself (the embedded store, in SQL), as it does history.
  const template = format.encoding === "text" && log.readEvents
    ? datumTemplate(COMPACT_STYLE)
    : undefined;
  /** The next records as one stretch of UTF-8 joined by `separator`, and how many. */
  const nextRecords = async (count: number): Promise<[Uint8Array, number]> => {
    const options = { joined: true, budget: CHUNK_BYTES, separator };
    const built = template && log.readEvents!(next, count, template, options);
    if (built && "utf8" in built) return [built.utf8, built.count];
    const parts: string[] = [];
    for await (const record of log.read(next, count)) {
      if (record.recno !== next + parts.length) break;
      parts.push(encodeDatum(record, format.encoding, COMPACT_STYLE));
    }
    return [encoder.encode(parts.join(separator)), parts.length];
  };
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        const head = opened || format.ndjson ? "" : "[";
        opened = true;
        if (next > to) {
          const last = format.ndjson ? head : `${head}]`;
          if (last !== "") controller.enqueue(encoder.encode(last));
          controller.close();
          return end();
        }
        // Checked before the read: a stored chunk is read synchronously (SQLite).
        while (sliceSpent()) await nextSlice();
        if (ended) return; // cancelled meanwhile
        const [records, count] = await nextRecords(Math.min(want, to - next + 1));
        if (ended) return; // cancelled while reading
        if (count === 0) throw GdpError.of(500, `record ${next} could not be read`);
        const between = next === from || format.ndjson ? "" : ",";
        next += count;
        // The end with the last records: one chunk, so the front door's last write is not a lone small one.
        const last = next > to;
        const tail = format.ndjson ? "\n" : last ? "]" : "";
        controller.enqueue(concat([encoder.encode(head + between), records, encoder.encode(tail)]));
        // Next time as many records as fill about CHUNK_BYTES, at most readChunk.
        const fit = Math.floor(count * CHUNK_BYTES / Math.max(1, records.length));
        want = Math.max(1, Math.min(format.readChunk, fit));
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
