/**
 * The kinds of run: throughput (history or live, one log or many, with or
 * without a stalled client), latency at a fixed rate, and idle memory. Each
 * drives client processes (`clients.ts`) against a {@linkcode Target} and
 * turns what they report into one row of a result table.
 *
 * A run's subscribers are spread over several client processes (at most
 * `plan.maxClientProcesses`, one per 500 subscribers) so the clients are less
 * of a bottleneck; the first process also holds the producer, and its own
 * subscribers pace it (the closed loop). The others learn from the
 * orchestrator how many records to expect once the producer is done.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type ClientConfig,
  type ClientResult,
  medianBy,
  mergePercentiles,
  type Percentiles,
  percentiles,
  type ProducerSpec,
  sleep,
  wallMs,
} from "./common.ts";
import { leadFor, type Plan } from "./plan.ts";
import { memoryMb, processCpuMs } from "./proc.ts";
import { JsonProcess } from "./process.ts";
import type { Target } from "./servers.ts";

const CLIENTS = fileURLToPath(new URL("./clients.ts", import.meta.url));

/** What a run cost and how it ended: the columns every table closes with. */
export interface RunCost {
  /** The server's CPU share from "go" to "done" (1 = one core). */
  serverCpu: number;
  /** The server's CPU time from "go" to "done" (user + system, every thread), in ms. */
  serverCpuMs: number;
  clientCpu: number;
  /** The slowest `/healthz` answer while records flowed, and the 99th percentile, in ms. */
  probeMaxMs: number;
  probeP99Ms: number;
  /** The slowest answer asked after the first client process finished (clients leaving). */
  probeEndMaxMs: number;
  /** The server's peak resident memory (VmHWM), in MiB. */
  rssMb?: number;
  /** Subscribers of the run (stalled ones not counted). */
  subscribers: number;
  complete: number;
  closes?: Record<string, number>;
  /** Client processes the subscribers were spread over. */
  processes: number;
  note?: string;
}

/** One row of the throughput table. */
export interface ThroughputRow extends RunCost {
  system: string;
  scenario: string;
  batch: boolean;
  payloadBytes: number;
  records: number;
  seconds: number;
  frames: number;
  bytes: number;
  /** From "go" to the first record, in ms. */
  firstMs: number;
  appendRate?: number;
  /** Appends the server under test acknowledged (not those written straight into the store). */
  appends?: number;
}

/** One row of the latency table. */
export interface LatencyRow extends Percentiles, RunCost {
  system: string;
  batch: boolean;
  rate: number;
  records: number;
  frames: number;
}

/** One row of the idle-memory table. */
export interface IdleRow {
  system: string;
  connections: number;
  /** Resident memory before the clients connected and once they all had, in MiB. */
  rssBeforeMb: number;
  rssAfterMb: number;
  /** Seconds from starting the client processes to every connection open. */
  connectSeconds: number;
  complete: number;
  rssMb?: number;
  /** KiB per connection of every run when the row is the median of several. */
  runsKib?: number[];
}

/** What one run's client processes measured, merged. */
interface Measured {
  result: ClientResult;
  /** The server's CPU share from "go" to "done" (1 = one core). */
  serverCpu: number;
  /** The server's CPU time from "go" to "done", in ms. */
  serverCpuMs: number;
  /** The slowest answer to the HTTP probe while records flowed, and the 99th percentile, in ms. */
  probeMaxMs: number;
  probeP99Ms: number;
  /** The slowest answer to a probe sent after the first client process was done. */
  probeEndMaxMs: number;
  processes: number;
}

let serial = 0;
/** A log or subject name no earlier run used. */
export const uniqueName = (what: string) => `bench.${what}.${++serial}`;

/**
 * GETs `url` every 10 ms until `stop` resolves. The slowest answer and the 99th
 * percentile of the probes sent before `leaving` resolved (records flowing),
 * and the slowest of those sent after it (clients finishing and disconnecting
 * together), in ms.
 */
async function probe(
  url: string | undefined,
  stop: Promise<unknown>,
  leaving: Promise<unknown>,
): Promise<{ max: number; p99: number; endMax: number }> {
  if (!url) return { max: NaN, p99: NaN, endMax: NaN };
  let stopped = false;
  let left = false;
  void stop.finally(() => stopped = true);
  void leaving.finally(() => left = true);
  const times: number[] = [];
  let endMax = NaN;
  while (!stopped) {
    const t = performance.now();
    const sentAfterLeaving = left;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      await response.arrayBuffer();
    } catch {
      // Counted by its time like any answer.
    }
    const ms = performance.now() - t;
    if (sentAfterLeaving) endMax = Number.isNaN(endMax) ? ms : Math.max(endMax, ms);
    else times.push(ms);
    await Promise.race([sleep(10), stop]);
  }
  const { max, p99 } = percentiles(Float64Array.from(times));
  return { max, p99, endMax };
}

/** `config` cut into one config per client process. */
function split(config: ClientConfig, plan: Plan): ClientConfig[] {
  const n = Math.min(plan.maxClientProcesses, Math.max(1, Math.ceil(config.clients / 500)));
  const per = Math.ceil(config.clients / n);
  const live = config.producer !== undefined;
  return Array.from({ length: n }, (_, k) => {
    const part: ClientConfig = {
      ...config,
      offset: k * per,
      clients: Math.max(0, Math.min(per, config.clients - k * per)),
      follower: live && k > 0,
      stalled: k === 0 ? config.stalled : 0,
    };
    if (k > 0) delete part.producer;
    return part;
  });
}

/** Runs one configuration's client processes to the end. */
async function measure(
  target: Target,
  plan: Plan,
  config: ClientConfig,
  beforeGo?: () => Promise<void>,
): Promise<Measured> {
  const configs = split(config, plan);
  const processes = await Promise.all(
    configs.map((c) => JsonProcess.deno(["--allow-all", CLIENTS, JSON.stringify(c)])),
  );
  try {
    await Promise.all(processes.map((p) => p.next("ready", 180_000)));
    if (config.producer) await target.waitLive(config.clients + config.stalled);
    await beforeGo?.();
    const cpu0 = processCpuMs(target.pid);
    const t0 = wallMs();
    await Promise.all(processes.map((p) => p.send("go")));
    const deadline = config.deadlineMs + 30_000;
    if (config.producer && processes.length > 1) {
      // The producer paces itself by the slowest subscriber of every process, not just its own.
      const mins = processes.map(() => 0);
      processes.slice(1).forEach((p, k) =>
        p.on("progress", (line) => {
          mins[k + 1] = Number(line.min);
          void processes[0]!.send(`min ${Math.min(...mins.slice(1))}`).catch(() => {});
        })
      );
      void processes[0]!.next<{ acked: number }>("produced", deadline).then(({ acked }) => {
        const expect = Math.floor(acked / Math.max(1, config.logs));
        return Promise.all(processes.slice(1).map((p) => p.send(`expect ${expect}`)));
      }).catch(() => {});
    }
    const dones = processes.map((p) => p.next("done", deadline));
    const done = Promise.all(dones);
    const probing = probe(
      target.probeUrl,
      done.catch(() => {}),
      Promise.race(dones).catch(() => {}),
    );
    await done;
    const serverCpuMs = processCpuMs(target.pid) - cpu0;
    const serverCpu = serverCpuMs / (wallMs() - t0);
    const { max: probeMaxMs, p99: probeP99Ms, endMax: probeEndMaxMs } = await probing;
    const results = await Promise.all(
      processes.map((p) => p.next<ClientResult>("result", 30_000)),
    );
    return {
      result: merge(results),
      serverCpu,
      serverCpuMs,
      probeMaxMs,
      probeP99Ms,
      probeEndMaxMs,
      processes: processes.length,
    };
  } finally {
    for (const p of processes) p.kill();
  }
}

/** One result for several client processes (the first one holds the producer). */
function merge(results: ClientResult[]): ClientResult {
  const [first, ...rest] = results as [ClientResult, ...ClientResult[]];
  const merged: ClientResult = { ...first, closes: { ...first.closes } };
  for (const r of rest) {
    merged.records += r.records;
    merged.frames += r.frames;
    merged.bytes += r.bytes;
    merged.complete += r.complete;
    merged.minPerClient = Math.min(merged.minPerClient, r.minPerClient);
    for (const [why, n] of Object.entries(r.closes)) {
      merged.closes[why] = (merged.closes[why] ?? 0) + n;
    }
    merged.tGo = Math.min(merged.tGo, r.tGo);
    if (r.tFirst > 0) {
      merged.tFirst = merged.tFirst > 0 ? Math.min(merged.tFirst, r.tFirst) : r.tFirst;
    }
    merged.tLast = Math.max(merged.tLast, r.tLast);
    merged.tDone = Math.max(merged.tDone, r.tDone);
    merged.cpuMs += r.cpuMs;
    merged.timedOut ||= r.timedOut;
    if (r.error && !merged.error) merged.error = r.error;
  }
  const withLatency = results.filter((r) => r.latency && r.quantiles);
  if (withLatency.length > 0) {
    merged.latency = mergePercentiles(
      withLatency.map((r) => ({ latency: r.latency!, quantiles: r.quantiles! })),
    );
  }
  return merged;
}

function clientConfig(
  target: Target,
  plan: Plan,
  fields: Partial<ClientConfig> & { subject: string; clients: number },
): ClientConfig {
  return {
    transport: target.transport,
    url: target.url,
    batch: false,
    startrec: [0],
    numrec: 0,
    expect: 0,
    latency: false,
    warmup: 0,
    deadlineMs: plan.deadlineMs,
    offset: 0,
    logs: 0,
    idle: false,
    stalled: 0,
    follower: false,
    ...fields,
  };
}

function notesOf(result: ClientResult): string | undefined {
  const notes = [result.error, result.timedOut ? "deadline reached" : undefined].filter((n) => n);
  return notes.length ? notes.join("; ").slice(0, 200) : undefined;
}

function costOf(run: Measured, subscribers: number): RunCost {
  const { result } = run;
  const cost: RunCost = {
    serverCpu: run.serverCpu,
    serverCpuMs: run.serverCpuMs,
    clientCpu: result.cpuMs / Math.max(1, result.tDone - result.tGo),
    probeMaxMs: run.probeMaxMs,
    probeP99Ms: run.probeP99Ms,
    probeEndMaxMs: run.probeEndMaxMs,
    subscribers,
    complete: result.complete,
    closes: result.closes,
    processes: run.processes,
  };
  const note = notesOf(result);
  if (note) cost.note = note;
  return cost;
}

function throughputRow(
  target: Target,
  scenario: string,
  config: ClientConfig,
  run: Measured,
): ThroughputRow {
  const { result } = run;
  const row: ThroughputRow = {
    ...costOf(run, config.clients),
    system: target.system,
    scenario,
    batch: config.batch,
    payloadBytes: config.producer?.payloadBytes ?? 0,
    records: result.records,
    seconds: Math.max(0.001, (result.tLast - result.tGo) / 1000),
    frames: result.frames,
    bytes: result.bytes,
    firstMs: result.tFirst > 0 ? result.tFirst - result.tGo : NaN,
  };
  if (result.acked > 0) row.appendRate = result.acked / ((result.tProduceEnd - result.tGo) / 1000);
  if (result.acked > 0 && !config.producer?.store) row.appends = result.acked;
  return row;
}

/** History: `clients` subscribers each read `perClient` stored records of `logname`. */
export async function historyRun(
  target: Target,
  plan: Plan,
  options: {
    scenario: string;
    logname: string;
    records: number;
    clients: number;
    perClient: number;
    payloadBytes: number;
    batch: boolean;
  },
): Promise<ThroughputRow> {
  // Clients start at spread-out records so they do not all read the same pages.
  const span = Math.max(1, options.records - options.perClient);
  const startrec = Array.from(
    { length: options.clients },
    (_, i) => 1 + Math.floor((i * span) / options.clients),
  );
  const config = clientConfig(target, plan, {
    subject: options.logname,
    clients: options.clients,
    startrec,
    numrec: options.perClient,
    expect: options.perClient,
    batch: options.batch,
  });
  const row = throughputRow(target, options.scenario, config, await measure(target, plan, config));
  row.payloadBytes = options.payloadBytes;
  return row;
}

/** How a live throughput run is shaped. */
export interface LiveShape {
  scenario: string;
  clients: number;
  payloadBytes: number;
  batch: boolean;
  /** Spread the subscribers over this many logs (0: one log). */
  logs?: number;
  /** Append straight into the gateway's data folder instead of with the append op. */
  viaStore?: boolean;
  /** Connections that subscribe and never read. */
  stalled?: number;
  /** The producer's lead over the slowest subscriber, in place of {@linkcode leadFor}. */
  lead?: number;
  /** How long the producer appends, in place of `plan.liveSeconds`. */
  seconds?: number;
  /**
   * Appends per second on a schedule instead of the closed loop (by hand: two
   * gateways' CPU per append compared at the same load on a busy machine).
   */
  rate?: number;
}

/** A live run: a producer appends as fast as the closed loop lets it for `plan.liveSeconds`. */
export async function liveRun(
  target: Target,
  plan: Plan,
  shape: LiveShape,
): Promise<ThroughputRow> {
  const subject = uniqueName("live");
  const logs = shape.logs ?? 0;
  await target.prepare(
    logs > 0 ? Array.from({ length: logs }, (_, i) => `${subject}.${i}`) : [subject],
  );
  const store = shape.viaStore ? target.dataDir : undefined;
  const producer: ProducerSpec = {
    count: plan.liveMax,
    seconds: shape.seconds ?? plan.liveSeconds,
    payloadBytes: shape.payloadBytes,
    rate: shape.rate ?? 0,
    window: store ? plan.lead : plan.window,
    lead: shape.lead ?? leadFor(plan, shape.clients),
  };
  if (store) producer.store = store;
  const config = clientConfig(target, plan, {
    subject,
    clients: shape.clients,
    batch: shape.batch,
    producer,
    logs,
    stalled: shape.stalled ?? 0,
  });
  return throughputRow(target, shape.scenario, config, await measure(target, plan, config));
}

/** A paced producer at `rate` records/s; every client parses every record for its send time. */
export async function latencyRun(
  target: Target,
  plan: Plan,
  options: { clients: number; rate: number; batch: boolean; subject?: string },
): Promise<LatencyRow> {
  const subject = options.subject ?? uniqueName("latency");
  await target.prepare([subject]);
  const { rate } = options;
  const count = Math.round(rate * (plan.latencyWarmup + plan.latencySeconds));
  const config = clientConfig(target, plan, {
    subject,
    clients: options.clients,
    batch: options.batch,
    expect: count,
    latency: true,
    warmup: Math.round(rate * plan.latencyWarmup),
    deadlineMs: (plan.latencyWarmup + plan.latencySeconds) * 1000 + 20_000,
    producer: {
      count,
      seconds: plan.latencyWarmup + plan.latencySeconds + 10,
      payloadBytes: plan.payloadBytes,
      rate,
      window: count,
      lead: count,
    },
  });
  const run = await measure(target, plan, config);
  const lat = run.result.latency;
  return {
    ...costOf(run, options.clients),
    system: target.system,
    batch: options.batch,
    rate,
    records: run.result.records,
    frames: run.result.frames,
    p50: lat?.p50 ?? NaN,
    p90: lat?.p90 ?? NaN,
    p99: lat?.p99 ?? NaN,
    p999: lat?.p999 ?? NaN,
    max: lat?.max ?? NaN,
    mean: lat?.mean ?? NaN,
    samples: lat?.samples ?? 0,
  };
}

/** `connections` idle connections (no subscriptions): the server's resident memory before and after. */
export async function idleRun(target: Target, plan: Plan, connections: number): Promise<IdleRow> {
  const config = clientConfig(target, plan, {
    subject: uniqueName("idle"),
    clients: connections,
    idle: true,
  });
  // Let the server settle after start-up before the baseline.
  await sleep(1_000);
  const rssBeforeMb = memoryMb(target.pid, "VmRSS");
  let rssAfterMb = NaN;
  const started = performance.now();
  let connectSeconds = NaN;
  const run = await measure(target, plan, config, async () => {
    connectSeconds = (performance.now() - started) / 1000;
    await sleep(2_000);
    rssAfterMb = memoryMb(target.pid, "VmRSS");
  });
  return {
    system: target.system,
    connections,
    rssBeforeMb,
    rssAfterMb,
    connectSeconds,
    complete: run.result.complete,
  };
}

/** Resident memory per connection of an idle-memory row, in KiB. */
export const perConnectionKib = (r: IdleRow): number =>
  ((r.rssAfterMb - r.rssBeforeMb) * 1024) / r.connections;

/** The median of several runs of one idle-memory row, with every run's KiB per connection. */
export function medianIdle(rows: IdleRow[]): IdleRow | undefined {
  const median = medianBy(rows, perConnectionKib);
  return !median || rows.length === 1 ? median : { ...median, runsKib: rows.map(perConnectionKib) };
}
