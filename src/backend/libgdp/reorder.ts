/**
 * In-order, gapless, duplicate-free delivery of one log's records, whatever
 * order libgdp delivers them in.
 *
 * libgdp can deliver the first record after a subscribe after later ones,
 * re-delivers records after its own resubscribe, and goes silent when a log
 * server restarts. A {@linkcode ReorderBuffer} hands records on strictly in
 * recno order: one past a gap is held for `holdMs`, then the missing recnos
 * are read explicitly; anything below the next expected recno is a duplicate
 * and dropped. {@linkcode ReorderBuffer.noteLast} (a probe of the log's end)
 * fills a gap that no later record revealed.
 *
 * @example
 * ```ts
 * const source = { readOne: (_recno: number) => Promise.resolve(null) };
 * const order = new ReorderBuffer(1, source, 200, reorderCounters());
 * order.onRecord = (record) => console.log(record.recno);
 * const ts = { sec: 0, nsec: 0, accuracy: 0 };
 * order.accept({ recno: 2, ts, data: new Uint8Array() }); // held: 1 has not been seen yet
 * order.accept({ recno: 1, ts, data: new Uint8Array() }); // delivers 1, then 2
 * order.stop();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { LogRecord } from "../backend.ts";

const log = getLogger(["gdp-ws", "libgdp"]);

/** Reads of a missing recno that find nothing before it counts as a hole. */
const HOLE_RETRIES = 3;

/** Where a buffer reads records it did not receive. */
export interface RecordSource {
  /** One record; `null` when the log has no such record (404). */
  readOne(recno: number): Promise<LogRecord | null>;
}

/** What reorder buffers count (shared by all buffers of a backend). */
export interface ReorderCounters {
  /** Records handed on in order (once per record). */
  delivered: number;
  /** Records read explicitly to fill a gap. */
  gapReads: number;
  /** Records received again and dropped. */
  duplicatesDropped: number;
  /** Recnos skipped because the log does not have them. */
  holesSkipped: number;
}

/** Zeroed {@linkcode ReorderCounters}. */
export function reorderCounters(): ReorderCounters {
  return { delivered: 0, gapReads: 0, duplicatesDropped: 0, holesSkipped: 0 };
}

/** See the module docs. */
export class ReorderBuffer {
  /** Receives each record once, in recno order; unset records are dropped. */
  onRecord: ((record: LogRecord) => void) | undefined;
  #next: number;
  /** The highest recno known to exist (from records seen or probes). */
  #known = 0;
  readonly #held = new Map<number, LogRecord>();
  readonly #source: RecordSource;
  readonly #holdMs: number;
  readonly #counters: ReorderCounters;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #filling = false;
  #stopped = false;
  #missRecno = 0;
  #misses = 0;

  /** A buffer whose first record is `from`; gaps are read from `source` after `holdMs`. */
  constructor(from: number, source: RecordSource, holdMs: number, counters: ReorderCounters) {
    this.#next = from;
    this.#source = source;
    this.#holdMs = holdMs;
    this.#counters = counters;
  }

  /** The next recno to hand on (= last handed on + 1). */
  get next(): number {
    return this.#next;
  }

  /** Takes a record from the subscription or a read, in any order. */
  accept(record: LogRecord): void {
    if (this.#stopped) return;
    this.#known = Math.max(this.#known, record.recno);
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

  /** Tells the buffer the log has records up to `recno`; missing ones are read. */
  noteLast(recno: number): void {
    if (this.#stopped || recno <= this.#known) return;
    this.#known = recno;
    if (this.#next <= recno) this.#armTimer();
  }

  /**
   * Restarts delivery at an earlier recno (records the buffer handed on while
   * nobody listened); they are read again.
   */
  rewind(from: number): void {
    if (from >= this.#next) return;
    this.#known = Math.max(this.#known, this.#next - 1);
    this.#next = from;
    this.#held.clear();
    this.#clearTimer();
    this.#armTimer();
  }

  /** Stops the buffer and its timer; nothing more is handed on. */
  stop(): void {
    this.#stopped = true;
    this.onRecord = undefined;
    this.#clearTimer();
    this.#held.clear();
  }

  #deliver(record: LogRecord): void {
    this.#next = record.recno + 1;
    this.#counters.delivered++;
    if (!this.onRecord) return;
    try {
      this.onRecord(record);
    } catch (error) {
      log.error("Handing on a record threw: {error}", { error });
    }
  }

  #drainHeld(): void {
    for (let r = this.#held.get(this.#next); r !== undefined; r = this.#held.get(this.#next)) {
      this.#held.delete(r.recno);
      this.#deliver(r);
    }
    if (!this.#hasGap()) this.#clearTimer();
  }

  /** True while records before a known one are missing. */
  #hasGap(): boolean {
    return this.#held.size > 0 || this.#next <= this.#known;
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

  /** Reads the missing records one by one, in order. */
  async #fillGap(): Promise<void> {
    if (this.#filling || this.#stopped) return;
    this.#filling = true;
    try {
      while (!this.#stopped && this.#hasGap()) {
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
      // the upstream notices link errors itself; the next hold retries
      log.warn("Reading a missing record failed: {error}", { error });
    } finally {
      this.#filling = false;
      if (!this.#stopped && this.#hasGap()) this.#armTimer();
    }
  }

  /**
   * A record before a known one that the log does not have: a hole (GDP logs
   * can have them). Skipped after a few tries; false to retry later.
   */
  #skipHole(recno: number): boolean {
    if (this.#missRecno !== recno) {
      this.#missRecno = recno;
      this.#misses = 0;
    }
    if (++this.#misses < HOLE_RETRIES) return false;
    if (recno > this.#known) return false; // nothing after it yet: not a hole, just the end
    log.warn("Record {recno} is missing from the log; skipping it", { recno });
    this.#counters.holesSkipped++;
    this.#next = recno + 1;
    this.#drainHeld();
    return true;
  }
}
