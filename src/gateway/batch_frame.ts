/**
 * A batch-mode frame: `[event,event,…]`. The sessions of one fan-out flush one
 * after another with the same shared event strings, so the last frame is kept
 * and reused when the next batch holds the same strings: 1,000 batch sockets
 * on a log cost one join per flush, not 1,000. With history the store joined
 * (UTF-8), the frame is put together in UTF-8, copied once, into the frame.
 *
 * @example
 * ```ts
 * batchFrame(['{"type": 1}', '{"type": 2}']); // '[{"type": 1},{"type": 2}]'
 * ```
 *
 * @module
 */

const encoder = new TextEncoder();

/** The events of the last batch frame built, and that frame. */
let lastBatch: readonly string[] = [];
let lastFrame = "";

/** The frame of `events`: a string, or UTF-8 parts when the store joined some of them. */
export function batchFrame(events: readonly (string | Uint8Array)[]): string | Utf8Parts {
  if (!events.every((e): e is string => typeof e === "string")) return utf8Parts(events);
  if (events.length !== lastBatch.length || events.some((e, i) => e !== lastBatch[i])) {
    lastBatch = events;
    lastFrame = `[${events.join(",")}]`;
  }
  return lastFrame;
}

/** A frame's text as UTF-8 pieces, and their total size. */
export interface Utf8Parts {
  parts: Uint8Array[];
  size: number;
}

const OPEN_BRACKET = new Uint8Array([0x5b]);
const COMMA = new Uint8Array([0x2c]);
const CLOSE_BRACKET = new Uint8Array([0x5d]);

function utf8Parts(events: readonly (string | Uint8Array)[]): Utf8Parts {
  const parts: Uint8Array[] = [OPEN_BRACKET];
  let size = 1 + events.length;
  for (const event of events) {
    if (parts.length > 1) parts.push(COMMA);
    const part = typeof event === "string" ? encoder.encode(event) : event;
    parts.push(part);
    size += part.length;
  }
  parts.push(CLOSE_BRACKET);
  return { parts, size };
}
