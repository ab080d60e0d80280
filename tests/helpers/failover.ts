/**
 * Failover without loss (issue 22): HAProxy, from deploy/haproxy.cfg, in front
 * of three gateway processes on one store of logs; subscribers through the
 * client library (client/gdp-ws.js, which reconnects and resumes by recno)
 * and a producer appending through the balancer; one gateway SIGKILLed
 * mid-stream, another SIGTERMed to drain (`--drain-ms`, `/readyz` 503 for
 * HAProxy's health check). At the end every subscriber must hold every record
 * of the log exactly once and in order, every acknowledged one among them;
 * the report gives the counts and each client's time to recover.
 *
 * @module
 */

import { connect, type GdpRecord, type GdpWsClient } from "../../client/gdp-ws.js";
import { type RunningProxy, startProxy, type ThrowawayCert } from "./proxies.ts";

/** A gateway process of the three. */
export interface Member {
  /** `127.0.0.1:PORT`. */
  readonly address: string;
  /** SIGKILL, no questions asked. */
  kill(): Promise<void>;
  /** SIGTERM; resolves when it has drained and exited (rejects unless cleanly). */
  drain(): Promise<void>;
}

export interface FailoverOptions {
  /** A folder for HAProxy's configuration. */
  dir: string;
  cert: ThrowawayCert;
  /** The log everyone subscribes to and the producer appends to (it exists). */
  logname: string;
  members: readonly [Member, Member, Member];
  /** Subscribers, each its own client (socket) (200). */
  subscribers: number;
  /** Appends per second the producer aims at. */
  rate: number;
  /** After everyone is live: when the first gateway is killed, the second drained, the producer stops (ms). */
  killAtMs: number;
  drainAtMs: number;
  stopAtMs: number;
  /** The log's record count now, asked through the balancer at the end. */
  count(fetchThrough: (path: string, init?: RequestInit) => Promise<Response>): Promise<number>;
}

/** Percentiles of recovery times, in ms. */
export interface Recovery {
  clients: number;
  p50: number;
  p99: number;
  max: number;
}

export interface FailoverReport {
  /** Records in the log at the end: what every subscriber must have. */
  expected: number;
  /** Appends the gateways acknowledged (201); the others failed with their gateway. */
  acknowledged: number;
  /** Appends that got no acknowledgement (and were tried again). */
  failedAppends: number;
  /** Records all subscribers received, in total. */
  received: number;
  /** A recno delivered twice to one subscriber, over all subscribers. */
  duplicates: number;
  /** A recno missing at one subscriber, over all subscribers. */
  gaps: number;
  /** Records out of order (a recno not one past the one before), over all subscribers. */
  outOfOrder: number;
  /** Acknowledged records some subscriber got with other data at that recno, or not at all. */
  ackMismatches: number;
  /** From the drop of each affected client's socket to its first record on the new one. */
  kill: Recovery;
  drain: Recovery;
  /** From SIGKILL (not from the drop) to the first record after it, per affected client. */
  killFromSignal: Recovery;
}

/** How the subscribers stand, for a failure's message. */
function standing(books: Book[], producer: { acknowledged: Map<number, string>; failed: number }) {
  const states = new Map<string, number>();
  const counts = new Map<number, number>();
  for (const book of books) {
    states.set(book.client.state, (states.get(book.client.state) ?? 0) + 1);
    counts.set(book.recnos.length, (counts.get(book.recnos.length) ?? 0) + 1);
  }
  const errors = books.map((b) => b.client.error?.message).filter((e) => e).slice(0, 3);
  return JSON.stringify({
    states: Object.fromEntries(states),
    recordCounts: Object.fromEntries(counts),
    acknowledged: producer.acknowledged.size,
    failedAppends: producer.failed,
    errors,
  });
}

/** One subscriber's book. */
interface Book {
  client: GdpWsClient;
  recnos: number[];
  data: Map<number, string>;
  /** Times its socket dropped, and when its next record after each drop arrived. */
  drops: { at: number; recovered?: number }[];
}

function percentiles(values: number[]): Recovery {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  return {
    clients: sorted.length,
    p50: Math.round(at(0.5)),
    p99: Math.round(at(0.99)),
    max: Math.round(sorted.at(-1) ?? 0),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the scenario; the caller asserts on the report. */
export async function failover(options: FailoverOptions): Promise<FailoverReport> {
  const { cert, logname, members } = options;
  const proxy: RunningProxy = await startProxy("haproxy", {
    dir: options.dir,
    cert,
    upstreams: members.map((m) => m.address),
  });
  const tls = Deno.createHttpClient({ caCerts: [cert.ca] });
  const base = `127.0.0.1:${proxy.port}`;
  const fetchThrough = (path: string, init: RequestInit = {}) =>
    fetch(`https://${base}${path}`, { ...init, client: tls } as RequestInit);
  /** The client library's sockets, trusting the throwaway CA. */
  class TlsWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, { protocols, client: tls } as unknown as string[]);
    }
  }
  const books: Book[] = [];
  const producer = { stop: false, acknowledged: new Map<number, string>(), failed: 0 };
  let producing: Promise<void> | undefined;
  try {
    for (let i = 0; i < options.subscribers; i++) {
      const book: Book = { client: undefined!, recnos: [], data: new Map(), drops: [] };
      book.client = connect(`wss://${base}/`, {
        WebSocket: TlsWebSocket,
        fetch: (url, init) => fetchThrough(new URL(url).pathname, init),
        onState: (state) => {
          // A drop starts an outage; more drops before the next record belong to it.
          const last = book.drops.at(-1);
          if (state === "reconnecting" && (!last || last.recovered !== undefined)) {
            book.drops.push({ at: performance.now() });
          }
        },
      });
      book.client.subscribe(logname, {
        start: 1,
        onRecord: (record: GdpRecord) => {
          book.recnos.push(record.recno);
          book.data.set(record.recno, record.data);
          const drop = book.drops.at(-1);
          if (drop && drop.recovered === undefined) drop.recovered = performance.now();
        },
      });
      books.push(book);
    }
    // Everyone live and subscribed: each has the first record.
    await appendOnce(fetchThrough, logname, "first", producer);
    await until(
      () => books.every((b) => b.recnos.length > 0 && b.client.state === "live"),
      30_000,
      "every subscriber live",
      () => standing(books, producer),
    );
    for (const book of books) book.drops.length = 0;

    const started = performance.now();
    producing = (async () => {
      let n = 0;
      while (!producer.stop) {
        const due = started + (n * 1000) / options.rate;
        await sleep(Math.max(0, due - performance.now()));
        await appendOnce(fetchThrough, logname, `p${++n}`, producer);
      }
    })();
    await sleep(options.killAtMs);
    const killAt = performance.now();
    await members[0].kill();
    await sleep(options.drainAtMs - options.killAtMs);
    const drainAt = performance.now();
    const drained = members[1].drain();
    await sleep(Math.max(0, options.stopAtMs - options.drainAtMs));
    await drained;
    producer.stop = true;
    await producing;
    producing = undefined;

    const expected = await options.count(fetchThrough);
    await until(
      () => books.every((b) => b.recnos.length >= expected),
      60_000,
      `every subscriber at ${expected} records`,
      () => standing(books, producer),
    );
    await sleep(300); // anything more (a duplicate) would arrive now

    let received = 0, duplicates = 0, gaps = 0, outOfOrder = 0, ackMismatches = 0;
    const killed: number[] = [], killedFromSignal: number[] = [], draining: number[] = [];
    for (const book of books) {
      received += book.recnos.length;
      const seen = new Set<number>();
      let last = 0;
      for (const recno of book.recnos) {
        if (seen.has(recno)) duplicates++;
        seen.add(recno);
        if (recno !== last + 1) outOfOrder++;
        last = recno;
      }
      for (let recno = 1; recno <= expected; recno++) if (!seen.has(recno)) gaps++;
      for (const [recno, data] of producer.acknowledged) {
        if (book.data.get(recno) !== data) ackMismatches++;
      }
      for (const drop of book.drops) {
        if (drop.recovered === undefined) continue;
        const took = drop.recovered - drop.at;
        if (drop.at >= killAt && drop.at < drainAt) {
          killed.push(took);
          killedFromSignal.push(drop.recovered - killAt);
        } else if (drop.at >= drainAt) draining.push(took);
      }
    }
    return {
      expected,
      acknowledged: producer.acknowledged.size,
      failedAppends: producer.failed,
      received,
      duplicates,
      gaps,
      outOfOrder,
      ackMismatches,
      kill: percentiles(killed),
      drain: percentiles(draining),
      killFromSignal: percentiles(killedFromSignal),
    };
  } finally {
    producer.stop = true;
    await producing?.catch(() => {});
    for (const book of books) book.client.close();
    await proxy.stop();
    tls.close();
  }
}

/** One append through the balancer; acknowledged or counted as failed (the caller goes on). */
async function appendOnce(
  fetchThrough: (path: string, init?: RequestInit) => Promise<Response>,
  logname: string,
  data: string,
  producer: { acknowledged: Map<number, string>; failed: number },
): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 10_000);
  try {
    const response = await fetchThrough(`/logs/${encodeURIComponent(logname)}`, {
      method: "POST",
      body: data,
      signal: abort.signal,
    });
    const reply = await response.json() as { recno?: number };
    if (response.status === 201 && typeof reply.recno === "number") {
      producer.acknowledged.set(reply.recno, data);
      return;
    }
    producer.failed++;
  } catch {
    producer.failed++;
  } finally {
    clearTimeout(timer);
  }
}

async function until(
  condition: () => boolean,
  ms: number,
  what: string,
  state: () => string = () => "",
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}: ${state()}`);
    await sleep(20);
  }
}
