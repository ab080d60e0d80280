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

/** How a client process talks to the system under test. */
export type Transport = "ws" | "nats";

/** The producer that runs inside a client process, beside its subscribers. */
export interface ProducerSpec {
  /** Most records to append (or publish). */
  count: number;
  /** Stop appending after this long, in ms. */
  seconds: number;
  payloadBytes: number;
  /** Records per second; 0 sends as fast as `window` and `lead` allow. */
  rate: number;
  /** Records in flight before waiting for acknowledgements (NATS: a flush every `window`). */
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
  /** `ws://127.0.0.1:PORT/` or `127.0.0.1:PORT` (NATS). */
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
  error?: string;
}

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
