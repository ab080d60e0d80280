/**
 * The sizes of a benchmark run: the full run that BENCHMARKS.md records, and
 * `--quick`, a smoke test of every scenario that finishes in under a minute.
 *
 * @module
 */

export interface Plan {
  /** The usual payload, and the large one of the 4 KiB rows. */
  payloadBytes: number;
  bigPayloadBytes: number;
  /** Subscriber counts of the fan-out rows (one log, append op). */
  fanOut: number[];
  /** The fan-out row that is also run with the large payload. */
  bigPayloadAt: number;
  /**
   * Subscriber counts of the durable comparison's fan-out rows (JetStream, gdp-ws on tmpfs);
   * the many-logs shape runs for them too.
   */
  durableAt: number[];
  /** Subscribers of the comparison rows: sharing off, store writer, stalled client, latency. */
  compareAt: number;
  /** The many-logs rows: this many logs with this many subscribers each. */
  manyLogs: { logs: number; perLog: number };
  /** Connections of the idle-memory rows. */
  idleConnections: number;
  /** Runs of each idle-memory row, alternating; the median is reported (one run moves by ±1 KiB). */
  idleRepeats: number;
  /** Records pre-filled into the history log; the replay row reads all of them. */
  historyRecords: number;
  /** The history rows: this many subscribers read this many records each. */
  historyClients: number;
  historyPerClient: number;
  /** Replays one after another on one server; the median is reported. */
  replayRuns: number;
  /** How long the producer of a live throughput run appends, in s. */
  liveSeconds: number;
  /** Upper bound on records per live run. */
  liveMax: number;
  /** Unacknowledged records in flight during live runs. */
  window: number;
  /** Records the producer may be ahead of the slowest subscriber, at most. */
  lead: number;
  /**
   * Records the producer may be ahead of the slowest subscriber, summed over all
   * subscribers: with many subscribers the lead shrinks so the backlog a run
   * leaves drains within seconds (see {@linkcode leadFor}).
   */
  leadTotal: number;
  /** The latency rows' producer rate, records per second. */
  latencyRate: number;
  latencySeconds: number;
  /** Latency samples of the records sent in the first this many seconds are dropped. */
  latencyWarmup: number;
  /** The gateway's `--send-queue-bytes` in the stalled-client rows (so it fills within a run). */
  stalledSendQueue: number;
  /** Runs of each stalled-client row, alternating; the median is reported (rows vary by ±20%). */
  stalledRepeats: number;
  /** Deadline of one run's clients after "go", in ms. */
  deadlineMs: number;
  /** Most client processes one run spreads its subscribers over. */
  maxClientProcesses: number;
}

export const FULL: Plan = {
  payloadBytes: 100,
  bigPayloadBytes: 4096,
  fanOut: [1, 100, 1_000, 10_000],
  bigPayloadAt: 1_000,
  durableAt: [1, 1_000],
  compareAt: 1_000,
  manyLogs: { logs: 1_000, perLog: 10 },
  idleConnections: 10_000,
  idleRepeats: 3,
  historyRecords: 100_000,
  historyClients: 50,
  historyPerClient: 2_000,
  replayRuns: 3,
  liveSeconds: 4,
  liveMax: 2_000_000,
  window: 64,
  lead: 2_000,
  leadTotal: 1_000_000,
  latencyRate: 1_000,
  latencySeconds: 5,
  latencyWarmup: 1,
  stalledSendQueue: 1024 * 1024,
  stalledRepeats: 5,
  deadlineMs: 40_000,
  maxClientProcesses: 4,
};

export const QUICK: Plan = {
  ...FULL,
  fanOut: [10],
  bigPayloadAt: 10,
  durableAt: [10],
  // The fan-out count, so every target of the report has its rows in a quick run too.
  compareAt: 10,
  manyLogs: { logs: 10, perLog: 2 },
  idleConnections: 100,
  idleRepeats: 1,
  historyRecords: 5_000,
  historyClients: 5,
  historyPerClient: 1_000,
  replayRuns: 1,
  liveSeconds: 0.5,
  latencyRate: 500,
  latencySeconds: 0.5,
  latencyWarmup: 0.2,
  stalledSendQueue: 512 * 1024,
  stalledRepeats: 1,
  deadlineMs: 10_000,
};

/** The producer's lead over the slowest of `subscribers` subscribers. */
export function leadFor(plan: Plan, subscribers: number): number {
  return Math.max(20, Math.min(plan.lead, Math.floor(plan.leadTotal / subscribers)));
}
