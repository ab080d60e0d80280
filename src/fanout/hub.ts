/**
 * Fan-out. One {@linkcode LogFanOut} per log keeps the only live follow on that log,
 * however many subscriptions watch it. A new subscription reads history until
 * it reaches the fan-out's position, then joins the live set in the same
 * synchronous step, so the switch from stored to live records has no gap and no
 * duplicate even while appends race it. Each live record is encoded once per
 * reply key (style, encoding, id, spelling) and the same string goes to
 * every subscription that shares the key.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "../backend/embedded/store.ts";
 * import { PYTHON_STYLE } from "../wire/protocol.ts";
 *
 * const hub = new Hub(openEmbedded({ dataDir: "./data" }), { readChunk: 512, feedLingerMs: 5000 });
 * const sink: SubscriptionSink = {
 *   style: PYTHON_STYLE,
 *   send: (event) => console.log(event),
 *   congested: () => false,
 *   ended: () => {},
 * };
 * const request = { logname: "x", startrec: 1, numrec: 0, encoding: "text" } as const;
 * const sub = hub.subscribe({ op: "subscribe", ...request }, sink);
 * sub.cancel();
 * ```
 *
 * @module
 */

import {
  type Backend,
  type EncodedRecords,
  type LogHandle,
  type LogRecord,
  openOrCreate,
  type Unfollow,
} from "../backend/backend.ts";
import { DEFAULT_LIMITS } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import { type Refusals, refuse } from "../limits.ts";
import { delay, nextSlice, sliceSpent, slicesSettled } from "../io/time_slice.ts";
import {
  encodeRecord,
  encodeStatus,
  EventType,
  OK_STAT,
  type RecordTemplate,
  recordTemplate,
  type ReplyAddress,
  replyKey,
  type RequestId,
  SHUTDOWN_STAT,
  type Style,
  type SubscribeRequest,
} from "../wire/protocol.ts";

/** Where a subscription's events go: the session that owns it. */
export interface SubscriptionSink {
  readonly style: Style;
  /**
   * True when one `send` may carry several DATA events joined by commas (a
   * batch-mode session, whose frame is a JSON array of them).
   */
  readonly joinsEvents?: boolean;
  /** One encoded event of this subscription; `recno` is given for a record (DATA). */
  send(text: string, recno?: number): void;
  /**
   * `count` DATA events up to `recno`, separated by commas, in UTF-8: history
   * the store encoded. Asked of a sink that `joinsEvents`.
   */
  sendJoined?(utf8: Uint8Array, recno: number, count: number): void;
  /** True while the client is behind; history reads wait for it to drain. */
  congested(): boolean;
  /**
   * Characters of events the sink takes before it is congested; history
   * encoded by the store is read up to it. Absent: the store does not encode
   * for this sink.
   */
  room?(): number;
  /** The subscription has ended (after its last event, if any, was sent). */
  ended(sub: Subscription): void;
  /**
   * Sends now what the sink has batched. The live fan-out calls it after each
   * subscription's share of a sweep, so writing the frame is counted in the
   * time slice that produced it (a microtask flush would run after the slice).
   */
  flush?(): void;
}

export interface HubOptions {
  /** Records fetched from the backend per history read. */
  readChunk: number;
  /** How long a log stays open after its last subscriber leaves, in ms. */
  feedLingerMs: number;
  /** Recent records kept per log to serve catch-up without a backend read. */
  recentRecords?: number;
  /** Called once per live record that reaches subscribers (metrics: append-to-send latency). */
  onLive?: (record: LogRecord) => void;
  /** Subscriptions open at once over all sessions; more are refused with 503. */
  maxTotalSubscriptions?: number;
  /** Logs followed at once; a subscription that needs one more fails with 503. */
  maxFeeds?: number;
  /** Stored records one subscription may replay; more fail with 413. */
  maxHistoryRecords?: number;
  /** Where refusals are counted. */
  refusals?: Refusals;
  /**
   * Subscriptions of one log share one follow and one encoding per record
   * (default). False gives every subscription its own, as the first gateway
   * did: only to measure what sharing buys.
   */
  share?: boolean;
}

/** Whether an append may create a missing log: a boolean, or a gate that throws to refuse. */
export type CreatePolicy = boolean | (() => void);

type HubSettings = Required<Omit<HubOptions, "refusals">> & Pick<HubOptions, "refusals">;

export interface HubStats {
  /** Logs followed now. */
  feeds: number;
  /** Subscriptions open now. */
  subscriptions: number;
  /** Of those, the ones past history and receiving live records. */
  live: number;
  /** Live records sent to subscriptions, counted once per subscription. */
  liveDeliveries: number;
  /** JSON encodings those needed: one per record and reply key, shared by the rest. */
  liveEncodings: number;
  /** Stored records sent to subscriptions catching up (history replay). */
  historyDeliveries: number;
}

/** Running totals a hub keeps across its logs. */
interface FanOutCounts {
  liveDeliveries: number;
  liveEncodings: number;
  historyDeliveries: number;
}

const CONGESTION_WAIT_MS = 5;
const MAX_ATTACH_ATTEMPTS = 3;
/** Deliveries between looks at the clock: cheap enough, and far below a slice's worth. */
const SLICE_CHECK_EVERY = 32;

/** The starting recno for `startrec` on a log whose last record is `last` (docs/protocol.md#subscribe). */
export function resolveStart(startrec: number, last: number): number {
  if (startrec > 0) return startrec;
  if (startrec === 0) return last + 1;
  return Math.max(1, last + startrec + 1);
}

export class Hub {
  readonly #backend: Backend;
  readonly #options: HubSettings;
  readonly #fanOuts = new Map<string, LogFanOut>();
  #unshared = 0;
  readonly #subs = new Set<Subscription>();
  readonly #counts: FanOutCounts = { liveDeliveries: 0, liveEncodings: 0, historyDeliveries: 0 };

  constructor(backend: Backend, options: HubOptions) {
    this.#backend = backend;
    this.#options = {
      recentRecords: DEFAULT_LIMITS.recentRecords,
      onLive: () => {},
      maxTotalSubscriptions: Infinity,
      maxFeeds: Infinity,
      maxHistoryRecords: Infinity,
      share: true,
      ...options,
    };
  }

  /** Starts a subscription; its records, DONE or error go to `sink`. Throws 503 when full. */
  subscribe(request: SubscribeRequest, sink: SubscriptionSink): Subscription {
    const max = this.#options.maxTotalSubscriptions;
    if (this.#subs.size >= max) {
      throw refuse(
        this.#options.refusals,
        "maxTotalSubscriptions",
        GdpError.of(503, `the gateway holds its limit of ${max} subscriptions`),
      );
    }
    const sub = new Subscription(request, sink, (s) => this.#subs.delete(s));
    this.#subs.add(sub);
    this.#start(sub, request.startrec).catch((e) => sub.fail(GdpError.from(e)));
    return sub;
  }

  /** Appends to a log, creating it first when asked and it does not exist. */
  async append(logname: string, data: Uint8Array, autoCreate: CreatePolicy): Promise<LogRecord> {
    const handle = await this.#open(logname, autoCreate);
    try {
      return await handle.append(data);
    } finally {
      await handle.close();
    }
  }

  stats(): HubStats {
    let live = 0;
    for (const fanOut of this.#fanOuts.values()) live += fanOut.liveCount;
    return { feeds: this.#fanOuts.size, subscriptions: this.#subs.size, live, ...this.#counts };
  }

  /** Ends every subscription with SHUTDOWN and closes every fanOut. */
  async close(): Promise<void> {
    for (const sub of [...this.#subs]) {
      sub.end(EventType.SHUTDOWN, SHUTDOWN_STAT);
    }
    await Promise.all([...this.#fanOuts.values()].map((fanOut) => fanOut.close()));
    // The turn's time slice closes on a timer: nothing the hub started outlives close().
    await slicesSettled();
  }

  async #start(sub: Subscription, startrec: number): Promise<void> {
    // A fan-out can close between being found and being joined (its log failed);
    // then a fresh one is opened, a few times at most.
    for (let attempt = 1;; attempt++) {
      const fanOut = await this.#fanOutFor(sub.address.logname!);
      if (sub.isEnded) return fanOut.release();
      if (await fanOut.attach(sub, startrec)) return;
      if (attempt === MAX_ATTACH_ATTEMPTS) throw GdpError.of(503, "the log keeps closing");
    }
  }

  #open(logname: string, autoCreate: CreatePolicy): Promise<LogHandle> {
    if (!autoCreate) return this.#backend.open(logname);
    return openOrCreate(
      this.#backend,
      logname,
      typeof autoCreate === "function" ? autoCreate : undefined,
    );
  }

  /** The fan-out of a log, started if needed; counts the caller as a member. */
  async #fanOutFor(logname: string): Promise<LogFanOut> {
    const handle = await this.#backend.open(logname);
    // Without sharing, every subscription gets a fan-out of its own under a key of its own.
    const key = this.#options.share ? handle.name : `${handle.name} #${++this.#unshared}`;
    let fanOut = this.#fanOuts.get(key);
    if (fanOut) {
      await handle.close();
    } else if (this.#fanOuts.size >= this.#options.maxFeeds) {
      await handle.close();
      throw refuse(
        this.#options.refusals,
        "maxFeeds",
        GdpError.of(503, `the gateway follows its limit of ${this.#options.maxFeeds} logs`),
      );
    } else {
      const onClose = () => this.#fanOuts.delete(key);
      fanOut = new LogFanOut(handle, this.#options, this.#counts, onClose);
      this.#fanOuts.set(key, fanOut);
    }
    fanOut.retain();
    await fanOut.ready;
    return fanOut;
  }
}

/** One client request on one log. */
export class Subscription {
  readonly address: ReplyAddress;
  readonly key: string;
  readonly sink: SubscriptionSink;
  /** The next recno this subscription delivers. */
  next = 0;
  #remaining: number;
  #ended = false;
  #template: RecordTemplate | null | undefined;
  #fanOut: LogFanOut | undefined;
  readonly #onEnd: (sub: Subscription) => void;

  constructor(request: SubscribeRequest, sink: SubscriptionSink, onEnd: (s: Subscription) => void) {
    this.address = replyAddress(request.logname, request.id, request.encoding);
    this.key = replyKey(this.address, sink.style);
    this.sink = sink;
    this.#remaining = request.numrec === 0 ? Infinity : request.numrec;
    this.#onEnd = onEnd;
  }

  get id(): RequestId | undefined {
    return this.address.id;
  }

  /** Records still to deliver before DONE (Infinity: follows forever). */
  get remaining(): number {
    return this.#remaining;
  }

  get isEnded(): boolean {
    return this.#ended;
  }

  /** Sends `record` (once; older records are skipped). `cache` shares encodings. */
  deliver(record: LogRecord, cache?: Map<string, string>): void {
    if (this.#ended || record.recno < this.next) return;
    let text = cache?.get(this.key);
    if (text === undefined) {
      text = encodeRecord(record, this.address, this.sink.style);
      cache?.set(this.key, text);
    }
    this.next = record.recno + 1;
    this.sink.send(text, record.recno);
    if (--this.#remaining === 0) this.end(EventType.DONE, OK_STAT);
  }

  /**
   * Sends stored records from `next` on, encoded by the store ({@linkcode
   * LogHandle.readEvents}): one event each, or all joined.
   */
  deliverEncoded(read: EncodedRecords): void {
    if (this.#ended) return;
    const { count } = read;
    const first = this.next;
    this.next = first + count;
    if ("utf8" in read) this.sink.sendJoined!(read.utf8, first + count - 1, count);
    else for (let i = 0; i < count; i++) this.sink.send(read.events[i]!, first + i);
    if ((this.#remaining -= count) === 0) this.end(EventType.DONE, OK_STAT);
  }

  /** The template of this subscription's DATA events, for stores that encode them. */
  get template(): RecordTemplate | undefined {
    // null: worked out, and there is none (base64).
    this.#template ??= recordTemplate(this.address, this.sink.style) ?? null;
    return this.#template ?? undefined;
  }

  /** Ends with a final event (DONE, SHUTDOWN) sent to the client. */
  end(type: number, epStat: readonly [number, string]): void {
    if (this.#ended) return;
    this.sink.send(encodeStatus(type, epStat, this.address, this.sink.style));
    this.#finish();
  }

  /** Ends with a FAILURE event. */
  fail(error: GdpError): void {
    this.end(EventType.FAILURE, error.epStat);
  }

  /** A non-fatal error event; the subscription goes on. */
  warn(error: GdpError): void {
    if (!this.#ended) {
      this.sink.send(encodeStatus(EventType.FAILURE, error.epStat, this.address, this.sink.style));
    }
  }

  /** Ends silently: the socket is gone. */
  cancel(): void {
    if (!this.#ended) this.#finish();
  }

  /** @internal set by the fan-out that serves this subscription. */
  bind(fanOut: LogFanOut): void {
    this.#fanOut = fanOut;
  }

  #finish(): void {
    this.#ended = true;
    this.#fanOut?.detach(this);
    this.#fanOut = undefined;
    this.#onEnd(this);
    this.sink.ended(this);
  }
}

function replyAddress(
  logname: string,
  id: RequestId | undefined,
  encoding: ReplyAddress["encoding"],
): ReplyAddress {
  const address: ReplyAddress = { logname };
  if (id !== undefined) address.id = id;
  if (encoding === "base64") address.encoding = encoding;
  return address;
}

/** The single live follow of one log and the subscriptions it serves. */
class LogFanOut {
  readonly ready: Promise<void>;
  /** The last recno the fan-out has seen; the log's end as far as the hub knows. */
  #last = 0;
  readonly #handle: LogHandle;
  readonly #options: HubSettings;
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
  readonly #counts: FanOutCounts;
  readonly #onClose: () => void;

  constructor(
    handle: LogHandle,
    options: HubSettings,
    counts: FanOutCounts,
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

  /** Counts a subscription that is about to attach (keeps the fan-out open meanwhile). */
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

  /** Serves `sub` from `startrec` on; false when the fan-out has closed meanwhile. */
  async attach(sub: Subscription, startrec: number): Promise<boolean> {
    this.#pending--;
    if (this.#closed) return false;
    const next = resolveStart(startrec, this.#last);
    const history = Math.min(sub.remaining, this.#last - next + 1);
    const max = this.#options.maxHistoryRecords;
    if (history > max) {
      this.#maybeLinger();
      throw refuse(
        this.#options.refusals,
        "maxHistoryRecords",
        GdpError.of(413, `${history} stored records asked for; the limit is ${max} per request`),
      );
    }
    this.#members.add(sub);
    sub.bind(this);
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

  /** History until the subscription reaches the fan-out's end, then live. */
  async #catchUp(sub: Subscription): Promise<void> {
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
        this.#deliverChunk(sub, await this.#storedChunk(from));
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

  async #storedChunk(from: number): Promise<LogRecord[]> {
    const count = Math.min(this.#last, from + this.#options.readChunk - 1) - from + 1;
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
    const template = this.#handle.readEvents && budget > 0 && sub.template;
    if (!template) return false;
    const end = Math.min(this.#last, from + this.#options.readChunk - 1, from + sub.remaining - 1);
    const joined = !!sub.sink.joinsEvents && sub.sink.sendJoined !== undefined;
    const read = this.#handle.readEvents!(from, end - from + 1, template, { joined, budget });
    if (!read) return false;
    sub.deliverEncoded(read);
    this.#counts.historyDeliveries += read.count;
    return true;
  }

  /** One synchronous pass, so a batch-mode client gets the chunk in one frame. */
  #deliverChunk(sub: Subscription, chunk: LogRecord[]): void {
    for (const record of chunk) {
      if (sub.isEnded || record.recno !== sub.next) return;
      sub.deliver(record);
      this.#counts.historyDeliveries++;
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
