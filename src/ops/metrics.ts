/**
 * Counters, gauges and histograms of one gateway, served at `/metrics` in
 * Prometheus text format through `prom-client`. Every metric is declared once,
 * in {@linkcode METRICS}; code updates one by its name, so a typo is a type error.
 * Adding a metric is one entry in that table.
 *
 * @example
 * ```ts
 * const sessions = new Set<WebSocket>();
 * const metrics = new Metrics();
 * metrics.inc("gdpws_limit_refusals_total", { limit: "subscriptions" });
 * metrics.observe("gdpws_append_to_send_seconds", 0.002);
 * metrics.source("gdpws_connections", () => sessions.size); // read at each scrape
 * const text = await metrics.text();
 * ```
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** How a metric is declared in {@linkcode METRICS}. */
export interface MetricDef {
  type: "counter" | "gauge" | "histogram";
  help: string;
  labels?: readonly string[];
  /** Histogram bucket bounds (seconds for timings). */
  buckets?: readonly number[];
  /** The backend reports it (`Backend.metrics()`); the gateway does not know what it counts. */
  backend?: true;
}

/** Latency buckets from 0.5 ms to 10 s. */
const LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  10,
] as const;

/** Every metric of the gateway: name, type, help text and labels. */
export const METRICS = {
  gdpws_connections: { type: "gauge", help: "Open WebSocket connections" },
  gdpws_connections_total: { type: "counter", help: "WebSocket connections accepted" },
  gdpws_handshakes_total: {
    type: "counter",
    help: "WebSocket upgrade requests by result (accepted, origin, unauthorized, limit)",
    labels: ["result"],
  },
  gdpws_subscriptions: { type: "gauge", help: "Subscriptions open now" },
  gdpws_feeds: { type: "gauge", help: "Logs followed now (one feed per log)" },
  gdpws_records_in_total: {
    type: "counter",
    help: "Records appended through the gateway, by route (ws, http)",
    labels: ["via"],
  },
  gdpws_records_out_total: {
    type: "counter",
    help: "DATA events sent to subscriptions (history and live)",
  },
  gdpws_history_records_total: {
    type: "counter",
    help: "Records replayed from history (rate() of it is the replay rate)",
  },
  gdpws_bytes_out_total: {
    type: "counter",
    help: "Characters of WebSocket frames sent (bytes for ASCII payloads)",
  },
  gdpws_frames_out_total: { type: "counter", help: "WebSocket frames sent" },
  gdpws_errors_total: {
    type: "counter",
    help: "Error answers (FAILURE events and HTTP errors) by ep_stat code",
    labels: ["code"],
  },
  gdpws_closes_total: {
    type: "counter",
    help: "WebSocket closes by close code (1000, 1001, 1008, 1009, 1013, ...)",
    labels: ["code"],
  },
  gdpws_limit_refusals_total: {
    type: "counter",
    help: "Requests refused by a limit, by limit name",
    labels: ["limit"],
  },
  gdpws_auth_failures_total: {
    type: "counter",
    help: "Requests refused by the origin or token checks, by reason",
    labels: ["reason"],
  },
  gdpws_forwarded_requests_total: {
    type: "counter",
    help: "Requests with forwarding headers, by what became of them: trusted (a --trust-proxy " +
      "peer named the client), ignored (another peer sent them), refused (a trusted peer's " +
      "did not parse: 400)",
    labels: ["result"],
  },
  gdpws_send_queue_bytes: {
    type: "gauge",
    help: "Bytes waiting to be sent, over all sockets",
  },
  gdpws_append_to_send_seconds: {
    type: "histogram",
    help: "Time from a record's commit timestamp to its fan-out to live subscribers",
    buckets: LATENCY_BUCKETS,
  },
  gdpws_backend_up: { type: "gauge", help: "1 when the backend is ready, else 0" },
  gdpws_backend_counter: {
    type: "gauge",
    help: "The backend's own counters (libgdp: events, datums, opens, reconnects, ...)",
    labels: ["name"],
  },
  gdpws_backend_events_alive: {
    type: "gauge",
    help: "libgdp events received and not yet freed",
    backend: true,
  },
  gdpws_backend_datums_alive: {
    type: "gauge",
    help: "libgdp datums allocated and not yet freed",
    backend: true,
  },
  gdpws_backend_reconnects_total: {
    type: "counter",
    help: "Subscriptions renewed after the GDP link broke or libgdp ended one",
    backend: true,
  },
  gdpws_backend_outages_total: {
    type: "counter",
    help: "Times the GDP link stayed down past the limit (subscribers told 503)",
    backend: true,
  },
  gdpws_store_corrupt_errors_total: {
    type: "counter",
    help: "Times the embedded store found its file damaged while serving (SQLITE_CORRUPT, NOTADB)",
    backend: true,
  },
  gdpws_log_lines_dropped_total: {
    type: "counter",
    help: "Log lines dropped because standard error did not take them (a pipe nobody reads)",
  },
  gdpws_draining: { type: "gauge", help: "1 while the gateway is in lame-duck mode" },
  process_resident_memory_bytes: { type: "gauge", help: "Resident set size in bytes" },
  process_heap_used_bytes: { type: "gauge", help: "JavaScript heap in use, in bytes" },
  gdpws_event_loop_delay_seconds: {
    type: "histogram",
    help: "How late a 100 ms timer fires: the event loop's delay",
    buckets: LATENCY_BUCKETS,
  },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;

/** The metrics a backend reports itself (declared with `backend: true`). */
export type BackendMetricName = {
  [K in MetricName]: (typeof METRICS)[K] extends { backend: true } ? K : never;
}[MetricName];

/** The names of {@linkcode BackendMetricName}, for wiring them at start. */
export const BACKEND_METRICS: readonly BackendMetricName[] = (Object.entries(METRICS) as [
  MetricName,
  MetricDef,
][]).filter(([, def]) => def.backend).map(([name]) => name as BackendMetricName);
/** Label values by label name. */
export type Labels = Record<string, string | number>;
/** What a {@linkcode Metrics.source} returns: one value, or one per label set. */
export type SourceValue = number | readonly (readonly [Labels, number])[];

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** The metrics of one gateway, in their own registry. */
export class Metrics {
  readonly #registry = new Registry();
  readonly #metrics = new Map<MetricName, AnyMetric>();
  readonly #sources = new Map<MetricName, () => SourceValue>();
  #loopTimer: ReturnType<typeof setInterval> | undefined;

  constructor() {
    for (const [name, def] of Object.entries(METRICS) as [MetricName, MetricDef][]) {
      this.#metrics.set(name, this.#create(name, def));
    }
    this.source("process_resident_memory_bytes", () => Deno.memoryUsage().rss);
    // RSS alone cannot tell a leak from V8 keeping freed pages: the heap in use can
    this.source("process_heap_used_bytes", () => Deno.memoryUsage().heapUsed);
  }

  /** `Content-Type` of {@linkcode text}. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Adds `n` (default 1) to a counter, or to a gauge. */
  inc(name: MetricName, labels: Labels = {}, n = 1): void {
    (this.#metrics.get(name) as Counter<string>).inc(labels, n);
  }

  /** Sets a gauge. */
  set(name: MetricName, value: number, labels: Labels = {}): void {
    (this.#metrics.get(name) as Gauge<string>).set(labels, value);
  }

  /** Records one observation in a histogram. */
  observe(name: MetricName, value: number, labels: Labels = {}): void {
    (this.#metrics.get(name) as Histogram<string>).observe(labels, value);
  }

  /**
   * Reads a gauge or counter from `read` at each scrape (sizes and totals kept
   * elsewhere, such as the hub's or the backend's). Replaces an earlier source.
   */
  source(name: MetricName, read: () => SourceValue): void {
    this.#sources.set(name, read);
  }

  /** The current value of an unlabelled counter or gauge, or of one label set. */
  async value(name: MetricName, labels: Labels = {}): Promise<number> {
    const metric = await (this.#metrics.get(name) as Counter<string>).get();
    const want = Object.entries(labels).map(([k, v]) => [k, String(v)]);
    const match = metric.values.find((v) =>
      want.every(([k, val]) => String(v.labels[k!]) === val) &&
      Object.keys(v.labels).length === want.length
    );
    return match?.value ?? 0;
  }

  /** Samples the event loop's delay every 100 ms until {@linkcode close}. */
  watchEventLoop(intervalMs = 100): void {
    if (this.#loopTimer !== undefined) return;
    let expected = performance.now() + intervalMs;
    this.#loopTimer = setInterval(() => {
      const now = performance.now();
      this.observe("gdpws_event_loop_delay_seconds", Math.max(0, now - expected) / 1000);
      expected = now + intervalMs;
    }, intervalMs);
    Deno.unrefTimer(this.#loopTimer);
  }

  /** Stops the event-loop sampler. */
  close(): void {
    clearInterval(this.#loopTimer);
    this.#loopTimer = undefined;
  }

  /** Every metric in Prometheus text exposition format (version 0.0.4). */
  text(): Promise<string> {
    return this.#registry.metrics();
  }

  #create(name: MetricName, def: MetricDef): AnyMetric {
    const sources = this.#sources;
    const common = {
      name,
      help: def.help,
      labelNames: [...(def.labels ?? [])],
      registers: [this.#registry],
    };
    if (def.type === "histogram") {
      return new Histogram({ ...common, buckets: [...(def.buckets ?? LATENCY_BUCKETS)] });
    }
    if (def.type === "gauge") {
      return new Gauge({
        ...common,
        collect() {
          const read = sources.get(name);
          if (read) fill(this, read(), (l, v) => this.set(l, v));
        },
      });
    }
    return new Counter({
      ...common,
      collect() {
        const read = sources.get(name);
        if (!read) return;
        // A counter kept elsewhere: its total is re-read, never counted twice.
        this.reset();
        fill(this, read(), (l, v) => this.inc(l, v));
      },
    });
  }
}

function fill(
  metric: { reset(): void },
  value: SourceValue,
  put: (labels: Labels, value: number) => void,
): void {
  if (typeof value === "number") return put({}, value);
  metric.reset();
  for (const [labels, n] of value) put(labels, n);
}
