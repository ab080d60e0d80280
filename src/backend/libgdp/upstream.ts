/**
 * One log as the libgdp backend holds it: one open handle (`gin`) however
 * many callers share it, at most one endless subscription feeding a
 * {@linkcode ReorderBuffer}, and at most one follower.
 *
 * The rules come from running libgdp 2.1.12 (docs/libgdp.md):
 *
 * - A subscription is never ended. `gdp_gin_unsubscribe` walks freed
 *   requests and aborts the process; closing a handle frees its queued
 *   events in place, which corrupts libgdp's event lists as soon as the
 *   subscription delivers one at the wrong moment (and gdplogd keeps the
 *   subscription anyway). So a subscribed handle stays open for the life of
 *   the process: when its last follower leaves, its records are dropped,
 *   and a later follower of the log takes it over.
 * - A handle that never subscribed is closed once its last share is
 *   released, and only after every call in flight on it has returned
 *   (closing frees the requests of those calls under them).
 * - At most `maxSubscribed` handles of the process subscribe; past that, a
 *   follower is served by polling the log's end every `probeMs`.
 *
 * Link loss: a subscription ended by libgdp (DONE, SHUTDOWN or FAILURE) is
 * renewed from the next recno, with backoff. A log server restart ends it
 * silently (libgdp renews it after a minute or so), so while a follower
 * exists the log's end is probed every `probeMs` and missing records are
 * read: followers see a delay, not a gap. After `downAfterMs` of failing
 * calls the follower gets one 503 per outage.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { LogRecord, Unfollow } from "../backend.ts";
import { GdpError } from "../../core/errors.ts";
import { EventType } from "../../core/records.ts";
import type { GdpEvent } from "./ffi.ts";
import { CallGate } from "./gate.ts";
import type { EventSink } from "./pump.ts";
import { closedError, isLinkError, isNotFound, unreachable } from "./link_errors.ts";
import { LinkHealth } from "./link_health.ts";
import { appendChecked, findEnd, readPast, type Writer } from "./log_end.ts";
import { ReorderBuffer } from "./reorder.ts";
import { Renewal } from "./renewal.ts";
import { readWindow } from "./read_window.ts";
import type { UpstreamContext, UpstreamHealth } from "./upstream_context.ts";

const log = getLogger(["gdp-ws", "libgdp"]);

/**
 * The handle, every state it can be in. `subscribed` is final: such a
 * handle is never closed (see the module docs). `udata` 0n there means
 * libgdp ended the subscription and a renewal is due.
 */
type HandleState =
  | { readonly kind: "closed" }
  | { readonly kind: "opening"; readonly opened: Promise<bigint> }
  | { readonly kind: "open"; readonly gin: bigint }
  | { readonly kind: "subscribed"; readonly gin: bigint; udata: bigint }
  | { readonly kind: "closing"; readonly done: Promise<void> };

/** The one caller of `follow`: records from `want` on. */
interface Follower {
  want: number;
  readonly onRecord: (record: LogRecord) => void;
  readonly onError: (error: GdpError) => void;
}

/** See the module docs. */
export class Upstream implements EventSink {
  /** The 43-character internal name. */
  readonly name: string;
  readonly #iname: Uint8Array<ArrayBuffer>;
  readonly #ctx: UpstreamContext;
  #refs = 0;
  #handle: HandleState = { kind: "closed" };
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #appends = new CallGate(1);
  #order: ReorderBuffer | undefined;
  #follower: Follower | undefined;
  #probe: ReturnType<typeof setTimeout> | undefined;
  readonly #renewal: Renewal;
  #heard = false;
  #stopped = false;
  readonly #link: LinkHealth;

  /** The Upstream of the log `name` (internal name bytes `iname`); opens nothing yet. */
  constructor(name: string, iname: Uint8Array<ArrayBuffer>, ctx: UpstreamContext) {
    this.name = name;
    this.#iname = iname;
    this.#ctx = ctx;
    this.#link = new LinkHealth(name, ctx.options.downAfterMs);
    this.#renewal = new Renewal(ctx.options.retryInitialMs, ctx.options.retryMaxMs);
  }

  /** The link's health. */
  get health(): UpstreamHealth {
    return this.#link.state;
  }

  /** True while a follower is attached. */
  get followed(): boolean {
    return this.#follower !== undefined;
  }

  /** Set while the handle is being closed; resolves once it is. */
  get closing(): Promise<void> | undefined {
    return this.#handle.kind === "closing" ? this.#handle.done : undefined;
  }

  /** Takes a share; pair with {@linkcode Upstream.release}. */
  acquire(): void {
    this.#refs++;
  }

  /** Returns a share; the last one closes a handle that never subscribed. */
  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    await this.#settleOpening();
    if (this.#refs > 0) return;
    if (this.#handle.kind === "open") await this.#close(this.#handle.gin);
    else if (this.#handle.kind === "closed") this.#ctx.forget(this); // the open failed
  }

  /** For backend shutdown: stops timers and deliveries, closes what may be closed. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    this.#refs = 0;
    this.#unfollow();
    this.#order?.stop();
    this.#renewal.cancel();
    await this.#settleOpening();
    const state = this.#handle;
    if (state.kind === "open") await this.#close(state.gin);
    else if (state.kind === "subscribed") this.#ctx.detach(state.gin);
    else if (state.kind === "closing") await state.done;
  }

  /** Resolves once the handle is open (rejects with 600 for a missing log). */
  async opened(): Promise<void> {
    await this.#gin();
  }

  /**
   * The last recno that exists, 0 for an empty log. libgdp's cached count
   * and gdplogd's may both be ahead of the records (finding 15): a count
   * not backed by its record is searched for by reading (log_end.ts).
   */
  last(): Promise<number> {
    return this.#use(async (gin) => {
      const cached = this.#ctx.gdp.nrecs(gin);
      if (this.#isLive()) {
        // a live subscription keeps libgdp's cached count current, or ahead
        const delivered = (this.#order?.next ?? 1) - 1;
        if (cached <= delivered || await this.readOne(cached) !== null) {
          return Math.max(cached, delivered);
        }
        return await findEnd(this, delivered);
      }
      try {
        const record = await this.#ctx.gdp.read(gin, -1);
        return Math.max(record.recno, this.#ctx.gdp.nrecs(gin));
      } catch (error) {
        if (isNotFound(error)) return await findEnd(this, cached);
        throw error;
      }
    });
  }

  /** One record; `null` when the log has no such record. */
  async readOne(recno: number): Promise<LogRecord | null> {
    try {
      return await this.#use((gin) => this.#ctx.gdp.read(gin, recno));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Records `from` to `from + count - 1`, a few reads in flight at once (read_window.ts). */
  read(from: number, count: number): AsyncGenerator<LogRecord> {
    return readWindow((recno) => this.readOne(recno), from, count);
  }

  /**
   * Appends a record (the handle must be open for appending), one at a time
   * per log, reading other writers' records first and its own back after
   * (log_end.ts: libgdp numbers it from a cached count).
   */
  append(data: Uint8Array<ArrayBuffer>): Promise<LogRecord> {
    const writer: Writer = {
      readOne: (recno) => this.readOne(recno),
      cached: async () => this.#ctx.gdp.nrecs(await this.#gin()),
      appendOnce: () => this.#use((gin) => this.#ctx.gdp.append(gin, data)),
    };
    return this.#appends.run(() =>
      appendChecked(writer, this.name, (recno) => {
        this.#ctx.counters.appendRetries++;
        log.warn(
          "Record {recno} of {name} was another writer's; appending again " +
            "(gdplogd counts both: docs/libgdp.md, finding 15)",
          { recno, name: this.name },
        );
      })
    );
  }

  /**
   * Follows the log from `from` on. One follower at a time: the hub keeps
   * one follow per log.
   */
  follow(
    from: number,
    onRecord: (record: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow {
    if (this.#stopped) throw closedError();
    if (this.#follower) throw GdpError.of(500, `${this.name} is followed already`);
    const follower: Follower = { want: Math.max(1, Math.floor(from)), onRecord, onError };
    this.#follower = follower;
    const order = this.#orderFor(follower.want);
    order.onRecord = (record) => this.#offer(record);
    void this.#startFollowing();
    return () => {
      if (this.#follower === follower) this.#unfollow();
    };
  }

  /** An event of this log's handle, from the pump. */
  onEvent(event: GdpEvent): void {
    const state = this.#handle;
    if (state.kind !== "subscribed" || event.udata === 0n || event.udata !== state.udata) return;
    this.#heard = true;
    switch (event.type) {
      case EventType.DATA:
        if (event.record) this.#order?.accept(event.record);
        this.#link.up();
        return;
      case EventType.DONE:
      case EventType.SHUTDOWN:
      case EventType.FAILURE:
        log.warn("libgdp ended the subscription to {name} (event {type}, {stat}); renewing it", {
          name: this.name,
          type: event.type,
          stat: this.#ctx.gdp.statText(event.stat),
        });
        state.udata = 0n;
        this.#scheduleRenewal(0);
        return;
      default:
        return; // MISSING and the rest: the reorder buffer reads whatever is missing
    }
  }

  // ---- the handle ------------------------------------------------------------

  /** The open handle, opening it when needed. */
  async #gin(): Promise<bigint> {
    for (;;) {
      if (this.#stopped) throw closedError();
      const state = this.#handle;
      switch (state.kind) {
        case "open":
        case "subscribed":
          return state.gin;
        case "opening":
          return await state.opened;
        case "closing":
          throw closedError();
        case "closed": {
          const opened = this.#open();
          this.#handle = { kind: "opening", opened };
          try {
            return await opened;
          } catch (error) {
            if (this.#handle.kind === "opening") this.#handle = { kind: "closed" };
            throw error;
          }
        }
      }
    }
  }

  async #open(): Promise<bigint> {
    const gin = await this.#ctx.gdp.open(this.#iname, this.#ctx.options.mode);
    this.#handle = { kind: "open", gin };
    this.#ctx.attach(gin, this);
    return gin;
  }

  /** Waits for an open in progress, whatever its outcome. */
  async #settleOpening(): Promise<void> {
    const state = this.#handle;
    if (state.kind === "opening") await state.opened.catch(() => {});
  }

  /** Closes a handle that never subscribed, once the calls in flight on it returned. */
  async #close(gin: bigint): Promise<void> {
    const done = (async () => {
      await Promise.allSettled([...this.#inflight]);
      this.#ctx.detach(gin);
      await this.#ctx.gdp.close(gin).catch((error) => warnCall("close", this.name, error));
      this.#handle = { kind: "closed" };
      this.#ctx.forget(this);
    })();
    this.#handle = { kind: "closing", done };
    await done;
  }

  /** Runs one libgdp call on the open handle, tracked so a close waits for it. */
  async #use<T>(fn: (gin: bigint) => Promise<T>): Promise<T> {
    const call = this.#gin().then(fn);
    this.#inflight.add(call);
    try {
      const value = await call;
      this.#link.up();
      return value;
    } catch (error) {
      if (!isLinkError(error)) throw error;
      const report = this.#link.down(this.#follower !== undefined);
      if (report) {
        this.#ctx.counters.downReports++;
        this.#follower!.onError(report);
      }
      throw this.#link.lasted() ? unreachable(this.name, this.#ctx.options.downAfterMs) : error;
    } finally {
      this.#inflight.delete(call);
    }
  }

  #isLive(): boolean {
    const state = this.#handle;
    return state.kind === "subscribed" && state.udata !== 0n && this.#link.state.kind === "ok";
  }

  // ---- following ---------------------------------------------------------------

  /** The reorder buffer, rewound to `from` if it handed on later records already. */
  #orderFor(from: number): ReorderBuffer {
    if (!this.#order) {
      const { reorderHoldMs } = this.#ctx.options;
      this.#order = new ReorderBuffer(from, this, reorderHoldMs, this.#ctx.counters);
    } else {
      this.#order.rewind(from);
    }
    return this.#order;
  }

  #offer(record: LogRecord): void {
    const follower = this.#follower;
    if (!follower || record.recno < follower.want) return;
    follower.want = record.recno + 1;
    follower.onRecord(record);
  }

  async #startFollowing(): Promise<void> {
    this.#armProbe();
    if (this.#handle.kind === "subscribed") return; // taken over from an earlier follower
    try {
      const gin = await this.#gin();
      if (!this.#follower || this.#handle.kind !== "open") return;
      if (!this.#ctx.claimSubscription()) {
        this.#ctx.counters.polledFollows++;
        return; // the probe polls the log instead
      }
      this.#handle = { kind: "subscribed", gin, udata: 0n };
      await this.#subscribe();
    } catch (error) {
      this.#followFailed(error);
    }
  }

  /** (Re)subscribes from the reorder buffer's next recno; link errors are retried. */
  async #subscribe(): Promise<void> {
    const state = this.#handle;
    if (state.kind !== "subscribed" || this.#stopped) return;
    const udata = this.#ctx.nextUdata();
    state.udata = udata; // first: events can arrive before the call returns
    const from = this.#order?.next ?? 1;
    try {
      await this.#use((gin) => this.#ctx.gdp.subscribe(gin, from, udata));
      this.#renewal.succeeded();
    } catch (error) {
      if (state.udata === udata) state.udata = 0n;
      if (!isLinkError(error)) throw error;
      this.#scheduleRenewal(this.#renewal.backoff());
    }
  }

  #scheduleRenewal(delay: number): void {
    if (this.#stopped) return;
    this.#renewal.schedule(() => {
      this.#ctx.counters.resubscribes++;
      void this.#subscribe().catch((error) => this.#followFailed(error));
    }, delay);
  }

  #followFailed(error: unknown): void {
    if (this.#stopped || isLinkError(error)) return; // the probe keeps trying
    log.error("Following {name} failed: {error}", { name: this.name, error });
    this.#follower?.onError(GdpError.from(error));
  }

  #unfollow(): void {
    this.#follower = undefined;
    if (this.#order) this.#order.onRecord = undefined;
    clearTimeout(this.#probe);
    this.#probe = undefined;
    this.#link.up();
  }

  // ---- the probe ---------------------------------------------------------------

  #armProbe(): void {
    clearTimeout(this.#probe);
    this.#probe = setTimeout(() => void this.#runProbe(), this.#ctx.options.probeMs);
    Deno.unrefTimer(this.#probe);
  }

  /**
   * Unless the subscription spoke since the last probe, reads the records
   * after the last one handed on (not the last by gdplogd's count, which can
   * name one that does not exist: finding 15).
   */
  async #runProbe(): Promise<void> {
    const heard = this.#heard;
    this.#heard = false;
    const order = this.#order;
    if (order && (!heard || !this.#isLive())) {
      this.#ctx.counters.probes++;
      try {
        await readPast({ readOne: (recno) => this.#probed(order, recno) }, order.next - 1);
      } catch (error) {
        if (!isLinkError(error)) {
          log.warn("Probing {name} failed: {error}", { name: this.name, error });
        }
      }
    }
    if (this.#follower && !this.#stopped) this.#armProbe();
  }

  /** Reads `recno` for the probe and hands it to `order` (which drops what it had). */
  async #probed(order: ReorderBuffer, recno: number): Promise<LogRecord | null> {
    const record = await this.readOne(recno);
    if (record) order.accept(record);
    return record;
  }
}

function warnCall(call: string, name: string, error: unknown): void {
  log.warn("gdp_gin_{call} on {name} failed: {error}", { call, name, error });
}
