/**
 * Fan-out. One {@linkcode Feed} per log keeps the only live follow on that
 * log, however many subscriptions watch it (feed.ts); the hub finds or starts
 * it, enforces the subscription and feed limits, and appends.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "../backend/embedded/store.ts";
 * import { PYTHON_STYLE } from "../wire/events.ts";
 * import type { SubscriptionSink } from "./subscription.ts";
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

import { type Backend, type LogHandle, type LogRecord, openOrCreate } from "../backend/backend.ts";
import { DEFAULT_LIMITS } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import { slicesSettled } from "../io/time_slice.ts";
import { countRefusal, type Refusals } from "../limits.ts";
import { type SubscribeRequest } from "../wire/requests.ts";
import { EventType } from "../core/records.ts";
import { SHUTDOWN_STAT } from "../wire/events.ts";
import { Feed, type FeedCounts } from "./feed.ts";
import type { SubscriptionSink } from "./subscription.ts";
import { Subscription } from "./subscription.ts";

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

const MAX_ATTACH_ATTEMPTS = 3;

export class Hub {
  readonly #backend: Backend;
  readonly #options: HubSettings;
  readonly #feeds = new Map<string, Feed>();
  #unshared = 0;
  readonly #subs = new Set<Subscription>();
  readonly #counts: FeedCounts = { liveDeliveries: 0, liveEncodings: 0, historyDeliveries: 0 };

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
      throw countRefusal(
        this.#options.refusals,
        "maxTotalSubscriptions",
        GdpError.of(503, `the gateway holds its limit of ${max} subscriptions`),
      );
    }
    const sub = new Subscription(request, sink, (s) => this.#subs.delete(s));
    this.#subs.add(sub);
    this.#start(sub, request).catch((e) => sub.fail(GdpError.from(e)));
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
    for (const feed of this.#feeds.values()) live += feed.liveCount;
    return { feeds: this.#feeds.size, subscriptions: this.#subs.size, live, ...this.#counts };
  }

  /** Ends every subscription with SHUTDOWN and closes every feed. */
  async close(): Promise<void> {
    for (const sub of [...this.#subs]) {
      sub.end(EventType.SHUTDOWN, SHUTDOWN_STAT);
    }
    await Promise.all([...this.#feeds.values()].map((feed) => feed.close()));
    // The turn's time slice closes on a timer: nothing the hub started outlives close().
    await slicesSettled();
  }

  async #start(sub: Subscription, start: SubscribeRequest): Promise<void> {
    // A feed can close between being found and being joined (its log failed);
    // then a fresh one is opened, a few times at most.
    for (let attempt = 1;; attempt++) {
      const feed = await this.#feedFor(sub.address.logname!);
      if (sub.isEnded) return feed.release();
      if (await feed.attach(sub, start)) return;
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

  /** The feed of a log, started if needed; counts the caller as a member. */
  async #feedFor(logname: string): Promise<Feed> {
    const handle = await this.#backend.open(logname);
    // Without sharing, every subscription gets a feed of its own under a key of its own.
    const key = this.#options.share ? handle.name : `${handle.name} #${++this.#unshared}`;
    let feed = this.#feeds.get(key);
    if (feed) {
      await handle.close();
    } else if (this.#feeds.size >= this.#options.maxFeeds) {
      await handle.close();
      throw countRefusal(
        this.#options.refusals,
        "maxFeeds",
        GdpError.of(503, `the gateway follows its limit of ${this.#options.maxFeeds} logs`),
      );
    } else {
      const onClose = () => this.#feeds.delete(key);
      feed = new Feed(handle, this.#options, this.#counts, onClose);
      this.#feeds.set(key, feed);
    }
    feed.retain();
    await feed.ready;
    return feed;
  }
}
