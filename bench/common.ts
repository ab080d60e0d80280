/**
 * What the benchmark processes share: the configuration a client process is
 * started with, the result it prints, payloads that carry a sequence number
 * and a send time, and percentiles.
 *
 * Every process prints JSON lines on stdout: `{"event": "ready"}` once it is
 * connected (and subscribed), then one `{"event": "result", ...}` before it
 * exits. The orchestrator (`run.ts`) reads them; nothing else is printed there.
 *
 * @module
 */

/** How a client process talks to the system under test (JetStream: NATS with a consumer each). */
export type Transport = "ws" | "nats" | "jetstream";

/** The producer that runs inside a client process, beside its subscribers. */
export interface ProducerSpec {
  /** Most records to append (or publish). */
  count: number;
  /** Stop appending after this long, in ms. */
  seconds: number;
  payloadBytes: number;
  /** Records per second; 0 sends as fast as `window` and `lead` allow. */
  rate: number;
  /**
   * Records in flight before waiting for acknowledgements (core NATS: a flush every `window`;
   * JetStream: PubAcks outstanding).
   */
  window: number;
  /** Records the producer may be ahead of the slowest subscriber (closed loop). */
  lead: number;
  /**
   * Append straight into the embedded store in this data folder, as the CLI does, instead
   * of through the server (the gateway notices by polling; records arrive in bursts).
   */
  store?: string;
}

/**
 * A client process: `clients` subscribers and, for live runs, one producer.
 * Subscribers connect (and, for live runs, subscribe), the process prints
 * "ready" and waits for a line on stdin; then history runs subscribe and live
 * runs start producing.
 */
export interface ClientConfig {
  transport: Transport;
  /** `ws://127.0.0.1:PORT/` or `127.0.0.1:PORT` (NATS, JetStream). */
  url: string;
  clients: number;
  /** WebSocket only: offer the `gdp-ws.batch` subprotocol (frames are JSON arrays). */
  batch: boolean;
  /** The logname, or the NATS subject. */
  subject: string;
  /** WebSocket only: `startrec` of each client (the list is cycled). */
  startrec: number[];
  /** WebSocket only: `numrec` of each subscription (0 = forever). */
  numrec: number;
  /** Records each client expects (live runs: what the producer got acknowledged). */
  expect: number;
  /** Parse every record and measure send-to-receive latency from its payload. */
  latency: boolean;
  /** Latency samples of records with a sequence number below this are dropped (warm-up). */
  warmup: number;
  /** Give up this long after "go", whatever has arrived. */
  deadlineMs: number;
  producer?: ProducerSpec;
  /** Index of this process's first client among all the clients of the run. */
  offset: number;
  /** Subscribers spread over this many logs (`SUBJECT.0`, `SUBJECT.1`, …); 0: just `subject`. */
  logs: number;
  /** Connect only, subscribe to nothing (the idle-memory runs). */
  idle: boolean;
  /** WebSocket only: more connections that subscribe and then never read a byte. */
  stalled: number;
  /**
   * A live run whose producer is in another process: subscribe before "ready",
   * and learn how many records to expect from an `expect N` line on stdin.
   */
  follower: boolean;
}

/** The log (or subject) of client `index` (counted over the whole run). */
export function subjectOf(config: ClientConfig, index: number): string {
  return config.logs > 0 ? `${config.subject}.${index % config.logs}` : config.subject;
}

/** The log (or subject) the producer appends record `seq` (from 1) to: round robin. */
export function subjectOfRecord(config: ClientConfig, seq: number): string {
  return config.logs > 0 ? `${config.subject}.${(seq - 1) % config.logs}` : config.subject;
}

/** Latency percentiles in milliseconds. */
export interface Percentiles {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** What a client process reports. */
export interface ClientResult {
  event: "result";
  /** Records received, summed over clients. */
  records: number;
  /** WebSocket frames (or NATS messages) received, summed over clients. */
  frames: number;
  /** Characters (ASCII: bytes) of those frames' payloads. */
  bytes: number;
  /** Clients that got every record they expected. */
  complete: number;
  /** Fewest records any client got. */
  minPerClient: number;
  /** Close codes seen before a client was done, with counts. */
  closes: Record<string, number>;
  /** Wall-clock ms (performance.timeOrigin + now) of "go", the first and the last record. */
  tGo: number;
  tFirst: number;
  tLast: number;
  /** Wall-clock ms when the process stopped waiting (all done, all gone, or the deadline). */
  tDone: number;
  /** CPU time of this process from "go" to `tDone`, in ms. */
  cpuMs: number;
  timedOut: boolean;
  /** Producer: records sent and acknowledged, and when it started and stopped. */
  sent: number;
  acked: number;
  tProduceEnd: number;
  latency?: Percentiles;
  /** The latency samples' quantiles at 0, 1/Q, 2/Q … 1 ({@linkcode QUANTILES} + 1 values), to merge processes. */
  quantiles?: number[];
  error?: string;
}

/** How finely a client process summarizes its latency samples for merging. */
export const QUANTILES = 2000;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** `SEQ SENDMS ` padded with `x` to `size` bytes (ASCII, so it stays text on the wire). */
export function makePayload(seq: number, size: number): string {
  const head = `${seq} ${wallMs().toFixed(3)} `;
  return head.length >= size ? head : head + "x".repeat(size - head.length);
}

/** The sequence number and send time of a payload made by {@linkcode makePayload}. */
export function readPayload(text: string): { seq: number; sentMs: number } {
  const a = text.indexOf(" ");
  const b = text.indexOf(" ", a + 1);
  return { seq: Number(text.slice(0, a)), sentMs: Number(text.slice(a + 1, b)) };
}

/** {@linkcode QUANTILES} + 1 evenly spaced quantiles of `values` (sorted in place). */
export function quantiles(values: Float64Array): number[] {
  values.sort();
  const n = values.length;
  if (n === 0) return [];
  return Array.from(
    { length: QUANTILES + 1 },
    (_, k) => values[Math.min(n - 1, Math.round((k * (n - 1)) / QUANTILES))]!,
  );
}

/** Percentiles over several processes' latency summaries, each weighted by its samples. */
export function mergePercentiles(
  parts: { latency: Percentiles; quantiles: number[] }[],
): Percentiles {
  const points: [number, number][] = [];
  let samples = 0;
  let sum = 0;
  let max = -Infinity;
  for (const { latency, quantiles } of parts) {
    if (latency.samples === 0 || quantiles.length === 0) continue;
    samples += latency.samples;
    sum += latency.mean * latency.samples;
    max = Math.max(max, latency.max);
    for (const value of quantiles) points.push([value, latency.samples / quantiles.length]);
  }
  points.sort((a, b) => a[0] - b[0]);
  const at = (q: number) => {
    let seen = 0;
    for (const [value, weight] of points) {
      seen += weight;
      if (seen >= q * samples) return value;
    }
    return NaN;
  };
  return {
    samples,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: samples ? max : NaN,
    mean: samples ? sum / samples : NaN,
  };
}

/** The row of `rows` at the median of `key` (the upper one of an even count); undefined when none. */
export function medianBy<T>(rows: readonly T[], key: (row: T) => number): T | undefined {
  return [...rows].sort((a, b) => key(a) - key(b))[Math.floor(rows.length / 2)];
}

/** Percentiles of `values` (sorted in place). */
export function percentiles(values: Float64Array): Percentiles {
  values.sort();
  const n = values.length;
  const at = (q: number) => n === 0 ? NaN : values[Math.min(n - 1, Math.floor(q * n))]!;
  let sum = 0;
  for (const v of values) sum += v;
  return {
    samples: n,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: n === 0 ? NaN : values[n - 1]!,
    mean: n === 0 ? NaN : sum / n,
  };
}

/** Prints one JSON line for the orchestrator. */
export function emit(value: unknown): void {
  console.log(JSON.stringify(value));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
