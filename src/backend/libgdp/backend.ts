/**
 * The {@linkcode Backend} over libgdp (docs/libgdp.md): logs live in the GDP;
 * this process keeps one open handle and at most one live subscription per
 * log, whatever the number of callers, and delivers records in order with
 * no gap and no duplicate, across reordering and link loss.
 *
 * @example
 * ```ts
 * const backend = await openLibgdpBackend({ path: "/usr/lib/libgdp.so.2.1" });
 * const log = await backend.open("edu.berkeley.demo.temp");
 * const stop = log.follow(await log.last() + 1, (r) => console.log(r.recno), console.error);
 * // ...
 * stop();
 * await log.close();
 * await backend.close();
 * ```
 *
 * @module
 */

import type {
  Backend,
  BackendState,
  LogHandle,
  LogInfo,
  LogRecord,
  Timestamp,
  Unfollow,
} from "../backend.ts";
import { GdpError } from "../../core/errors.ts";
import type { BackendMetricName } from "../../ops/metrics.ts";
import { LIBGDP_DEFAULTS } from "../../config.ts";
import { type FfiCounters, IoMode, Libgdp } from "./ffi.ts";
import { EventPump } from "./pump.ts";
import { reorderCounters } from "./reorder.ts";
import { type SeekCounters, TimeSeeker } from "./time_seek.ts";
import { Upstream } from "./upstream.ts";
import type { UpstreamContext, UpstreamCounters, UpstreamOptions } from "./upstream_context.ts";

/** How to load and drive libgdp. */
export interface LibgdpOptions {
  /** Path of `libgdp.so.2.1` (or a name for the loader's search path). */
  path: string;
  /** Router `HOST:PORT` for `gdp_init`; default: libgdp's parameter files. */
  router?: string;
  /** How long a record past a gap waits for the missing one before it is read (ms). */
  reorderHoldMs?: number;
  /** First delay before a failed subscribe is retried (ms); doubles each try. */
  retryInitialMs?: number;
  /** Longest delay between retries (ms). */
  retryMaxMs?: number;
  /** How long a log may stay unreachable before followers get a 503 (ms). */
  downAfterMs?: number;
  /** How often a followed log's end is read when no record arrived meanwhile (ms). */
  probeMs?: number;
  /**
   * Logs that may hold a libgdp subscription. A subscription is kept for the
   * life of the process (docs/libgdp.md); past this many, follows poll.
   */
  maxSubscribed?: number;
  /**
   * Open logs for appending too (`GDP_MODE_RA`). Off by default: appending
   * needs the log's signing key, and a gateway usually only reads.
   */
  appendable?: boolean;
}

/** Counters of one backend, as plain numbers (for `/metrics`). */
export interface LibgdpCounters extends FfiCounters, UpstreamCounters, SeekCounters {
  /** Logs with an open handle (or one being opened). */
  openLogs: number;
  /** Logs whose handle holds a subscription (kept until the process exits). */
  subscribedLogs: number;
  /** Logs with a follower. */
  followers: number;
  /** Blocking libgdp calls running now (at most 64). */
  callsRunning: number;
  /** Blocking libgdp calls waiting for their turn. */
  callsQueued: number;
  /** Events that arrived for handles already closed (freed unseen). */
  orphanEvents: number;
}

/** How many name resolutions are cached, and for how long. */
const NAME_CACHE_MAX = 4096;
const NAME_CACHE_MS = 60_000;

interface ResolvedName {
  key: string;
  iname: Uint8Array<ArrayBuffer>;
}

/**
 * Loads libgdp, runs `gdp_init` and resolves to a ready backend.
 *
 * @example
 * ```ts
 * const backend = await openLibgdpBackend({ path: "libgdp.so.2.1", router: "gdp.example:8009" });
 * ```
 */
export async function openLibgdpBackend(opts: LibgdpOptions): Promise<LibgdpBackend> {
  const backend = new LibgdpBackend(opts);
  try {
    await backend.ready();
  } catch (error) {
    await backend.close();
    throw error;
  }
  return backend;
}

/** See the module docs. Construct with {@linkcode openLibgdpBackend}, or `new` then `ready()`. */
export class LibgdpBackend implements Backend {
  /** Always `"libgdp"`. */
  readonly kind = "libgdp";
  readonly #gdp: Libgdp;
  readonly #pump: EventPump;
  readonly #options: UpstreamOptions;
  readonly #appendable: boolean;
  readonly #counters: UpstreamCounters = {
    ...reorderCounters(),
    resubscribes: 0,
    probes: 0,
    downReports: 0,
    polledFollows: 0,
    appendRetries: 0,
  };
  #subscribed = 0;
  readonly #seeker = new TimeSeeker();
  readonly #ready: Promise<void>;
  #initState: "pending" | "done" | GdpError = "pending";
  readonly #logs = new Map<string, Upstream>();
  readonly #names = new Map<string, { value: Promise<ResolvedName>; expires: number }>();
  readonly #ctx: UpstreamContext;
  #closing: Promise<void> | undefined;

  /** Loads libgdp (throws if it cannot) and starts `gdp_init`; see {@linkcode ready}. */
  constructor(opts: LibgdpOptions) {
    this.#options = resolveOptions(opts);
    this.#appendable = opts.appendable ?? false;
    this.#gdp = Libgdp.open(opts.path);
    this.#pump = EventPump.for(opts.path);
    this.#ctx = this.#context();
    this.#ready = this.#gdp.init(opts.router).then(
      () => {
        this.#initState = "done";
      },
      (error: unknown) => {
        this.#initState = GdpError.from(error);
        throw this.#initState;
      },
    );
    this.#ready.catch(() => {}); // reported through ready() and state()
  }

  /** Resolves once `gdp_init` succeeded; rejects with its error. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Opens a log by human or internal name, sharing one handle per log. */
  async open(logname: string): Promise<LogHandle> {
    this.#assertOpen();
    await this.#ready;
    const { key, iname } = await this.#resolve(logname);
    for (;;) {
      this.#assertOpen();
      const existing = this.#logs.get(key);
      if (existing?.closing) {
        await existing.closing;
        continue;
      }
      const upstream = existing ?? this.#newUpstream(key, iname);
      upstream.acquire();
      try {
        await upstream.opened();
      } catch (error) {
        await upstream.release();
        throw error;
      }
      return new LibgdpHandle(upstream, this.#appendable, this.#seeker);
    }
  }

  /** The log's internal name and record count. */
  async info(logname: string): Promise<LogInfo> {
    const handle = await this.open(logname);
    try {
      const info: LogInfo = { name: handle.name, count: await handle.last() };
      if (logname !== handle.name) info.human = logname;
      return info;
    } finally {
      await handle.close();
    }
  }

  /** libgdp cannot enumerate logs: always empty. */
  list(): Promise<LogInfo[]> {
    return Promise.resolve([]);
  }

  /** Rejects with 501: creating a log needs a log server. */
  create(_logname: string): Promise<LogInfo> {
    return Promise.reject(
      GdpError.of(501, "creating logs needs a GDP log server (use gdp-create)"),
    );
  }

  /** Health for `/readyz`: ok, connecting (reconnecting), down, closed. */
  state(): BackendState {
    if (this.#closing) return { ready: false, state: "closed" };
    if (this.#initState === "pending") {
      return { ready: false, state: "connecting", detail: "gdp_init in progress" };
    }
    if (this.#initState !== "done") {
      return { ready: false, state: "down", detail: this.#initState.message };
    }
    let down = 0;
    let failing = 0;
    for (const upstream of this.#logs.values()) {
      const health = upstream.health;
      if (health.kind === "failing") health.reported ? down++ : failing++;
    }
    if (down > 0) {
      const detail = `${down} log(s) unreachable for over ${this.#options.downAfterMs} ms`;
      return { ready: false, state: "down", detail };
    }
    if (failing > 0) {
      return { ready: true, state: "connecting", detail: `retrying ${failing} log(s)` };
    }
    return { ready: true, state: "ok" };
  }

  /**
   * Counters for `/metrics`. Events are read by one pump per library and
   * process, so `eventsGot`/`eventsFreed`/`orphanEvents` are process-wide;
   * the rest count this backend's calls.
   */
  counters(): Record<keyof LibgdpCounters, number> {
    let followers = 0;
    for (const upstream of this.#logs.values()) if (upstream.followed) followers++;
    const pump = this.#pump.counters;
    const calls = this.#gdp.callsInFlight;
    return {
      ...this.#gdp.counters,
      callsRunning: calls.running,
      callsQueued: calls.queued,
      eventsGot: pump.eventsGot,
      eventsFreed: pump.eventsFreed,
      ...this.#counters,
      ...this.#seeker.counters,
      openLogs: this.#logs.size,
      subscribedLogs: this.#subscribed,
      followers,
      orphanEvents: this.#pump.orphans,
    };
  }

  /** The backend metrics of ops/metrics.ts, from {@linkcode counters}. */
  metrics(): Partial<Record<BackendMetricName, number>> {
    const c = this.counters();
    return {
      gdpws_backend_events_alive: c.eventsGot - c.eventsFreed,
      gdpws_backend_datums_alive: c.datumsAllocated - c.datumsFreed,
      gdpws_backend_reconnects_total: c.resubscribes,
      gdpws_backend_outages_total: c.downReports,
    };
  }

  /** `[detail, ep_stat_tostr text]` of an EP_STAT, for status reporting. */
  decodeStat(stat: number): readonly [number, string] {
    return this.#gdp.decodeStat(stat);
  }

  /**
   * Stops every log: handles without a subscription are closed, subscribed
   * ones stay open until the process exits (docs/libgdp.md); libgdp itself
   * stays loaded.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#logs.values()].map((upstream) => upstream.shutdown()));
    this.#names.clear();
    await this.#pump.idle();
  }

  #assertOpen(): void {
    if (this.#closing) throw GdpError.of(503, "the libgdp backend is closed");
  }

  #newUpstream(key: string, iname: Uint8Array<ArrayBuffer>): Upstream {
    const upstream = new Upstream(key, iname, this.#ctx);
    this.#logs.set(key, upstream);
    return upstream;
  }

  #context(): UpstreamContext {
    const pump = this.#pump;
    const logs = this.#logs;
    return {
      gdp: this.#gdp,
      options: this.#options,
      counters: this.#counters,
      attach: (gin, sink) => pump.attach(gin, sink),
      detach: (gin) => pump.detach(gin),
      // unique per process, so two backends never share one
      nextUdata: nextProcessUdata,
      claimSubscription: () => {
        if (this.#subscribed >= this.#options.maxSubscribed) return false;
        this.#subscribed++;
        return true;
      },
      forget: (upstream) => {
        if (logs.get(upstream.name) === upstream) logs.delete(upstream.name);
      },
    };
  }

  /** Human or internal name → internal name (cached: it may query a database). */
  #resolve(logname: string): Promise<ResolvedName> {
    const now = Date.now();
    const hit = this.#names.get(logname);
    if (hit && hit.expires > now) return hit.value;
    if (this.#names.size >= NAME_CACHE_MAX) this.#names.clear();
    const parsed = this.#gdp.parseName(logname);
    const value = parsed.then(({ iname }) => ({ key: this.#gdp.printableName(iname), iname }));
    this.#names.set(logname, { value, expires: now + NAME_CACHE_MS });
    // a name the database did not know may be registered a moment later: ask again next time
    parsed.then(({ fallback }) => fallback && this.#names.delete(logname), () => {
      this.#names.delete(logname);
    });
    return value;
  }
}

let processUdata = 0n;

function nextProcessUdata(): bigint {
  return ++processUdata;
}

function resolveOptions(opts: LibgdpOptions): UpstreamOptions {
  const pick = (value: number | undefined, fallback: number, name: string): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v < 0) throw GdpError.badRequest(name, "must be a number >= 0");
    return v;
  };
  const d = LIBGDP_DEFAULTS;
  const retryInitialMs = Math.max(1, pick(opts.retryInitialMs, d.retryInitialMs, "retryInitialMs"));
  return {
    mode: opts.appendable ? IoMode.RA : IoMode.RO,
    reorderHoldMs: pick(opts.reorderHoldMs, d.reorderHoldMs, "reorderHoldMs"),
    retryInitialMs,
    retryMaxMs: Math.max(retryInitialMs, pick(opts.retryMaxMs, d.retryMaxMs, "retryMaxMs")),
    downAfterMs: pick(opts.downAfterMs, d.downAfterMs, "downAfterMs"),
    probeMs: Math.max(1, pick(opts.probeMs, d.probeMs, "probeMs")),
    maxSubscribed: pick(opts.maxSubscribed, d.maxSubscribed, "maxSubscribed"),
  };
}

/** One caller's share of an {@linkcode Upstream}. */
class LibgdpHandle implements LogHandle {
  readonly name: string;
  readonly #upstream: Upstream;
  readonly #appendable: boolean;
  readonly #seeker: TimeSeeker;
  readonly #follows = new Set<Unfollow>();
  #closed = false;

  constructor(upstream: Upstream, appendable: boolean, seeker: TimeSeeker) {
    this.name = upstream.name;
    this.#upstream = upstream;
    this.#appendable = appendable;
    this.#seeker = seeker;
  }

  last(): Promise<number> {
    this.#assertOpen();
    return this.#upstream.last();
  }

  read(from: number, count: number): AsyncIterable<LogRecord> {
    this.#assertOpen();
    return this.#upstream.read(from, count);
  }

  /** By bisection over record reads: libgdp has no read by time (time_seek.ts). */
  seek(ts: Timestamp, last: number): Promise<number> {
    this.#assertOpen();
    return this.#seeker.seek(this.#upstream, ts, last);
  }

  follow(
    from: number,
    onRecord: (record: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow {
    this.#assertOpen();
    const unfollow = this.#upstream.follow(from, onRecord, onError);
    const stop = () => {
      if (this.#follows.delete(stop)) unfollow();
    };
    this.#follows.add(stop);
    return stop;
  }

  append(data: Uint8Array): Promise<LogRecord> {
    this.#assertOpen();
    if (!this.#appendable) {
      return Promise.reject(GdpError.of(501, "appending through libgdp is not enabled"));
    }
    return this.#upstream.append(new Uint8Array(data));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of [...this.#follows]) stop();
    await this.#upstream.release();
  }

  #assertOpen(): void {
    if (this.#closed) throw GdpError.of(500, "this log handle is closed");
  }
}
