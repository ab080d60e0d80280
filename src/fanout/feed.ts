/**
 * The single live follow of one log and the subscriptions it serves. A new
 * subscription reads history until it reaches the feed's position, then joins
 * the live set in the same synchronous step, so the switch from stored to live
 * records has no gap and no duplicate even while appends race it. Live records
 * go out in time slices, each encoded once per reply key.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "../backend/embedded/store.ts";
 *
 * const store = openEmbedded({ dataDir: "./data" });
 * const handle = await store.open("edu.berkeley.demo.temp");
 * const settings = {
 *   readChunk: 512,
 *   feedLingerMs: 5000,
 *   recentRecords: 1024,
 *   onLive: () => {},
 *   maxTotalSubscriptions: Infinity,
 *   maxFeeds: Infinity,
 *   maxHistoryRecords: Infinity,
 *   share: true,
 * };
 * const counts = { liveDeliveries: 0, liveEncodings: 0, historyDeliveries: 0 };
 * const feed = new Feed(handle, settings, counts, () => {});
 * await feed.ready;
 * await feed.close();
 * ```
 *
 * @module
 */

import type { LogHandle, LogRecord, Unfollow } from "../backend/backend.ts";
import { GdpError } from "../core/errors.ts";
import { delay, nextSlice, sliceSpent } from "../io/time_slice.ts";
import { countRefusal, type Refusals } from "../limits.ts";
import { resolveStart, type SubscribeRequest } from "../wire/requests.ts";
import type { Subscription } from "./subscription.ts";

/** What a feed needs of the hub's options. */
export interface FeedSettings {
  readChunk: number;
  feedLingerMs: number;
  recentRecords: number;
  onLive: (record: LogRecord) => void;
  maxHistoryRecords: number;
  refusals?: Refusals;
}

/** Running totals a hub keeps across its feeds. */
export interface FeedCounts {
  liveDeliveries: number;
  liveEncodings: number;
  historyDeliveries: number;
}

const CONGESTION_WAIT_MS = 5;
/** Records in a catch-up's first stored chunk; each next one is four times larger, up to readChunk. */
const FIRST_STORED_CHUNK = 16;
/** Deliveries between looks at the clock: cheap enough, and far below a slice's worth. */
const SLICE_CHECK_EVERY = 32;

/** The single live follow of one log and the subscriptions it serves. */
export class Feed {
  readonly ready: Promise<void>;
  /** The last recno the feed has seen; the log's end as far as the hub knows. */
  #last = 0;
  readonly #handle: LogHandle;
  readonly #options: FeedSettings;
  readonly #live = new Set<Subscription>();
  readonly #members = new Set<Subscription>();
  readonly #recent: (LogRecord | undefined)[];
  /** Live records not yet sent to every live subscription, oldest first. */
  #outbox: LogRecord[] = [];
  #sending = false;
  #pending = 0;
  #unfollow: Unfollow | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #counts: FeedCounts;
  readonly #onClose: () => void;

  constructor(
    handle: LogHandle,
    options: FeedSettings,
    counts: FeedCounts,
    onClose: () => void,
  ) {
    this.#handle = handle;
    this.#options = options;
    this.#counts = counts;
    this.#recent = new Array(options.recentRecords);
    this.#onClose = onClose;
    this.ready = this.#start();
    this.ready.catch(() => this.close());
  }

  get liveCount(): number {
    return this.#live.size;
  }

  /** Counts a subscription that is about to attach (keeps the feed open meanwhile). */
  retain(): void {
    this.#pending++;
    clearTimeout(this.#linger);
    this.#linger = undefined;
  }

  /** Undoes {@linkcode retain} for a subscription that ended before attaching. */
  release(): void {
    this.#pending--;
    this.#maybeLinger();
  }

  /**
   * Serves `sub` from `start` on (a recno, or the boundary of a time the
   * backend seeks); false when the feed has closed meanwhile.
   */
  async attach(
    sub: Subscription,
    start: Pick<SubscribeRequest, "startrec" | "startts">,
  ): Promise<boolean> {
    let next: number;
    const known = this.#last;
    try {
      // Still pending while the backend seeks (libgdp reads), so the feed cannot linger out.
      next = start.startts
        ? await this.#handle.seek(start.startts, known)
        : resolveStart(start.startrec, known);
    } catch (error) {
      this.#pending--;
      this.#maybeLinger();
      throw error;
    }
    this.#pending--;
    if (this.#closed) return false;
    if (sub.isEnded) {
      this.#maybeLinger(); // the client left while the backend sought
      return true;
    }
    const history = Math.min(sub.remaining, this.#last - next + 1);
    const max = this.#options.maxHistoryRecords;
    if (history > max) {
      this.#maybeLinger();
      throw countRefusal(
        this.#options.refusals,
        "maxHistoryRecords",
        GdpError.of(413, `${history} stored records asked for; the limit is ${max} per request`),
      );
    }
    // A boundary among stored records is stamped at or after the time: nothing before it to skip.
    if (start.startts && next <= known) sub.stopSkipping();
    this.#members.add(sub);
    sub.bind((s) => this.detach(s));
    sub.next = next;
    await this.#catchUp(sub);
    return true;
  }

  detach(sub: Subscription): void {
    this.#members.delete(sub);
    this.#live.delete(sub);
    this.#maybeLinger();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#linger);
    this.#onClose();
    this.#unfollow?.();
    for (const sub of [...this.#members]) sub.fail(GdpError.of(500, "the log was closed"));
    await this.#handle.close();
  }

  async #start(): Promise<void> {
    this.#last = await this.#handle.last();
    this.#unfollow = this.#handle.follow(
      this.#last + 1,
      (record) => this.#onRecord(record),
      (error) => this.#onError(error),
    );
  }

  #onRecord(record: LogRecord): void {
    if (record.recno <= this.#last) return;
    this.#last = record.recno;
    this.#recent[record.recno % this.#recent.length] = record;
    if (this.#live.size === 0) return;
    this.#outbox.push(record);
    if (!this.#sending) void this.#sendOutbox();
  }

  /**
   * Sends the outbox to every live subscription, in time slices: a burst to
   * 10,000 sockets is spread over turns of the event loop, so other logs,
   * `/healthz` and handshakes are served in between. Each sweep takes the
   * records waiting now and gives each subscription all of them in one go (one
   * frame in batch mode), then the next; records that arrive meanwhile wait for
   * the next sweep, so each subscription's share stays in recno order. One that
   * joins meanwhile skips what it already read as history (`deliver` checks).
   */
  async #sendOutbox(): Promise<void> {
    this.#sending = true;
    try {
      let unchecked = 0;
      // Looked at before the first delivery too: a commit hands records to
      // 1,000 logs in one call, and sweeps of 10 subscribers each would never
      // reach a check of their own.
      while (sliceSpent()) await nextSlice();
      while (this.#outbox.length > 0 && !this.#closed) {
        const records = this.#outbox;
        this.#outbox = [];
        const caches = records.map(() => new Map<string, string>());
        // A Set iterator survives the awaits: members added later are visited, removed ones not.
        for (const sub of this.#live) {
          for (let i = 0; i < records.length; i++) sub.deliver(records[i]!, caches[i]);
          sub.sink.flush?.();
          this.#counts.liveDeliveries += records.length;
          if ((unchecked += records.length) >= SLICE_CHECK_EVERY) {
            unchecked = 0;
            // `while`: the sweeps of many logs resume in the same turn.
            while (sliceSpent()) await nextSlice();
          }
        }
        for (let i = 0; i < records.length; i++) {
          this.#counts.liveEncodings += caches[i]!.size;
          this.#options.onLive(records[i]!);
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  #onError(error: GdpError): void {
    // 503: the backend is still retrying and will resume without a gap.
    if (error.code === 503) {
      for (const sub of this.#members) sub.warn(error);
      return;
    }
    for (const sub of [...this.#members]) sub.fail(error);
    void this.close();
  }

  /** History until the subscription reaches the feed's end, then live. */
  async #catchUp(sub: Subscription): Promise<void> {
    // Stored chunks start small and grow: a backend that reads a record per round
    // trip (libgdp) sends the first record after a few of them, not after a chunk.
    let chunk = FIRST_STORED_CHUNK;
    while (!sub.isEnded) {
      if (sub.next > this.#last) {
        this.#live.add(sub);
        return;
      }
      // Checked before the read: a stored chunk is read synchronously (SQLite)
      // before its first await, so the catch-ups resuming after this one see
      // the slice spent by its read instead of all reading in the same turn.
      while (sliceSpent()) await nextSlice();
      const from = sub.next;
      const recent = this.#recentChunk(from);
      if (recent) this.#deliverChunk(sub, recent);
      else if (!this.#deliverEncoded(sub, from)) {
        const wanted = Math.min(chunk, sub.skipping ? Infinity : sub.remaining);
        this.#deliverChunk(sub, await this.#storedChunk(from, wanted));
        chunk *= 4;
      }
      if (sub.next === from && !sub.isEnded) {
        throw GdpError.of(500, `record ${from} could not be read`);
      }
      while (sub.sink.congested() && !sub.isEnded) await delay(CONGESTION_WAIT_MS);
    }
  }

  /** Records from `from` on out of the recent-records ring, or undefined when not there. */
  #recentChunk(from: number): LogRecord[] | undefined {
    const end = Math.min(this.#last, from + this.#options.readChunk - 1);
    const chunk: LogRecord[] = [];
    for (let recno = from; recno <= end; recno++) {
      const record = this.#recent[recno % this.#recent.length];
      if (record?.recno !== recno) break;
      chunk.push(record);
    }
    return chunk.length > 0 ? chunk : undefined;
  }

  /** Up to a chunk of stored records from `from` on, no more than `wanted` (a libgdp read each). */
  async #storedChunk(from: number, wanted: number): Promise<LogRecord[]> {
    const end = Math.min(this.#last, from + this.#options.readChunk - 1, from + wanted - 1);
    const count = end - from + 1;
    const chunk: LogRecord[] = [];
    for await (const record of this.#handle.read(from, count)) chunk.push(record);
    return chunk;
  }

  /**
   * Stored records from `from` on as events the backend builds itself, when it
   * can; false when it cannot (then the records are read and encoded here).
   */
  #deliverEncoded(sub: Subscription, from: number): boolean {
    const budget = sub.sink.room?.() ?? 0;
    const template = this.#handle.readEvents && budget > 0 && !sub.skipping && sub.template;
    if (!template) return false;
    const end = Math.min(this.#last, from + this.#options.readChunk - 1, from + sub.remaining - 1);
    const { sink } = sub;
    // One stretch of UTF-8: commas for a batch frame, newlines for a frame per event.
    const joined = sink.joinsEvents ? sink.sendJoined !== undefined : sink.sendLines !== undefined;
    const separator = sink.joinsEvents ? "," : "\n";
    const read = this.#handle.readEvents!(from, end - from + 1, template, {
      joined,
      budget,
      separator,
    });
    if (!read) return false;
    sub.deliverEncoded(read);
    this.#counts.historyDeliveries += read.count;
    return true;
  }

  /** One synchronous pass, so a batch-mode client gets the chunk in one frame. */
  #deliverChunk(sub: Subscription, chunk: LogRecord[]): void {
    for (const record of chunk) {
      if (sub.isEnded || record.recno !== sub.next) return;
      if (sub.deliver(record)) this.#counts.historyDeliveries++;
      // The rest of the chunk is read again later: cheaper than holding it per client.
      if (sub.sink.congested()) return;
    }
  }

  #maybeLinger(): void {
    if (this.#closed || this.#members.size > 0 || this.#pending > 0) return;
    if (this.#linger !== undefined) return;
    const timer = setTimeout(() => void this.close(), this.#options.feedLingerMs);
    Deno.unrefTimer(timer);
    this.#linger = timer;
  }
}
