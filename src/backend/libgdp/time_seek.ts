/**
 * Finding a point in time in a GDP log. libgdp 2.1.12 implements no read or
 * subscription by time (`gdp_gin_subscribe_by_ts` is `#if 0` in its source;
 * `gdp-reader -d` ends in "not implemented"), so the libgdp backend bisects
 * over `gdp_gin_read_by_recno` on the dyadic grid of time_search.ts: about
 * log2(N) reads for a log of N records, each one round trip to the log server.
 *
 * The timestamps read are cached, bounded and shared by every log of the
 * backend (a record never changes, so an entry never goes stale). On the grid
 * every search of a log probes the same recnos first, so searches for nearby
 * times, and many subscribers asking at once, share their reads; a read in
 * flight is shared too.
 *
 * @example
 * ```ts
 * const seeker = new TimeSeeker();
 * const stamps = [10, 20, 30];
 * const log = {
 *   name: "demo",
 *   readOne: (recno: number) =>
 *     Promise.resolve({ recno, ts: { sec: stamps[recno - 1]!, nsec: 0, accuracy: 0 }, data: new Uint8Array() }),
 * };
 * await seeker.seek(log, { sec: 25, nsec: 0, accuracy: 0 }, 3); // 3
 * ```
 *
 * @module
 */

import type { LogRecord, Timestamp } from "../backend.ts";
import { compareTs } from "../../core/time.ts";
import { seekOnGrid } from "../time_search.ts";

/** Timestamps kept, over all logs: enough for the grid's upper levels of many logs. */
export const STAMPS_CACHED = 16_384;

/** What a search needs of a log: its name (the cache key) and a read of one record. */
export interface SeekableLog {
  readonly name: string;
  /** Record `recno`, or null when the log has no such record. */
  readOne(recno: number): Promise<LogRecord | null>;
}

/** What the searches of one backend did, for `/readyz` and `/metrics`. */
export interface SeekCounters {
  /** Searches started. */
  seeks: number;
  /** Records they read from the GDP. */
  seekReads: number;
  /** Probes answered by the cache (or by a read already in flight). */
  seekCacheHits: number;
}

/** Searches by time, with the cache of the timestamps they read. */
export class TimeSeeker {
  readonly counters: SeekCounters = { seeks: 0, seekReads: 0, seekCacheHits: 0 };
  /** `recno name` → the record's timestamp; oldest use first. */
  readonly #stamps = new Map<string, Promise<Timestamp | null>>();
  readonly #max: number;

  constructor(max = STAMPS_CACHED) {
    this.#max = Math.max(1, max);
  }

  /** Entries cached now. */
  get size(): number {
    return this.#stamps.size;
  }

  /** A boundary for `ts` among records 1 to `last` of `log` (`LogHandle.seek`). */
  seek(log: SeekableLog, ts: Timestamp, last: number): Promise<number> {
    this.counters.seeks++;
    return seekOnGrid(last, async (recno) => {
      const stamp = await this.#stampOf(log, recno);
      // A record missing below the end the caller knows: taken as past the end.
      return stamp !== null && compareTs(stamp, ts) < 0;
    });
  }

  #stampOf(log: SeekableLog, recno: number): Promise<Timestamp | null> {
    const key = `${recno} ${log.name}`;
    const hit = this.#stamps.get(key);
    if (hit) {
      this.counters.seekCacheHits++;
      this.#stamps.delete(key); // to the young end
      this.#stamps.set(key, hit);
      return hit;
    }
    this.counters.seekReads++;
    const read = log.readOne(recno).then((record) => record?.ts ?? null);
    this.#stamps.set(key, read);
    // A failed read, or a record not there yet, must be read again next time.
    const forget = () => {
      if (this.#stamps.get(key) === read) this.#stamps.delete(key);
    };
    read.then((stamp) => stamp === null && forget(), forget);
    if (this.#stamps.size > this.#max) this.#stamps.delete(this.#stamps.keys().next().value!);
    return read;
  }
}
