/**
 * Time slices for work that could hold the event loop: history catch-up, live
 * fan-out, and what each socket does when a write completes (the writes of
 * 10,000 sockets complete in one turn). Deno writes nothing to a socket, and serves no other client,
 * until the event loop turns; a catch-up that ran to its end, or a burst of
 * records fanned out to 10,000 sockets in one go, would stall the gateway for
 * seconds (no `/healthz`, no handshakes, no other log) and buffer the whole
 * burst in memory. Every such loop asks {@linkcode sliceSpent} now and then
 * and, once it is, waits for {@linkcode nextSlice}, in a `while`: every waiter
 * resumes in the same turn, and all but the first few must wait again.
 *
 * The slice is shared by every caller in the process, so 50 catch-ups and 20
 * fan-outs resuming in one timer phase still give the loop back every few
 * milliseconds.
 *
 * @example
 * ```ts
 * import { nextSlice, sliceSpent } from "./time_slice.ts";
 * for (const item of [1, 2, 3]) {
 *   while (sliceSpent()) await nextSlice();
 *   console.log(item);
 * }
 * ```
 *
 * @module
 */

/**
 * Work one turn may do before it gives the loop back, in ms. Measured at 1,000
 * and 10,000 subscribers (BENCHMARKS.md): with 5 ms the runtime completed too
 * little socket I/O between slices and `/healthz` waited up to 2 s behind the
 * writes of 10,000 sockets; with 1 ms its p99 was under 35 ms, and throughput
 * rose, because records waiting out the pause go out together.
 */
export const SLICE_MS = 1;

let sliceStart = 0;
/** Settles when the open slice closes; undefined while none is open. */
let sliceEnd: Promise<void> | undefined;
let slice: Promise<void> | undefined;

/** True once this turn's sliced work has used its {@linkcode SLICE_MS}. */
export function sliceSpent(): boolean {
  // A slice opens with the first sliced work of a turn and closes with the turn.
  sliceEnd ??= openSlice();
  return performance.now() - sliceStart >= SLICE_MS;
}

function openSlice(): Promise<void> {
  sliceStart = performance.now();
  return delay(0).then(() => sliceEnd = undefined);
}

/**
 * Settles once the open slice has closed and any wait for the next one is
 * over: after it, no timer of this module is pending (a hub's close awaits it).
 */
export async function slicesSettled(): Promise<void> {
  await Promise.all([sliceEnd, slice]);
}

/**
 * Resolves on a later turn, after pending I/O. A timer (which fires after a
 * millisecond or two) rather than `setImmediate`: measured at 1,000
 * subscribers, `setImmediate` let fewer records gather between slices (17
 * instead of ~400 per batch frame), halving batch throughput and doubling the
 * `/healthz` wait. All waiters share one timer and resume in the order they
 * started waiting.
 */
export function nextSlice(): Promise<void> {
  return slice ??= delay(0).then(() => slice = undefined);
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
