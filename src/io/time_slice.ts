/**
 * Time slices for work that could hold the event loop: history catch-up, live
 * fan-out, what each socket does when a write completes (the writes of 10,000
 * sockets complete in one turn), the frames a read brought (one read may bring
 * 100,000) and answering a peer's close. Deno writes
 * nothing to a socket, and serves no other client, until the event loop
 * turns; a catch-up that ran to its end, or a burst of records fanned out to
 * 10,000 sockets in one go, would stall the gateway for seconds (no
 * `/healthz`, no handshakes, no other log) and buffer the whole burst in
 * memory. Every such loop asks {@linkcode sliceSpent} now and then
 * and, once it is, waits for {@linkcode nextSlice}, in a `while` (a waiter
 * resumes in a slice with room, but work it did not start may spend it first).
 *
 * The slice is shared by every caller in the process, and waiters resume in
 * the order they began to wait, as many as a slice has room for: 50 catch-ups,
 * 20 fan-outs and 10,000 sockets waiting at once still give the loop back
 * every few milliseconds, and each gets its turn.
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

import { closeTurns, nextTurn } from "./next_turn.ts";

/**
 * Work one turn may do before it gives the loop back, in ms: longer slices let
 * too little socket I/O complete between them, and `/healthz` waited behind
 * the writes of 10,000 sockets (BENCHMARKS.md compares 1 and 5 ms).
 */
export const SLICE_MS = 1;

let sliceStart = 0;
/** Settles when the open slice closes; undefined while none is open. */
let sliceEnd: Promise<void> | undefined;
/** Who waits for a slice, oldest first; `head` is the next to resume. */
let waiting: (() => void)[] = [];
let head = 0;
/** The pending round of resumes; undefined while nobody waits. */
let round: Promise<void> | undefined;

/**
 * True while a waiter just resumed runs: its first look finds room, though the
 * clock may have passed the slice's end since the look that resumed it (else
 * it would wait again, behind everyone, and lose its place).
 */
let resuming = false;

/** True once this turn's sliced work has used its {@linkcode SLICE_MS}. */
export function sliceSpent(): boolean {
  if (resuming) return resuming = false;
  // A slice opens with the first sliced work of a turn and closes with the turn.
  sliceEnd ??= openSlice();
  return performance.now() - sliceStart >= SLICE_MS;
}

function openSlice(): Promise<void> {
  sliceStart = performance.now();
  return closeWithTurn();
}

/** Settles, and closes the open slice, at the next timer phase: when this turn is over. */
function closeWithTurn(): Promise<void> {
  return delay(0).then(() => sliceEnd = undefined);
}

/**
 * Settles once the open slice has closed and every waiter has resumed: after
 * it, no timer or connection of this module is left (a hub's close awaits it).
 */
export async function slicesSettled(): Promise<void> {
  while (sliceEnd || round) await Promise.all([sliceEnd, round]);
  await closeTurns();
}

/**
 * Resolves on a later turn, after pending I/O, when the slice has room for
 * the caller. Waiters resume one at a time in the order they started waiting,
 * each in a slice it has not yet spent, and those the slice has no room for
 * wait for the next one. So 10,000 sockets waiting cost a slice only for the
 * few it resumes: were they all woken to look again, each turn would spend
 * more on waking them than the slice allows.
 *
 * Rounds start on the event loop's next turn ({@linkcode nextTurn}), after
 * the socket I/O that is ready: a 0 ms timer instead left the gateway idle
 * between slices, and `setImmediate` starved the I/O.
 */
export function nextSlice(): Promise<void> {
  const resumed = new Promise<void>((resolve) => waiting.push(resolve));
  round ??= nextTurn().then(resumeWaiters);
  return resumed;
}

/** One round: a fresh slice, and waiters resumed oldest first while it has room. */
async function resumeWaiters(): Promise<void> {
  sliceStart = performance.now();
  sliceEnd ??= closeWithTurn();
  do {
    resuming = true;
    waiting[head]!();
    waiting[head++] = noop;
    // The waiter runs up to its next await before the clock is read again.
    await null;
    resuming = false;
  } while (head < waiting.length && performance.now() - sliceStart < SLICE_MS);
  // Forget the resumed: all of them, or the first 1,024 of a queue that never empties.
  if (head === waiting.length || head > 1024) {
    waiting = waiting.slice(head);
    head = 0;
  }
  round = waiting.length > 0 ? nextTurn().then(resumeWaiters) : undefined;
}

function noop(): void {}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
