/**
 * A benchmark client process: `clients` subscribers (WebSockets to the gateway
 * or to the bare-Deno baseline, or NATS connections, each with its own
 * JetStream consumer when the peer is JetStream) and, for live runs, one
 * producer on its own connection. It runs in its own process so that the
 * clients' cost never shares the event loop of the server under test. Started
 * by `run.ts` with one JSON argument ({@linkcode ClientConfig}); prints JSON
 * lines (see `common.ts`) and starts when stdin gives it a line.
 *
 * The producer runs a closed loop: at most `window` records unacknowledged and
 * at most `lead` records ahead of the slowest subscriber, so a run measures the
 * rate the whole chain sustains instead of filling queues until something
 * drops a slow consumer. Paced runs (`rate` > 0, the latency scenario) send on
 * a schedule instead.
 *
 * Throughput subscribers count records without parsing them (a scan for the
 * DATA event's `"type": 1}` ending, which the test payloads never contain);
 * latency subscribers parse every frame and read the send time out of the
 * payload.
 *
 * @example
 * ```sh
 * echo go | deno run -A bench/clients.ts '{"transport":"ws","url":"ws://127.0.0.1:8080/",...}'
 * ```
 *
 * @module
 */

import { setPriority } from "node:os";
import process from "node:process";
import { lines } from "../src/io/lines.ts";
import { RawWebSocket } from "../tests/helpers/raw_ws.ts";
import {
  type ClientConfig,
  type ClientResult,
  emit,
  makePayload,
  percentiles,
  type ProducerSpec,
  quantiles,
  readPayload,
  sleep,
  subjectOf,
  subjectOfRecord,
  wallMs,
} from "./common.ts";

const BATCH_PROTOCOL = "gdp-ws.batch";
/** The priority (nice) a client process drops to once measured, for its teardown. */
const TEARDOWN_NICE = 10;
/** The end of a DATA event: Python separators outside batch mode, compact inside. */
const DATA_PYTHON = '"type": 1}';
const DATA_COMPACT = '"type":1}';
const SUCCESS_PYTHON = '"type": 5}';
const FAILURE_PYTHON = '"type": 6}';
const FAILURE_COMPACT = '"type":6}';
/** What precedes a record's data: Python separators outside batch mode, compact inside. */
const DATA_KEY_PYTHON = '"data": "';
const DATA_KEY_COMPACT = '"data":"';

/** Running totals of the subscribers of one process. */
class Tally {
  records = 0;
  frames = 0;
  bytes = 0;
  tFirst = 0;
  tLast = 0;
  /** Records each client expects; live runs learn it when the producer is done. */
  expect: number;
  error: string | undefined;
  readonly closes: Record<string, number> = {};
  readonly latencies: Float64Array;
  nLatencies = 0;
  readonly got: number[];
  readonly #gone: boolean[];
  readonly #warmup: number;
  readonly #waiters = new Set<() => void>();
  /**
   * A producer in this process paces itself by every record; elsewhere a
   * record matters to the waiting loop only when it completes its client.
   */
  readonly #pacing: boolean;

  constructor(config: ClientConfig) {
    this.#pacing = config.producer !== undefined;
    this.got = new Array<number>(config.clients).fill(0);
    this.#gone = new Array<boolean>(config.clients).fill(false);
    this.#warmup = config.warmup;
    this.expect = config.producer || config.follower ? Infinity : config.expect;
    this.latencies = new Float64Array(config.latency ? config.clients * config.expect : 0);
  }

  /** `n` records arrived for client `i` at `now`. */
  add(i: number, n: number, now: number): void {
    if (n === 0) return;
    this.records += n;
    if (this.tFirst === 0) this.tFirst = now;
    this.tLast = now;
    const got = this.got[i]! += n;
    // Waking the loop per record (a timer and a promise each) cost the client more than
    // the record did: a lone subscriber replaying read 225k records/s at 95% CPU.
    if (this.#pacing || (got >= this.expect && got - n < this.expect)) this.poke();
  }

  sample(sentMs: number, seq: number, now: number): void {
    if (seq < this.#warmup || this.nLatencies >= this.latencies.length) return;
    this.latencies[this.nLatencies++] = now - sentMs;
  }

  /** Client `i` went away (closed, failed). */
  gone(i: number, why: string): void {
    if (this.#gone[i]) return;
    this.#gone[i] = true;
    if (this.got[i]! < this.expect) this.closes[why] = (this.closes[why] ?? 0) + 1;
    this.poke();
  }

  /** The fewest records of any client in the run's other processes (the producer's pacing). */
  others = Infinity;

  /** Fewest records of any client still connected, here or elsewhere (Infinity when none is). */
  minGot(): number {
    let min = this.others;
    for (let i = 0; i < this.got.length; i++) {
      if (!this.#gone[i] && this.got[i]! < min) min = this.got[i]!;
    }
    return min;
  }

  /** Every client has what it expects or is gone. */
  allDone(): boolean {
    return this.got.every((n, i) => n >= this.expect || this.#gone[i]);
  }

  complete(): number {
    return this.got.filter((n) => n >= this.expect).length;
  }

  /** Resolves at the next record, acknowledgement or close, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters;
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  poke(): void {
    if (this.#waiters.size === 0) return;
    for (const wake of [...this.#waiters]) wake();
  }
}

/** The producer's side of one run. */
interface Production {
  sent: number;
  acked: number;
  tEnd: number;
  done: boolean;
  error?: string;
}

/** A connected set of subscribers, whatever the transport. */
interface Connected {
  subscribe(): Promise<void>;
  /** Sends one record; `production.acked` grows as they are acknowledged. */
  produce?: (seq: number) => void;
  /** Resolves when everything sent so far is acknowledged (NATS: a flush). */
  sync?: () => Promise<void>;
  close(): Promise<void>;
}

async function run(config: ClientConfig): Promise<ClientResult> {
  const tally = new Tally(config);
  const production: Production = { sent: 0, acked: 0, tEnd: 0, done: !config.producer };
  const connected = config.transport === "ws"
    ? await connectWs(config, tally, production)
    : await connectNats(config, tally, production);
  if (config.producer?.store) {
    const writer = await connectStore(config, config.producer.store, tally, production);
    connected.produce = writer.produce;
    const closeSockets = connected.close;
    connected.close = async () => {
      await closeSockets();
      await writer.close();
    };
  }
  const live = config.producer !== undefined || config.follower;
  if (live && !config.idle) await connected.subscribe();
  emit({ event: "ready" });
  const stdin = lines(Deno.stdin.readable)[Symbol.asyncIterator]();
  await stdin.next(); // "go"
  const tGo = wallMs();
  const cpu = process.cpuUsage();
  const deadline = performance.now() + config.deadlineMs;
  if (config.producer) {
    void produce(config, config.producer, connected, tally, production, deadline).catch((e) => {
      production.error = String(e);
      production.done = true;
      tally.expect = Math.floor(production.acked / Math.max(1, config.logs));
      emit({ event: "produced", acked: production.acked });
    });
  } else if (!config.follower && !config.idle) {
    await connected.subscribe();
  }
  // Across processes (through the orchestrator): followers report their slowest client, the
  // producer's process learns the slowest of them ("min N"), followers the total ("expect N").
  void (async () => {
    for (let line = await stdin.next(); !line.done; line = await stdin.next()) {
      const [word, value] = line.value.split(" ");
      if (word === "min") tally.others = Number(value);
      if (word === "expect") tally.expect = Number(value);
      tally.poke();
    }
  })();
  const progress = config.follower
    ? setInterval(() => emit({ event: "progress", min: String(tally.minGot()) }), 25)
    : undefined;
  while (!(production.done && tally.allDone()) && performance.now() < deadline) {
    await tally.wait(deadline - performance.now());
  }
  clearInterval(progress);
  const timedOut = !(production.done && tally.allDone());
  const tDone = wallMs();
  const used = process.cpuUsage(cpu);
  emit({ event: "done" });
  // Measured; what is left is this process's own teardown of up to 2,500 sockets.
  // On one machine it would take the cores from the server and the probe, which
  // in a deployment it does not (the probe waited up to half a second for it).
  setPriority(TEARDOWN_NICE);
  await connected.close();
  const result: ClientResult = {
    event: "result",
    records: tally.records,
    frames: tally.frames,
    bytes: tally.bytes,
    complete: tally.complete(),
    minPerClient: Math.min(...tally.got),
    closes: tally.closes,
    tGo,
    tFirst: tally.tFirst,
    tLast: tally.tLast,
    tDone,
    cpuMs: (used.user + used.system) / 1000,
    timedOut,
    sent: production.sent,
    acked: production.acked,
    tProduceEnd: production.tEnd,
  };
  if (config.latency) {
    const samples = tally.latencies.subarray(0, tally.nLatencies);
    result.latency = percentiles(samples);
    result.quantiles = quantiles(samples);
  }
  const error = tally.error ?? production.error;
  if (error) result.error = error;
  return result;
}

async function produce(
  config: ClientConfig,
  spec: ProducerSpec,
  connected: Connected,
  tally: Tally,
  production: Production,
  deadline: number,
): Promise<void> {
  const start = performance.now();
  const stopAt = Math.min(deadline, start + spec.seconds * 1000);
  for (;;) {
    const now = performance.now();
    if (now >= deadline || production.error) break;
    if (now < stopAt && production.sent < spec.count) {
      let target = Math.min(
        spec.count,
        production.acked + spec.window,
        // With several logs a client sees every `logs`-th record.
        (tally.minGot() + spec.lead) * Math.max(1, config.logs),
      );
      if (spec.rate > 0) {
        target = Math.min(target, Math.floor(((now - start) * spec.rate) / 1000) + 1);
      }
      while (production.sent < target) connected.produce!(++production.sent);
      if (connected.sync && production.sent - production.acked >= spec.window) {
        await connected.sync();
        continue;
      }
    } else if (production.acked >= production.sent) {
      break;
    } else if (connected.sync) {
      await connected.sync();
      continue;
    }
    if (spec.rate > 0) await sleep(1);
    else await tally.wait(Math.max(1, Math.min(stopAt, deadline) - performance.now()));
  }
  production.tEnd = wallMs();
  production.done = true;
  tally.expect = Math.floor(production.acked / Math.max(1, config.logs));
  emit({ event: "produced", acked: production.acked });
  tally.poke();
}

/** Connections opened at once: thousands at a time overflow a listener's backlog. */
const CONNECT_WAVE = 200;

/** `n` results of `open`, at most {@linkcode CONNECT_WAVE} pending at a time. */
async function inWaves<T>(n: number, open: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const wave = Math.min(CONNECT_WAVE, n - out.length);
    out.push(...await Promise.all(Array.from({ length: wave }, open)));
  }
  return out;
}

function openWs(url: string, batch: boolean): Promise<WebSocket> {
  const socket = batch ? new WebSocket(url, [BATCH_PROTOCOL]) : new WebSocket(url);
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}

/** How many times `needle` occurs in `text`. */
function occurrences(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

async function connectWs(
  config: ClientConfig,
  tally: Tally,
  production: Production,
): Promise<Connected> {
  const sockets = await inWaves(config.clients, () => openWs(config.url, config.batch));
  sockets.forEach((socket, i) => {
    socket.onmessage = (e: MessageEvent) => {
      const now = wallMs();
      const text = typeof e.data === "string" ? e.data : "";
      tally.frames++;
      tally.bytes += text.length;
      if (config.latency) {
        // A scan, not JSON.parse: at 1,000 subscribers parsing would make the clients the bottleneck.
        const key = config.batch ? DATA_KEY_COMPACT : DATA_KEY_PYTHON;
        let n = 0;
        for (let at = text.indexOf(key); at >= 0; at = text.indexOf(key, at + key.length)) {
          n++;
          const { seq, sentMs } = readPayload(text.slice(at + key.length, at + key.length + 40));
          tally.sample(sentMs, seq, now);
        }
        if (text.includes(config.batch ? FAILURE_COMPACT : FAILURE_PYTHON)) {
          tally.error ??= text.slice(0, 300);
        }
        tally.add(i, n, now);
      } else if (config.batch) {
        tally.add(i, occurrences(text, DATA_COMPACT), now);
        if (text.includes(FAILURE_COMPACT)) tally.error ??= text.slice(0, 300);
      } else if (text.endsWith(DATA_PYTHON)) {
        tally.add(i, 1, now);
      } else if (text.endsWith(FAILURE_PYTHON)) {
        tally.error ??= text.slice(0, 300);
      }
    };
    socket.onclose = (e) => tally.gone(i, `ws close ${e.code}`);
  });
  let producer: WebSocket | undefined;
  if (config.producer) {
    producer = await openWs(config.url, false);
    producer.onmessage = (e: MessageEvent) => {
      const text = typeof e.data === "string" ? e.data : "";
      if (text.endsWith(SUCCESS_PYTHON)) production.acked++;
      else if (text.endsWith(FAILURE_PYTHON)) production.error ??= text.slice(0, 300);
      tally.poke();
    };
    producer.onclose = (e) => {
      production.error ??= `the producer's socket closed (${e.code})`;
      tally.poke();
    };
  }
  const size = config.producer?.payloadBytes ?? 0;
  const stalled: RawWebSocket[] = [];
  const connected: Connected = {
    subscribe: async () => {
      sockets.forEach((socket, i) => {
        const index = config.offset + i;
        socket.send(JSON.stringify({
          logname: subjectOf(config, index),
          startrec: config.startrec[index % config.startrec.length],
          numrec: config.numrec,
        }));
      });
      // Stalled clients subscribe like the others and then never read a byte.
      const port = Number(new URL(config.url).port);
      for (let i = 0; i < config.stalled; i++) {
        const raw = await RawWebSocket.connect(port);
        await raw.sendText(JSON.stringify({ logname: config.subject, startrec: 0, numrec: 0 }));
        stalled.push(raw);
      }
    },
    close: async () => {
      for (const raw of stalled) raw.close();
      const all = producer ? [...sockets, producer] : sockets;
      const closed = all.map((s) =>
        new Promise<void>((resolve) => {
          s.onclose = null;
          s.onmessage = null;
          if (s.readyState === WebSocket.CLOSED) return resolve();
          s.addEventListener("close", () => resolve());
          s.close();
        })
      );
      await Promise.race([Promise.all(closed), sleep(2_000)]);
    },
  };
  if (producer) {
    const socket = producer;
    connected.produce = (seq) =>
      socket.send(
        JSON.stringify({ append: subjectOfRecord(config, seq), data: makePayload(seq, size) }),
      );
  }
  return connected;
}

/** What this file uses of a NATS connection (typed here too: `deno check` without bench's config). */
interface NatsConn {
  closed(): Promise<void | Error>;
  subscribe(
    subject: string,
    options: { callback: (error: Error | null, msg: { data: Uint8Array }) => void },
  ): unknown;
  flush(): Promise<void>;
  publish(subject: string, data: Uint8Array): void;
  close(): Promise<void>;
}

/**
 * NATS connections, one per subscriber. Core NATS: each subscribes to the log's subject and
 * the producer publishes (a flush is the acknowledgement). JetStream: each subscribes to
 * its own deliver subject, then its push consumer on the log's stream is created; the
 * producer's publishes are acknowledged by the server once stored (PubAck).
 */
async function connectNats(
  config: ClientConfig,
  tally: Tally,
  production: Production,
): Promise<Connected> {
  const { connect } = await import("@nats-io/transport-node");
  const durable = config.transport === "jetstream";
  const jetStream = durable ? await import("./jetstream.ts") : undefined;
  const side = jetStream && (config.producer || !config.idle)
    ? await jetStream.openJetStream(config.url)
    : undefined;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let closing = false;
  const conns = await inWaves<NatsConn>(config.clients, () => connect({ servers: config.url }));
  conns.forEach((nc, i) => {
    nc.closed().then((error: void | Error) => {
      if (closing) return;
      if (error) tally.error ??= String(error);
      tally.gone(i, "nats closed");
    });
  });
  const producer = config.producer && !durable ? await connect({ servers: config.url }) : undefined;
  const size = config.producer?.payloadBytes ?? 0;
  const connected: Connected = {
    subscribe: async () => {
      conns.forEach((nc, i) => {
        const index = config.offset + i;
        const subject = jetStream ? jetStream.deliverSubjectOf(index) : subjectOf(config, index);
        nc.subscribe(subject, {
          callback: (error: Error | null, msg: { data: Uint8Array }) => {
            const now = wallMs();
            if (error) {
              tally.error ??= String(error);
              return tally.gone(i, "nats error");
            }
            tally.frames++;
            tally.bytes += msg.data.length;
            if (config.latency) {
              const { seq, sentMs } = readPayload(decoder.decode(msg.data.subarray(0, 40)));
              tally.sample(sentMs, seq, now);
            }
            tally.add(i, 1, now);
          },
        });
      });
      // After a flush the server has registered every subscription.
      await Promise.all(conns.map((nc) => nc.flush()));
      // Each consumer is created once its deliver subject has a subscriber.
      await side?.createConsumers(conns.map((_, i) => {
        const index = config.offset + i;
        return [subjectOf(config, index), jetStream!.deliverSubjectOf(index)];
      }));
    },
    close: async () => {
      closing = true;
      const all = producer ? [...conns, producer] : conns;
      await Promise.race([
        Promise.all([...all.map((nc) => nc.close()), side?.close()]),
        sleep(2_000),
      ]);
    },
  };
  if (side && config.producer) {
    // Acknowledged once stored, like the gateway's append.
    connected.produce = (seq) =>
      countAck(
        side.publish(subjectOfRecord(config, seq), encoder.encode(makePayload(seq, size))),
        production,
        tally,
      );
  }
  if (producer) {
    connected.produce = (seq) =>
      producer.publish(subjectOfRecord(config, seq), encoder.encode(makePayload(seq, size)));
    // A flush is a PING/PONG round trip: everything published before it reached the server.
    connected.sync = async () => {
      const sent = production.sent;
      await producer.flush();
      production.acked = Math.max(production.acked, sent);
    };
  }
  return connected;
}

/** Counts `append` as acknowledged once it settles well, or keeps its error; wakes the tally. */
function countAck(append: Promise<unknown>, production: Production, tally: Tally): void {
  append.then(
    () => {
      production.acked++;
      tally.poke();
    },
    (error) => {
      production.error ??= String(error);
      tally.poke();
    },
  );
}

/** Appends straight into the embedded store, as `gdp-ws append` from another process does. */
async function connectStore(
  config: ClientConfig,
  dataDir: string,
  tally: Tally,
  production: Production,
): Promise<{ produce: (seq: number) => void; close: () => Promise<void> }> {
  const { openEmbedded } = await import("../src/backend/embedded/store.ts");
  const store = openEmbedded({ dataDir });
  const handle = await store.open(config.subject);
  const encoder = new TextEncoder();
  const size = config.producer?.payloadBytes ?? 0;
  return {
    // Appends made in the same turn share one transaction (the store's group commit).
    produce: (seq) => {
      countAck(handle.append(encoder.encode(makePayload(seq, size))), production, tally);
    },
    close: async () => {
      await handle.close();
      await store.close();
    },
  };
}

if (import.meta.main) {
  const config = JSON.parse(Deno.args[0] ?? "{}") as ClientConfig;
  try {
    emit(await run(config));
  } catch (error) {
    emit({ event: "failed", error: String(error) });
  }
  Deno.exit(0);
}
