/**
 * Finding where a point in time falls in a log by bisection over recnos, for a
 * store that can read one record's timestamp but keeps no index of times
 * (libgdp 2.1.12 implements no read or subscription by time), and as the
 * embedded store's fallback. `LogHandle.seek` (backend.ts) says what a
 * boundary is.
 *
 * @example
 * ```ts
 * const stamps = [10, 20, 30, 40]; // seconds, records 1 to 4
 * const before = (recno: number) => stamps[recno - 1]! < 25;
 * await seekOnGrid(stamps.length, before); // 3: record 2 is before 25, record 3 is not
 * ```
 *
 * @module
 */

/** Whether record `recno` is stamped before the time sought. */
export type IsBefore = (recno: number) => boolean | Promise<boolean>;

/**
 * A boundary in `[lo, hi]`, given one at each end of the invariant: `lo` is 1
 * or record `lo - 1` is before, and record `hi` is not before (or is past the
 * end). Each step reads the middle record and keeps the half the invariant
 * still holds for, so it ends on a boundary whatever the timestamps do in
 * between: about log2(hi - lo) reads.
 */
export async function bisect(lo: number, hi: number, before: IsBefore): Promise<number> {
  while (lo < hi) {
    const mid = midpoint(lo, hi);
    if (await before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** {@linkcode bisect} for a store that reads synchronously (SQLite), without a turn per probe. */
export function bisectSync(lo: number, hi: number, before: (recno: number) => boolean): number {
  while (lo < hi) {
    const mid = midpoint(lo, hi);
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function midpoint(lo: number, hi: number): number {
  return lo + Math.floor((hi - lo) / 2);
}

/**
 * A boundary among records 1 to `last`, by bisection of `[1, 2^k]`, 2^k the
 * smallest power of two past `last` (the records past `last` count as not
 * before, and are never read). On that grid the probes are the same recnos
 * (multiples of powers of two) for every search of the log, whatever its
 * length then, so a cache of the records read serves later searches too.
 */
export function seekOnGrid(last: number, before: IsBefore): Promise<number> {
  let hi = 1;
  while (hi <= last) hi *= 2;
  return bisect(1, hi, (recno) => recno <= last && before(recno));
}
