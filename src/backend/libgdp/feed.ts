/**
 * In-order, gapless, duplicate-free delivery of one log's live records to
 * its followers, whatever order libgdp delivers them in.
 *
 * libgdp can deliver the first record after a subscribe after later ones
 * (and re-delivers records after a resubscribe). A {@linkcode Feed} hands
 * records to followers strictly in recno order: one past a gap is held for
 * `holdMs`, then the missing recno is read explicitly; anything below the
 * next expected recno is a duplicate and dropped.
 *
 * @example
 * ```ts
 * const feed = new Feed(1, source, 200, feedCounters());
 * feed.add(new Follower(1, (r) => console.log(r.recno), console.error));
 * feed.accept(record2); // held: record 1 has not been seen yet
 * feed.accept(record1); // delivers 1, then 2
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { LogRecord } from "../backend.ts";
import { GdpError } from "../../errors.ts";

const log = getLogger(["gdp-ws", "libgdp"]);

/** Retries of a gap read that finds nothing before the recno counts as a hole. */
const HOLE_RETRIES = 3;

/** Where a feed reads records it did not receive. */
export interface FeedSource {
  /** One record; `null` when the log has no such record (404). */
  readOne(recno: number): Promise<LogRecord | null>;
}

/** What a feed counts (shared by all feeds of a backend). */
export interface FeedCounters {
  /** Records handed to followers (once per record, not per follower). */
  delivered: number;
  /** Records read explicitly to fill a gap. */
  gapReads: number;
  /** Records received again and dropped. */
  duplicatesDropped: number;
  /** Recnos skipped because the log does not have them. */
  holesSkipped: number;
}

/** Zeroed {@linkcode FeedCounters}. */
export function feedCounters(): FeedCounters {
  return { delivered: 0, gapReads: 0, duplicatesDropped: 0, holesSkipped: 0 };
}

/** One caller of `follow`: records from `from` on, each once, in order. */
export class Follower {
  #want: number;
  #active = true;
  readonly #onRecord: (record: LogRecord) => void;
  readonly #onError: (error: GdpError) => void;

  /** A follower wanting `from` first. */
  constructor(
    from: number,
    onRecord: (record: LogRecord) => void,
    onError: (error: GdpError) => void,
  ) {
    this.#want = from;
    this.#onRecord = onRecord;
    this.#onError = onError;
  }

  /** The next recno this follower expects. */
  get want(): number {
    return this.#want;
  }

  /** Delivers `record` unless this follower already has it or has stopped. */
  offer(record: LogRecord): void {
    if (!this.#active || record.recno < this.#want) return;
    this.#want = record.recno + 1;
    try {
      this.#onRecord(record);
    } catch (error) {
      // one broken follower must not starve the others
      log.error("A follower's onRecord threw: {error}", { error });
    }
  }

  /** Reports a problem to this follower (it stays subscribed). */
  fail(error: GdpError): void {
    if (!this.#active) return;
    try {
      this.#onError(error);
    } catch (thrown) {
      log.error("A follower's onError threw: {error}", { error: thrown });
    }
  }

  /** Stops deliveries to this follower. */
  stop(): void {
    this.#active = false;
  }
}

/** Orders one log's records for its followers; see the module docs. */
export class Feed {
  #next: number;
  readonly #held = new Map<number, LogRecord>();
  readonly #followers = new Set<Follower>();
  readonly #source: FeedSource;
  readonly #holdMs: number;
  readonly #counters: FeedCounters;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #filling = false;
  #stopped = false;
  #missRecno = 0;
  #misses = 0;

  /** A feed whose first record is `from`; gaps are read from `source` after `holdMs`. */
  constructor(from: number, source: FeedSource, holdMs: number, counters: FeedCounters) {
    this.#next = from;
    this.#source = source;
    this.#holdMs = holdMs;
    this.#counters = counters;
  }

  /** The next recno to deliver (= last delivered + 1). */
  get next(): number {
    return this.#next;
  }

  /** Number of followers. */
  get size(): number {
    return this.#followers.size;
  }

  /** Adds a follower; its records start with its own `want`. */
  add(follower: Follower): void {
    this.#followers.add(follower);
  }

  /** Removes a follower; false when it was not there. */
  remove(follower: Follower): boolean {
    return this.#followers.delete(follower);
  }

  /**
   * Restarts delivery at an earlier recno, for a follower that wants older
   * records than the feed has reached. Followers ahead drop what they have.
   */
  rewind(from: number): void {
    if (from >= this.#next) return;
    this.#next = from;
    this.#held.clear();
    this.#clearTimer();
  }

  /** Takes a record from the subscription or a read, in any order. */
  accept(record: LogRecord): void {
    if (this.#stopped) return;
    if (record.recno < this.#next) {
      this.#counters.duplicatesDropped++;
      return;
    }
    if (record.recno > this.#next) {
      this.#held.set(record.recno, record);
      this.#armTimer();
      return;
    }
    this.#deliver(record);
    this.#drainHeld();
  }

  /** Reports an error to every follower. */
  fail(error: GdpError): void {
    for (const follower of this.#followers) follower.fail(error);
  }

  /** Stops the feed and its timers; followers get nothing more. */
  stop(): void {
    this.#stopped = true;
    this.#clearTimer();
    this.#held.clear();
    for (const follower of this.#followers) follower.stop();
    this.#followers.clear();
  }

  #deliver(record: LogRecord): void {
    this.#next = record.recno + 1;
    this.#counters.delivered++;
    for (const follower of this.#followers) follower.offer(record);
  }

  #drainHeld(): void {
    for (let r = this.#held.get(this.#next); r !== undefined; r = this.#held.get(this.#next)) {
      this.#held.delete(r.recno);
      this.#deliver(r);
    }
    if (this.#held.size === 0) this.#clearTimer();
  }

  #armTimer(): void {
    if (this.#timer !== undefined || this.#filling || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#fillGap();
    }, this.#holdMs);
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the records missing before the held ones, one by one. */
  async #fillGap(): Promise<void> {
    if (this.#filling || this.#stopped) return;
    this.#filling = true;
    try {
      while (!this.#stopped && this.#held.size > 0) {
        const recno = this.#next;
        this.#counters.gapReads++;
        const record = await this.#source.readOne(recno);
        if (record !== null) {
          this.accept(record); // a duplicate if the late event came first
        } else if (this.#next === recno && !this.#skipHole(recno)) {
          break; // retry after another hold
        }
      }
    } catch (error) {
      // link errors start a recovery that resubscribes from #next
      log.warn("Reading a missing record failed: {error}", { error });
    } finally {
      this.#filling = false;
      if (!this.#stopped && this.#held.size > 0) this.#armTimer();
    }
  }

  /**
   * A record before a held one that the log does not have: a hole (GDP logs
   * can have them). Skips it after a few tries; false to retry later.
   */
  #skipHole(recno: number): boolean {
    if (this.#missRecno !== recno) {
      this.#missRecno = recno;
      this.#misses = 0;
    }
    if (++this.#misses < HOLE_RETRIES) return false;
    log.warn("Record {recno} is missing from the log; skipping it", { recno });
    this.#counters.holesSkipped++;
    this.#next = recno + 1;
    this.#drainHeld();
    return true;
  }
}
