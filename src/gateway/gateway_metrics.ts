/**
 * Connects one gateway's {@linkcode Metrics} to the state kept elsewhere: the
 * hub's sizes and totals, the sessions' send queues, the limits' refusals and the backend's counters,
 * all read at scrape time, plus the append-to-send latency of live records.
 *
 * @module
 */

import type { Backend, LogRecord } from "../backend/backend.ts";
import type { Hub } from "../fanout/hub.ts";
import { limitLabel, type Refusals } from "../limits.ts";
import { droppedLogLines } from "../ops/log.ts";
import { BACKEND_METRICS, type Metrics } from "../ops/metrics.ts";

/**
 * Totals every session adds to on each frame it sends. Plain numbers read at
 * scrape time: a prom-client `inc` per frame costs several times as much.
 */
export interface Traffic {
  framesOut: number;
  /** UTF-16 length of the frames: bytes for ASCII payloads. */
  bytesOut: number;
}

/** What a session exposes to the metrics. */
export interface QueueHolder {
  readonly queuedBytes: number;
}

/** Points the gauges and totals kept elsewhere at their sources, read at each scrape. */
export function watchGateway(
  metrics: Metrics,
  backend: Backend,
  hub: Hub,
  sessions: ReadonlySet<QueueHolder>,
  refusals: Refusals,
  traffic: Traffic,
): void {
  metrics.source("gdpws_connections", () => sessions.size);
  metrics.source("gdpws_frames_out_total", () => traffic.framesOut);
  metrics.source("gdpws_bytes_out_total", () => traffic.bytesOut);
  metrics.source(
    "gdpws_limit_refusals_total",
    () =>
      Object.entries(refusals).map(([name, c]) =>
        [{ limit: limitLabel(name as keyof Refusals) }, c.refused] as const
      ),
  );
  metrics.source("gdpws_subscriptions", () => hub.stats().subscriptions);
  metrics.source("gdpws_feeds", () => hub.stats().feeds);
  metrics.source("gdpws_records_out_total", () => {
    const stats = hub.stats();
    return stats.liveDeliveries + stats.historyDeliveries;
  });
  metrics.source("gdpws_history_records_total", () => hub.stats().historyDeliveries);
  metrics.source("gdpws_send_queue_bytes", () => {
    let bytes = 0;
    for (const session of sessions) bytes += session.queuedBytes;
    return bytes;
  });
  metrics.source("gdpws_backend_up", () => backend.state().ready ? 1 : 0);
  const counters = () => backend.counters?.() ?? {};
  metrics.source(
    "gdpws_backend_counter",
    () => Object.entries(counters()).map(([name, n]) => [{ name }, n] as const),
  );
  for (const name of BACKEND_METRICS) {
    metrics.source(name, () => backend.metrics?.()[name] ?? 0);
  }
  metrics.source("gdpws_log_lines_dropped_total", droppedLogLines);
  metrics.watchEventLoop();
}

/** Observes how long ago a live record was committed, as it reaches its subscribers. */
export function observeLatency(metrics: Metrics, record: LogRecord): void {
  const committed = record.ts.sec + record.ts.nsec / 1e9;
  metrics.observe("gdpws_append_to_send_seconds", Math.max(0, Date.now() / 1000 - committed));
}
