/**
 * The real-GDP soak: the gateway on libgdp under exactly the compiled
 * binary's permissions, hundreds of WebSocket clients churning over a
 * hundred logs while GDP's own writer appends, and the router restarted
 * every few minutes. Every subscription checks that it got each recno once,
 * in order; the gateway's RSS and counters are sampled. Not part of CI: it
 * runs for minutes against `../shared/gdp`.
 *
 * ```sh
 * eval "$(../shared/gdp/gdp-local env)"
 * deno task soak --minutes 10 --clients 500 --logs 100 --rate 200 --restart-every 120
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { lines } from "../src/io/lines.ts";
import { permissionFlags, sandboxOf } from "../src/cli/permissions.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
/** gdp-local beside the repository, as CI lays it out (`--gdp-local` elsewhere). */
const DEFAULT_GDP_LOCAL = fileURLToPath(new URL("../../shared/gdp/gdp-local", import.meta.url));

interface Options {
  minutes: number;
  clients: number;
  logs: number;
  rate: number;
  restartEvery: number;
  gdpLocal: string;
  lib: string;
}

/** One subscription's record of what it saw. */
interface Tally {
  records: number;
  gaps: number;
  duplicates: number;
  errors: number;
}

const tally: Tally = { records: 0, gaps: 0, duplicates: 0, errors: 0 };
let subscriptionsMade = 0;
const problems: string[] = [];

function options(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "10" },
      clients: { type: "string", default: "500" },
      logs: { type: "string", default: "100" },
      rate: { type: "string", default: "200" },
      "restart-every": { type: "string", default: "120" },
      "gdp-local": { type: "string", default: DEFAULT_GDP_LOCAL },
    },
  });
  const lib = Deno.env.get("GDP_LIB");
  if (!lib) throw new Error('GDP_LIB is not set: eval "$(../shared/gdp/gdp-local env)" first');
  return {
    minutes: Number(values.minutes),
    clients: Number(values.clients),
    logs: Number(values.logs),
    rate: Number(values.rate),
    restartEvery: Number(values["restart-every"]),
    gdpLocal: values["gdp-local"],
    lib,
  };
}

async function run(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, { args }).output();
  const text = new TextDecoder();
  if (code !== 0) throw new Error(`${command} ${args.join(" ")}: ${text.decode(stderr)}`);
  return text.decode(stdout);
}

async function makeLogs(opts: Options, prefix: string): Promise<string[]> {
  const names = Array.from({ length: opts.logs }, (_, i) => `${prefix}.${i + 1}`);
  for (const name of names) await run(opts.gdpLocal, ["mklog", name]);
  return names;
}

/** One `gdp-writer` per log, fed a line at a time: `rate` records/s over all logs. */
function startWriters(names: string[], rate: number, stop: AbortSignal): Promise<void>[] {
  const perLogMs = (1000 * names.length) / rate;
  return names.map(async (name) => {
    while (!stop.aborted) {
      const writer = new Deno.Command("gdp-writer", {
        args: ["-q", "--", name],
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const input = writer.stdin.getWriter();
      try {
        for (let n = 1; !stop.aborted; n++) {
          await input.write(new TextEncoder().encode(`${name} ${n}\n`));
          await delay(perLogMs * (0.5 + Math.random()));
        }
        await input.close();
      } catch {
        // the writer died (a router restart can end it): start another
      }
      await writer.status;
    }
  });
}

interface Gateway {
  url: string;
  pid: number;
  child: Deno.ChildProcess;
  stderr: string[];
}

async function startGateway(opts: Options): Promise<Gateway> {
  const flags = permissionFlags(sandboxOf({ libgdp: opts.lib }));
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...flags,
      MAIN,
      "serve",
      `--port=${port}`,
      "--hostname=127.0.0.1",
      "--log-format=json",
      "--log-level=warning",
      "--backend=libgdp",
      `--libgdp=${opts.lib}`,
      `--max-connections=${opts.clients + 100}`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  void (async () => {
    for await (const line of lines(child.stderr)) {
      stderr.push(line);
      if (/Assertion failed|Aborted|panicked/.test(line)) problems.push(`gateway: ${line}`);
    }
  })();
  const url = `ws://127.0.0.1:${port}/`;
  for (let tries = 0; tries < 100; tries++) {
    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      async (r) => (await r.body?.cancel(), r.ok),
      () => false,
    );
    if (healthy) return { url, pid: child.pid, child, stderr };
    await delay(200);
  }
  throw new Error(`the gateway did not start:\n${stderr.join("\n")}`);
}

/** A client that keeps one subscription at a time, moving between logs. */
async function churn(url: string, names: string[], stop: AbortSignal): Promise<void> {
  while (!stop.aborted) {
    const socket = new WebSocket(url);
    const opened = await new Promise<boolean>((resolve) => {
      socket.onopen = () => resolve(true);
      socket.onerror = () => resolve(false);
    });
    if (!opened) {
      await delay(1000);
      continue;
    }
    let last = 0;
    let id = 0;
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data as string) as {
        id?: number;
        type: number;
        datum?: { recno: number };
      };
      if (event.id !== id) return; // an earlier subscription's last words
      if (event.type === 6) tally.errors++;
      if (event.type !== 1 || !event.datum) return;
      const recno = event.datum.recno;
      tally.records++;
      if (last !== 0 && recno <= last) tally.duplicates++;
      if (last !== 0 && recno > last + 1) {
        tally.gaps++;
        problems.push(`gap: ${last} -> ${recno}`);
      }
      last = Math.max(last, recno);
    };
    // a few subscriptions per connection, then a new connection
    for (let round = 0; round < 3 && !stop.aborted; round++) {
      id++;
      last = 0;
      subscriptionsMade++;
      const logname = names[Math.floor(Math.random() * names.length)];
      socket.send(JSON.stringify({ logname, startrec: -5, numrec: 0, id }));
      await delay(5_000 + Math.random() * 25_000, stop);
      socket.send(JSON.stringify({ unsubscribe: id }));
    }
    socket.close();
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
}

/** The JavaScript heap in use, from the gateway's /metrics. */
async function heapMiB(url: string): Promise<number> {
  const text = await (await fetch(url.replace(/^ws/, "http") + "metrics")).text();
  return Number(text.match(/^process_heap_used_bytes (\S+)/m)?.[1] ?? NaN) / 2 ** 20;
}

async function readyz(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(url.replace(/^ws/, "http") + "readyz");
  return await response.json() as Record<string, unknown>;
}

async function main(): Promise<number> {
  const opts = options();
  const prefix = `soak.${Date.now().toString(36)}`;
  console.log(`making ${opts.logs} logs (${prefix}.*)...`);
  const names = await makeLogs(opts, prefix);
  const gateway = await startGateway(opts);
  console.log(`gateway pid ${gateway.pid} at ${gateway.url}`);
  const stop = new AbortController();
  const writers = startWriters(names, opts.rate, stop.signal);
  const clients = Array.from({ length: opts.clients }, async (_, i) => {
    await delay(i * 20); // a gentle ramp
    await churn(gateway.url, names, stop.signal);
  });
  const start = Date.now();
  const samples: string[] = [];
  let restarts = 0;
  let nextRestart = start + opts.restartEvery * 1000;
  while (Date.now() - start < opts.minutes * 60_000) {
    await delay(10_000);
    if (Date.now() >= nextRestart) {
      await run(opts.gdpLocal, ["restart-router"]);
      restarts++;
      nextRestart += opts.restartEvery * 1000;
    }
    const minutes = ((Date.now() - start) / 60_000).toFixed(1);
    const alive = isAlive(gateway.pid);
    const rss = alive ? rssKiB(gateway.pid) : 0;
    const heap = alive ? await heapMiB(gateway.url).catch(() => NaN) : 0;
    const line =
      `${minutes} min  rss ${(rss / 1024).toFixed(1)} MiB  heap ${heap.toFixed(1)} MiB  ` +
      `records ${tally.records}  ` +
      `subscriptions ${subscriptionsMade}  gaps ${tally.gaps}  duplicates ${tally.duplicates}  ` +
      `errors ${tally.errors}  router restarts ${restarts}`;
    samples.push(line);
    console.log(line);
    if (!alive) {
      problems.push("the gateway exited");
      break;
    }
  }
  stop.abort();
  await Promise.allSettled(clients);
  const counters = await readyz(gateway.url).catch((error) => ({ error: String(error) }));
  gateway.child.kill("SIGTERM");
  const status = await gateway.child.status;
  await Promise.allSettled(writers);
  console.log(`\nreadyz at the end: ${JSON.stringify(counters)}`);
  console.log(`gateway exit: code ${status.code}, signal ${status.signal}`);
  console.log(`problems: ${problems.length === 0 ? "none" : problems.slice(0, 20).join("; ")}`);
  const failed = problems.length > 0 || tally.gaps > 0 || tally.duplicates > 0 || status.code !== 0;
  return failed ? 1 : 0;
}

function isAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exit(await main());
