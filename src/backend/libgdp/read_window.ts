/**
 * Records `from` to `from + count - 1` read one by one with a few reads in
 * flight at once: libgdp reads a record per round trip, so a window hides
 * most of the wait without flooding the log server. Ends early at the first
 * record that does not exist.
 *
 * @example
 * ```ts
 * import { readWindow } from "./read_window.ts";
 *
 * const readOne = (recno: number) =>
 *   Promise.resolve(recno <= 3 ? { recno, ts: { sec: 0, nsec: 0, accuracy: 0 }, data: new Uint8Array() } : null);
 * for await (const record of readWindow(readOne, 1, 10)) console.log(record.recno); // 1, 2, 3
 * ```
 *
 * @module
 */

import type { LogRecord } from "../backend.ts";

/** Reads in flight at once while iterating history. */
export const READ_WINDOW = 8;

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Records `from` to `from + count - 1` by `readOne` (`null`: no such record). */
export async function* readWindow(
  readOne: (recno: number) => Promise<LogRecord | null>,
  from: number,
  count: number,
): AsyncGenerator<LogRecord> {
  const end = Math.floor(from) + Math.max(0, Math.floor(count));
  let next = Math.max(1, Math.floor(from));
  const window: Promise<Settled<LogRecord | null>>[] = [];
  // Settled at once: a rejection must not go unhandled while earlier reads are awaited.
  const settled = (recno: number): Promise<Settled<LogRecord | null>> =>
    readOne(recno).then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
  while (window.length > 0 || next < end) {
    while (window.length < READ_WINDOW && next < end) window.push(settled(next++));
    const result = await window.shift()!;
    if (!result.ok) throw result.error;
    if (result.value === null) return;
    yield result.value;
  }
}
