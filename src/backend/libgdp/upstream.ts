/**
 * One log as the libgdp backend holds it: one open handle (`gin`) however
 * many callers share it, at most one live subscription feeding a
 * {@linkcode Feed}, and recovery after link loss.
 *
 * libgdp misbehaves when a process opens a log twice or closes a handle
 * that still has a subscription, so an Upstream is the only owner of its
 * log's handle: callers take shares ({@linkcode Upstream.acquire}), the last
 * {@linkcode Upstream.release} unsubscribes with `(gin, NULL, NULL)` and
 * closes. Calls in flight on a handle are awaited before it is closed.
 *
 * When the link breaks (a FAILURE, SHUTDOWN or DONE event, or a call failing
 * with 600 or another link-level status) while followers exist, the handle
 * is dropped and reopened with exponential backoff, and the subscription
 * resumes at the feed's next recno: followers see a delay, not a gap. Past
 * `downAfterMs` they get one 503 per outage. Without followers, the handle
 * is dropped and reopened by the next call.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { LogRecord, Unfollow } from "../backend.ts";
import { GdpError } from "../../errors.ts";
import { Feed, type FeedCounters, type FeedSource, Follower } from "./feed.ts";
import {
  EventType,
  type GdpEvent,
  GdpStatusError,
  type IoMode,
  isGdpStat,
  type Libgdp,
} from "./ffi.ts";
import type { EventSink } from "./pump.ts";

const log = getLogger(["gdp-ws", "libgdp"]);

/** Reads in flight at once while iterating history. */
const READ_WINDOW = 8;

/** GDP detail codes that mean "the link or the server is gone", not "no". */
const LINK_DETAILS: ReadonlySet<number> = new Set([5, 6, 10, 20, 31, 502, 503, 504, 515, 600]);

/** True when an error means the link (not the request) failed. */
export function isLinkError(error: unknown): boolean {
  if (error instanceof GdpStatusError) {
    return !isGdpStat(error.stat) || LINK_DETAILS.has(error.stat & 0x3ff);
  }
  return error instanceof GdpError && error.code === 503;
}

/** True for GDP's 404 (no such record). */
export function isNotFound(error: unknown): boolean {
  return error instanceof GdpStatusError && isGdpStat(error.stat) &&
    (error.stat & 0x3ff) === 404;
}

/** Timing and mode an Upstream works with. */
export interface UpstreamOptions {
  /** How handles are opened. */
  mode: IoMode;
  /** Hold of a record past a gap before the gap is read (ms). */
  reorderHoldMs: number;
  /** First reopen delay after link loss (ms). */
  retryInitialMs: number;
  /** Longest reopen delay (ms). */
  retryMaxMs: number;
  /** Outage length after which followers get a 503 (ms). */
  downAfterMs: number;
}

/** What an Upstream counts besides its feed. */
export interface UpstreamCounters extends FeedCounters {
  /** Successful reopen-and-resubscribe after a link loss. */
  reconnects: number;
  /** 503s reported to followers (once per outage and log). */
  downReports: number;
}

/** What an Upstream needs from its backend. */
export interface UpstreamContext {
  /** The binding. */
  readonly gdp: Libgdp;
  /** Timing and mode. */
  readonly options: UpstreamOptions;
  /** Shared counters. */
  readonly counters: UpstreamCounters;
  /** Routes the events of `gin` to `sink`. */
  attach(gin: bigint, sink: EventSink): void;
  /** Stops routing the events of `gin`. */
  detach(gin: bigint): void;
  /** A udata no other subscription of this process has used. */
  nextUdata(): bigint;
  /** Called once the Upstream has closed its handle for good. */
  forget(upstream: Upstream): void;
}

/** Health of one log's link. */
export type UpstreamHealth = "ok" | "recovering" | "down";

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** See the module docs. */
export class Upstream implements FeedSource, EventSink {
  /** The 43-character internal name. */
  readonly name: string;
  readonly #iname: Uint8Array<ArrayBuffer>;
  readonly #ctx: UpstreamContext;
  #refs = 0;
  #gin = 0n;
  #opening: Promise<bigint> | undefined;
  #recovering: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #stopped = false;
  readonly #inflight = new Set<Promise<unknown>>();
  #feed: Feed | undefined;
  #udata = 0n; // the live subscription's udata; 0n = none
  #subFrom = 0; // where the live subscription started
  #subChain: Promise<void> = Promise.resolve();
  #downSince: number | undefined;
  #downTimer: ReturnType<typeof setTimeout> | undefined;
  #downReported = false;
  #wake: (() => void) | undefined;

  /** The Upstream of the log `name` (internal name bytes `iname`); opens nothing yet. */
  constructor(name: string, iname: Uint8Array<ArrayBuffer>, ctx: UpstreamContext) {
    this.name = name;
    this.#iname = iname;
    this.#ctx = ctx;
  }

  /** Set once the last share is released; resolves when the handle is closed. */
  get closing(): Promise<void> | undefined {
    return this.#closing;
  }

  /** `"down"` once followers got their 503, `"recovering"` before. */
  get health(): UpstreamHealth {
    if (this.#downReported) return "down";
    return this.#downSince !== undefined ? "recovering" : "ok";
  }

  /** Number of followers. */
  get followers(): number {
    return this.#feed?.size ?? 0;
  }

  /** Takes a share; pair with {@linkcode Upstream.release}. */
  acquire(): void {
    this.#refs++;
  }

  /** Returns a share; the last one closes the handle. */
  release(): Promise<void> {
    if (--this.#refs > 0) return Promise.resolve();
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Closes whatever the shares: for backend shutdown. */
  shutdown(): Promise<void> {
    this.#refs = 0;
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Resolves once the handle is open (rejects with 600 for a missing log). */
  async opened(): Promise<void> {
    await this.#ensureOpen();
  }

  /** The last recno that exists, 0 for an empty log. */
  last(): Promise<number> {
    return this.#use(async (gin) => {
      const gdp = this.#ctx.gdp;
      // events of a live subscription keep libgdp's cached count current
      if (this.#udata !== 0n && this.#downSince === undefined) return gdp.nrecs(gin);
      try {
        const record = await gdp.read(gin, -1);
        return Math.max(record.recno, gdp.nrecs(gin));
      } catch (error) {
        if (isNotFound(error)) return Math.max(0, gdp.nrecs(gin));
        throw error;
      }
    });
  }

  /** One record; `null` when the log has none with that recno. */
  async readOne(recno: number): Promise<LogRecord | null> {
    try {
      return await this.#use((gin) => this.#ctx.gdp.read(gin, recno));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Records `from` to `from + count - 1`, a few reads in flight at once. */
  async *read(from: number, count: number): AsyncGenerator<LogRecord> {
    const end = Math.floor(from) + Math.max(0, Math.floor(count));
    let next = Math.max(1, Math.floor(from));
    const window: Promise<Settled<LogRecord | null>>[] = [];
    while (window.length > 0 || next < end) {
      while (window.length < READ_WINDOW && next < end) window.push(this.#settled(next++));
      const result = await window.shift()!;
      if (!result.ok) throw result.error;
      if (result.value === null) return;
      yield result.value;
    }
  }

  /** Appends a record (the handle must be open for appending). */
  append(data: Uint8Array<ArrayBuffer>): Promise<LogRecord> {
    return this.#use((gin) => this.#ctx.gdp.append(gin, data));
  }

  /** Follows the log from `from` on, sharing the one subscription. */
  follow(
    from: number,
    onRecord: (record: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow {
    if (this.#stopped) throw closedError();
    const follower = new Follower(Math.max(1, Math.floor(from)), onRecord, onError);
    if (this.#feed) {
      this.#feed.rewind(follower.want);
    } else {
      const { reorderHoldMs } = this.#ctx.options;
      this.#feed = new Feed(follower.want, this, reorderHoldMs, this.#ctx.counters);
    }
    this.#feed.add(follower);
    this.#syncSubscription();
    return () => this.#unfollow(follower);
  }

  /** An event of this log's handle, from the pump. */
  onEvent(event: GdpEvent): void {
    const feed = this.#feed;
    if (!feed || event.udata === 0n || event.udata !== this.#udata) return;
    switch (event.type) {
      case EventType.DATA:
        if (event.record) feed.accept(event.record);
        return;
      case EventType.DONE:
      case EventType.SHUTDOWN:
      case EventType.FAILURE:
        this.#udata = 0n; // that subscription is over
        log.warn("Subscription to {name} ended (event {type}, {stat})", {
          name: this.name,
          type: event.type,
          stat: this.#ctx.gdp.statText(event.stat),
        });
        this.#linkLost();
        return;
      default:
        // MISSING and the rest: gap filling reads whatever is missing
        return;
    }
  }

  #unfollow(follower: Follower): void {
    const feed = this.#feed;
    if (!feed?.remove(follower)) return;
    follower.stop();
    if (feed.size > 0) return;
    feed.stop();
    this.#feed = undefined;
    this.#markUp();
    this.#syncSubscription();
  }

  // ---- the handle ------------------------------------------------------------

  async #ensureOpen(): Promise<bigint> {
    for (;;) {
      if (this.#stopped) throw closedError();
      if (this.#gin !== 0n) return this.#gin;
      if (this.#recovering) {
        await this.#awaitRecovery(this.#recovering);
        continue;
      }
      this.#opening ??= this.#openGin().finally(() => {
        this.#opening = undefined;
      });
      return await this.#opening;
    }
  }

  async #openGin(): Promise<bigint> {
    const gin = await this.#ctx.gdp.open(this.#iname, this.#ctx.options.mode);
    this.#gin = gin;
    this.#ctx.attach(gin, this);
    return gin;
  }

  /** Runs one libgdp call on the open handle, tracked so close waits for it. */
  async #use<T>(fn: (gin: bigint) => Promise<T>): Promise<T> {
    let gin = await this.#ensureOpen();
    // the handle may have been dropped while this call waited for it
    while (gin !== this.#gin) gin = await this.#ensureOpen();
    const call = fn(gin);
    this.#inflight.add(call);
    try {
      return await call;
    } catch (error) {
      if (isLinkError(error) && gin === this.#gin) this.#linkLost();
      throw error;
    } finally {
      this.#inflight.delete(call);
    }
  }

  #settled(recno: number): Promise<Settled<LogRecord | null>> {
    // settled at once: a rejection must not go unhandled while earlier reads are awaited
    return this.readOne(recno).then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
  }

  /** Closes the handle once calls in flight on it are done; never rejects. */
  async #dropGin(): Promise<void> {
    const gin = this.#gin;
    if (gin === 0n) return;
    this.#gin = 0n;
    this.#ctx.detach(gin);
    await Promise.allSettled([...this.#inflight]);
    const gdp = this.#ctx.gdp;
    if (this.#udata !== 0n) {
      this.#udata = 0n;
      // (gin, NULL, NULL): a specific udata may match nothing
      await gdp.unsubscribe(gin).catch((error) => warnCall("unsubscribe", this.name, error));
    }
    await gdp.close(gin).catch((error) => warnCall("close", this.name, error));
  }

  async #shutdown(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#markUp();
    const feed = this.#feed;
    this.#feed = undefined;
    feed?.stop();
    await this.#subChain;
    await this.#recovering;
    await this.#opening?.catch(() => {});
    await this.#dropGin();
    this.#ctx.forget(this);
  }

  // ---- the subscription --------------------------------------------------------

  /** Queues a check that the subscription matches the feed (serialized). */
  #syncSubscription(): void {
    this.#subChain = this.#subChain
      .then(() => this.#reconcile())
      .catch((error: unknown) => this.#subscriptionFailed(error));
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped || this.#recovering) return; // recovery subscribes by itself
    const feed = this.#feed;
    if (!feed) {
      if (this.#udata !== 0n && this.#gin !== 0n) {
        await this.#use((gin) => this.#unsubscribe(gin));
      }
      return;
    }
    // a subscription that started at or before the feed's next recno covers it
    if (this.#udata !== 0n && this.#subFrom <= feed.next) return;
    await this.#use(async (gin) => {
      if (this.#udata !== 0n) await this.#unsubscribe(gin);
      await this.#subscribe(gin, feed.next);
    });
  }

  async #subscribe(gin: bigint, from: number): Promise<void> {
    const udata = this.#ctx.nextUdata();
    // set first: events can arrive before the call returns
    this.#udata = udata;
    this.#subFrom = from;
    try {
      await this.#ctx.gdp.subscribe(gin, from, 0, udata);
    } catch (error) {
      if (this.#udata === udata) this.#udata = 0n;
      throw error;
    }
  }

  async #unsubscribe(gin: bigint): Promise<void> {
    this.#udata = 0n; // events of the old subscription are ignored from now on
    await this.#ctx.gdp.unsubscribe(gin);
  }

  #subscriptionFailed(error: unknown): void {
    if (this.#stopped) return;
    if (isLinkError(error)) {
      // a failed reopen throws before #use can notice: make sure recovery runs
      if (this.#feed) this.#linkLost();
      return;
    }
    const failure = GdpError.from(error);
    log.error("Subscribing to {name} failed: {error}", { name: this.name, error });
    this.#feed?.fail(failure);
  }

  // ---- link loss ---------------------------------------------------------------

  #linkLost(): void {
    if (this.#stopped || this.#recovering) return;
    // without followers nobody waits for records: drop the handle, the next call reopens
    if (this.#feed) this.#markDown();
    const work = this.#feed ? this.#recover() : this.#dropGin();
    this.#recovering = work.finally(() => {
      this.#recovering = undefined;
      this.#syncSubscription(); // a follower may have come, or rewound, meanwhile
    });
  }

  async #recover(): Promise<void> {
    const { retryInitialMs, retryMaxMs } = this.#ctx.options;
    await this.#dropGin();
    let delay = retryInitialMs;
    while (!this.#stopped && this.#feed) {
      try {
        await this.#resume();
        this.#ctx.counters.reconnects++;
        log.info("Resumed {name} after a link loss", { name: this.name });
        break;
      } catch (error) {
        log.warn("Reopening {name} failed, retrying in {delay} ms: {error}", {
          name: this.name,
          delay,
          error,
        });
        await this.#dropGin();
        await this.#sleep(delay);
        delay = Math.min(delay * 2, retryMaxMs);
      }
    }
    this.#markUp();
  }

  /** Reopens the handle and resubscribes from the feed's next recno. */
  async #resume(): Promise<void> {
    const gin = await this.#openGin();
    const feed = this.#feed;
    if (!feed || this.#stopped) return;
    const call = this.#subscribe(gin, feed.next);
    this.#inflight.add(call);
    try {
      await call;
    } finally {
      this.#inflight.delete(call);
    }
  }

  /** Waits for a recovery, but not past the 503 deadline. */
  async #awaitRecovery(recovering: Promise<void>): Promise<void> {
    const { downAfterMs } = this.#ctx.options;
    const left = this.#downSince === undefined
      ? downAfterMs
      : this.#downSince + downAfterMs - Date.now();
    if (this.#downReported || left <= 0) throw unreachable(this.name, downAfterMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), left);
    });
    try {
      const outcome = await Promise.race([recovering.then(() => "done" as const), timeout]);
      if (outcome === "timeout") throw unreachable(this.name, downAfterMs);
    } finally {
      clearTimeout(timer);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = () => done();
      this.#wake = wake;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => {
      this.#wake = undefined;
    });
  }

  #markDown(): void {
    if (this.#downSince !== undefined) return;
    this.#downSince = Date.now();
    this.#downTimer = setTimeout(() => this.#reportDown(), this.#ctx.options.downAfterMs);
  }

  #reportDown(): void {
    this.#downTimer = undefined;
    if (this.#downReported || this.#downSince === undefined) return;
    this.#downReported = true;
    this.#ctx.counters.downReports++;
    const error = unreachable(this.name, this.#ctx.options.downAfterMs);
    log.error("{message}", { message: error.message });
    this.#feed?.fail(error);
  }

  #markUp(): void {
    clearTimeout(this.#downTimer);
    this.#downTimer = undefined;
    this.#downSince = undefined;
    this.#downReported = false;
  }
}

function unreachable(name: string, downAfterMs: number): GdpError {
  return GdpError.of(503, `GDP unreachable: no answer for ${name} in ${downAfterMs} ms; retrying`);
}

function closedError(): GdpError {
  return GdpError.of(503, "the libgdp backend closed this log");
}

function warnCall(call: string, name: string, error: unknown): void {
  log.warn("gdp_gin_{call} on {name} failed: {error}", { call, name, error });
}
