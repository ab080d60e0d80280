/**
 * Time travel measured by hand (issue 20), not part of `deno task bench`:
 *
 * ```sh
 * # embedded: time to the first record of a startts subscription at 1,000,000 records,
 * # and range reads of 100,000 records next to the WebSocket replay
 * deno run --config bench/deno.json -A bench/time_travel.ts embedded [records] [range records]
 * # real GDP: the same first-record times on existing logs, with the libgdp reads they took
 * eval "$(/work/shared/gdp/gdp-local env)"
 * deno run --config bench/deno.json -A bench/time_travel.ts real-gdp LOG [LOG…]
 * # real GDP: the search alone (LogHandle.seek through the libgdp backend, in this process)
 * deno run --config bench/deno.json -A bench/time_travel.ts seek LOG [LOG…]
 * ```
 *
 * Each measurement is one client in this process against a gateway process
 * (`bench/servers.ts`), on a log that is not followed when the subscription
 * arrives (the feed opens, as for a first subscriber). "First record" is the
 * time from sending the subscribe request to the first DATA event, with
 * `numrec` 1 and 0 (following on, whose first history chunk is read before
 * the first record is sent); a subscription with `startrec` at the same
 * record is timed next to it. The
 * times sought are spread over the log; the first is also the first search of
 * the process (cold cache, cold JIT), the repeat of it the warm case.
 * Prints one JSON line per measurement, then a summary.
 *
 * @module
 */

import { openLibgdpBackend } from "../src/backend/libgdp/backend.ts";
import { formatRfc3339 } from "../src/core/time.ts";
import { getJson } from "./process.ts";
import { prefill, startGateway, type Target } from "./servers.ts";

interface Stamp {
  tv_sec: number;
  tv_nsec: number;
}

const NS = 1_000_000_000n;
const ns = (ts: Stamp) => BigInt(ts.tv_sec) * NS + BigInt(ts.tv_nsec);
const rfc = (at: bigint) => formatRfc3339({ sec: Number(at / NS), nsec: Number(at % NS) });
const http = (target: Target) => target.url.replace(/^ws/, "http").replace(/\/$/, "");

function emit(value: Record<string, unknown>): void {
  console.log(JSON.stringify(value));
}

/** A WebSocket to `url`, open. */
function connect(url: string, protocol?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}

/** Sends `request` (numrec 1 unless it says) and resolves with ms to the first DATA event and its datum. */
async function firstRecord(
  target: Target,
  request: Record<string, unknown>,
): Promise<{ ms: number; recno: number; ts: Stamp }> {
  const socket = await connect(target.url);
  try {
    const got = new Promise<{ recno: number; ts: Stamp }>((resolve, reject) => {
      socket.onmessage = (message) => {
        const event = JSON.parse(message.data as string);
        if (event.type === 1) resolve(event.datum);
        else reject(new Error(`got ${message.data}`));
      };
    });
    const started = performance.now();
    socket.send(JSON.stringify({ numrec: 1, ...request }));
    const datum = await got;
    return { ms: performance.now() - started, ...datum };
  } finally {
    const closed = new Promise((resolve) => socket.onclose = resolve);
    socket.close();
    await closed;
  }
}

/** One record's timestamp, through the range endpoint. */
async function stampOf(target: Target, log: string, recno: number): Promise<Stamp> {
  const url = `${http(target)}/logs/${encodeURIComponent(log)}/records?start=${recno}&count=1`;
  const [record] = await (await fetch(url)).json() as { ts: Stamp }[];
  return record!.ts;
}

/** The backend's counters from `/readyz`. */
async function counters(target: Target): Promise<Record<string, number>> {
  return ((await getJson(`${http(target)}/readyz`)).counters ?? {}) as Record<string, number>;
}

/** Waits until the gateway follows no log (the last subscription's feed lingered out). */
async function idle(target: Target): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (Number((await getJson(`${http(target)}/readyz`)).feeds) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("the feed did not linger out");
}

/**
 * First-record times of `startts` subscriptions on `log` (records 1..`last`),
 * at times just after records spread over the log, then `startrec` at the same
 * records; with the libgdp reads each took when the backend counts them.
 */
async function firstRecordTimes(target: Target, log: string, last: number, label: string) {
  const positions = [0.5, 0.5, 0.1, 0.9, 0.3, 0.7].map((f) => Math.max(1, Math.round(last * f)));
  const stamps = new Map<number, bigint>();
  for (const recno of new Set(positions)) {
    if (recno > 1) stamps.set(recno, ns(await stampOf(target, log, recno - 1)) + 1n);
  }
  await idle(target);
  const rows = [];
  for (const [i, recno] of positions.entries()) {
    const before = await counters(target);
    const at = stamps.get(recno)!;
    const byTime = await firstRecord(target, { logname: log, startts: rfc(at) });
    const after = await counters(target);
    await idle(target);
    // numrec 0, as a dashboard follows: the first history chunk is read before the first record.
    const following = await firstRecord(target, { logname: log, startts: rfc(at), numrec: 0 });
    await idle(target);
    const byRecno = await firstRecord(target, { logname: log, startrec: byTime.recno });
    await idle(target);
    const row = {
      label,
      log,
      records: last,
      run: i + 1,
      sought: `just after record ${recno - 1}`,
      startedAt: byTime.recno,
      atOrAfter: ns(byTime.ts) >= at,
      startts_ms: round(byTime.ms),
      startts_numrec0_ms: round(following.ms),
      startrec_ms: round(byRecno.ms),
      seekReads: (after.seekReads ?? 0) - (before.seekReads ?? 0),
      seekCacheHits: (after.seekCacheHits ?? 0) - (before.seekCacheHits ?? 0),
    };
    emit(row);
    rows.push(row);
  }
  return rows;
}

/** Records/s of reading records 1..`count` of `log`: range reads (NDJSON, JSON, pages) and WebSocket replays. */
async function rangeAgainstReplay(target: Target, log: string, count: number, label: string) {
  const base = `${http(target)}/logs/${encodeURIComponent(log)}/records`;
  const range = async (query: string, ndjson: boolean) => {
    const started = performance.now();
    let records = 0;
    let bytes = 0;
    let pages = 0;
    let tail = new Uint8Array(0);
    for (let url: string | undefined = `${base}?${query}`; url;) {
      const response: Response = await fetch(
        url,
        ndjson ? { headers: { accept: "application/x-ndjson" } } : {},
      );
      if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}`);
      pages++;
      for await (const chunk of response.body!) {
        bytes += chunk.length;
        // NDJSON: a record a line; JSON: a record a "recno" key.
        if (ndjson) {
          for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) records++;
        } else {
          // A key may straddle two chunks: look again over the seam.
          records += countRecnos(concat(tail, chunk)) - countRecnos(tail);
          tail = chunk.slice(-(RECNO.length - 1));
        }
      }
      const link: string | null = response.headers.get("link");
      url = link ? `${http(target)}${/^<([^>]+)>/.exec(link)![1]}` : undefined;
    }
    const seconds = (performance.now() - started) / 1000;
    if (records !== count) throw new Error(`${query}: ${records} records, not ${count}`);
    return { seconds, records, bytes, pages };
  };
  const replay = async (batch: boolean) => {
    const socket = await connect(target.url, batch ? "gdp-ws.batch" : undefined);
    const marker = batch ? '"type":1}' : '"type": 1}';
    let records = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      socket.onmessage = (message) => {
        const text = message.data as string;
        for (let at = text.indexOf(marker); at !== -1; at = text.indexOf(marker, at + 1)) records++;
        if (text.includes(batch ? '"type":2}' : '"type": 2}')) resolve();
      };
      socket.send(JSON.stringify({ logname: log, startrec: 1, numrec: count }));
    });
    const seconds = (performance.now() - started) / 1000;
    const closed = new Promise((resolve) => socket.onclose = resolve);
    socket.close();
    await closed;
    if (records !== count) throw new Error(`replay: ${records} records, not ${count}`);
    return { seconds, records };
  };
  const cases: [string, () => Promise<{ seconds: number; records: number }>][] = [
    ["range NDJSON, one page", () => range(`start=1&count=${count}&limit=${count}`, true)],
    ["range JSON, one page", () => range(`start=1&count=${count}&limit=${count}`, false)],
    ["range NDJSON, pages of 10,000", () => range(`start=1&count=${count}`, true)],
    ["WebSocket replay, one per frame", () => replay(false)],
    ["WebSocket replay, batch", () => replay(true)],
  ];
  const rows = [];
  for (const [what, run] of cases) {
    const runs = [];
    for (let i = 0; i < 3; i++) {
      await idle(target);
      runs.push(await run());
    }
    const rates = runs.map((r) => Math.round(r.records / r.seconds)).sort((a, b) => a - b);
    const row = { label, what, records: count, median_per_s: rates[1], runs_per_s: rates };
    emit(row);
    rows.push(row);
  }
  return rows;
}

const RECNO = new TextEncoder().encode('"recno"');

function countRecnos(chunk: Uint8Array): number {
  let n = 0;
  outer: for (let i = chunk.indexOf(RECNO[0]!); i !== -1; i = chunk.indexOf(RECNO[0]!, i + 1)) {
    for (let j = 1; j < RECNO.length; j++) if (chunk[i + j] !== RECNO[j]) continue outer;
    n++;
  }
  return n;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

const LINGER = ["--feed-linger", "0", "--max-page-records", "1000000"];

async function embedded(records: number, rangeRecords: number): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "gdp-ws-bench-time-" });
  try {
    const fill = await prefill(dataDir, "bench.time", records, 100);
    const fillRange = await prefill(dataDir, "bench.range", rangeRecords, 100);
    emit({
      prefilled: records,
      seconds: round(fill),
      range: rangeRecords,
      rangeSeconds: round(fillRange),
    });
    const target = await startGateway({ dataDir, args: LINGER });
    try {
      await firstRecordTimes(target, "bench.time", records, "embedded");
      await rangeAgainstReplay(target, "bench.range", rangeRecords, "embedded");
    } finally {
      await target.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function realGdp(logs: string[]): Promise<void> {
  const lib = Deno.env.get("GDP_LIB");
  if (!lib) throw new Error('GDP_LIB is not set (eval "$(gdp-local env)")');
  const target = await startGateway({
    label: "gdp-ws on real GDP",
    args: ["--backend", "libgdp", "--libgdp", lib, ...LINGER],
  });
  try {
    for (const log of logs) {
      const info = await getJson(`${http(target)}/logs/${encodeURIComponent(log)}`);
      const last = Number(info.count);
      await firstRecordTimes(target, log, last, "real GDP");
      if (last >= 10_000) await rangeAgainstReplay(target, log, 10_000, "real GDP");
    }
    emit({ counters: await counters(target) });
  } finally {
    await target.stop();
  }
}

/**
 * `LogHandle.seek` through the libgdp backend on each log: the first search of
 * the process (nothing cached), nine more at other times (the grid's upper
 * levels cached), then the first again (all cached); reads and ms of each.
 */
async function seekAlone(logs: string[]): Promise<void> {
  const lib = Deno.env.get("GDP_LIB");
  if (!lib) throw new Error('GDP_LIB is not set (eval "$(gdp-local env)")');
  const backend = await openLibgdpBackend({ path: lib });
  try {
    for (const log of logs) {
      const handle = await backend.open(log);
      try {
        const last = await handle.last();
        const times: bigint[] = [];
        for (const f of [0.5, 0.05, 0.15, 0.25, 0.35, 0.45, 0.65, 0.75, 0.85, 0.95]) {
          const recno = Math.max(2, Math.round(last * f));
          for await (const record of handle.read(recno - 1, 1)) {
            times.push(BigInt(record.ts.sec) * NS + BigInt(record.ts.nsec) + 1n);
          }
        }
        times.push(times[0]!);
        for (const [i, at] of times.entries()) {
          const before = backend.counters();
          const started = performance.now();
          const found = await handle.seek({
            sec: Number(at / NS),
            nsec: Number(at % NS),
            accuracy: 0,
          }, last);
          const ms = performance.now() - started;
          const after = backend.counters();
          emit({
            log,
            records: last,
            search: i + 1,
            found,
            ms: round(ms),
            reads: after.seekReads - before.seekReads,
            cacheHits: after.seekCacheHits - before.seekCacheHits,
          });
        }
      } finally {
        await handle.close();
      }
    }
  } finally {
    await backend.close();
  }
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  if (mode === "embedded") {
    await embedded(Number(rest[0] ?? 1_000_000), Number(rest[1] ?? 100_000));
  } else if (mode === "real-gdp" && rest.length > 0) {
    await realGdp(rest);
  } else if (mode === "seek" && rest.length > 0) {
    await seekAlone(rest);
    Deno.exit(0); // libgdp's I/O thread keeps the process alive
  } else {
    console.error(
      "usage: time_travel.ts embedded [records] [range records] | real-gdp LOG… | seek LOG…",
    );
    Deno.exit(2);
  }
}
