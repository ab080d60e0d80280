/**
 * Who follows which log of the embedded store, and how records reach them:
 * this process's appends are handed on as they commit; another process's
 * (the CLI's) are noticed by polling `PRAGMA data_version` while anyone
 * follows; a follower behind reads what it missed a chunk per event-loop
 * turn, so that a burst written elsewhere does not stall every other client.
 *
 * @example
 * ```ts
 * import { Followers } from "./followers.ts";
 *
 * const followers = new Followers({
 *   read: (_logId, _from, _count) => [],
 *   dataVersion: () => 1,
 *   pollMs: 100,
 *   pollFailed: (error) => console.error(error),
 * });
 * const unfollow = followers.add(1, 1, (r) => console.log(r.recno), console.error);
 * followers.notify(1, { recno: 1, ts: { sec: 0, nsec: 0, accuracy: 0 }, data: new Uint8Array() });
 * unfollow();
 * followers.close();
 * ```
 *
 * @module
 */

import { GdpError } from "../../core/errors.ts";
import type { LogRecord, Unfollow } from "../backend.ts";

/** Records delivered to one follower per turn while it catches up. */
const CATCH_UP_CHUNK = 128;

export interface FollowersOptions {
  /** Records `from` .. `from + count - 1` of the log with row id `logId`; throws a GdpError. */
  read: (logId: number, from: number, count: number) => LogRecord[];
  /** `PRAGMA data_version`: changes when another connection commits. */
  dataVersion: () => number;
  /** How often to look for other processes' commits, in ms. */
  pollMs: number;
  /** Reading the data version failed (the store notes its damage). */
  pollFailed: (error: unknown) => void;
}

interface Follower {
  /** Row id of the followed log. */
  logId: number;
  next: number;
  onRecord: (record: LogRecord) => void;
  onError: (error: GdpError) => void;
}

export class Followers {
  readonly #options: FollowersOptions;
  readonly #byLog = new Map<number, Set<Follower>>();
  readonly #lagging = new Set<Follower>();
  /** The next turn of lagging followers' catch-up. */
  #behindTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #dataVersion = 0;
  #closed = false;

  constructor(options: FollowersOptions) {
    this.#options = options;
  }

  /** Follows the log with row id `logId` from `from` on (see `LogHandle.follow`). */
  add(
    logId: number,
    from: number,
    onRecord: (r: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow {
    const follower: Follower = { logId, next: Math.max(1, from), onRecord, onError };
    let set = this.#byLog.get(logId);
    if (!set) this.#byLog.set(logId, set = new Set());
    set.add(follower);
    this.#startPolling();
    this.#catchUp(follower);
    return () => this.#remove(follower);
  }

  /** `record` of the log with row id `logId` has just been committed by this process. */
  notify(logId: number, record: LogRecord): void {
    for (const f of this.#byLog.get(logId) ?? []) {
      if (record.recno === f.next) {
        f.next++;
        f.onRecord(record);
      } else if (record.recno > f.next) {
        this.#catchUp(f);
      }
    }
  }

  /** Forgets every follower and stops every timer. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#behindTimer);
    this.#lagging.clear();
    this.#byLog.clear();
    this.#stopPolling();
  }

  #remove(f: Follower): void {
    const set = this.#byLog.get(f.logId);
    if (!set?.delete(f)) return;
    if (set.size === 0) this.#byLog.delete(f.logId);
    if (this.#byLog.size === 0) this.#stopPolling();
  }

  /** Delivers stored records from `f.next` on, one chunk per event-loop turn. */
  #catchUp(f: Follower): void {
    const set = this.#byLog.get(f.logId);
    let records: LogRecord[];
    try {
      records = this.#options.read(f.logId, f.next, CATCH_UP_CHUNK);
    } catch (error) {
      // Run from timers too, where a throw would end the process: the follower is told.
      this.#remove(f);
      f.onError(GdpError.from(error));
      return;
    }
    for (const record of records) {
      if (!set?.has(f)) return;
      f.next++;
      f.onRecord(record);
    }
    if (records.length === CATCH_UP_CHUNK) this.#behind(f);
  }

  /** Continues `f`'s catch-up on a later turn. */
  #behind(f: Follower): void {
    this.#lagging.add(f);
    if (this.#lagging.size > 1) return;
    this.#behindTimer = setTimeout(() => {
      this.#behindTimer = undefined;
      const lagging = [...this.#lagging];
      this.#lagging.clear();
      if (!this.#closed) { for (const follower of lagging) this.#catchUp(follower); }
    }, 0);
  }

  #startPolling(): void {
    if (this.#pollTimer !== undefined) return;
    this.#dataVersion = this.#options.dataVersion();
    const timer = setInterval(() => this.#poll(), this.#options.pollMs);
    Deno.unrefTimer(timer);
    this.#pollTimer = timer;
  }

  #stopPolling(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /** Another process committed: deliver what it appended to every follower. */
  #poll(): void {
    let version: number;
    try {
      version = this.#options.dataVersion();
    } catch (error) {
      this.#options.pollFailed(error);
      return;
    }
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    for (const set of [...this.#byLog.values()]) {
      for (const f of [...set]) this.#catchUp(f);
    }
  }
}
