/**
 * A gateway on the real libgdp, run as users run it: `main.ts serve` in a
 * child process as the binary built with `--libgdp $GDP_LIB` runs it (its
 * grants and baked paths, tests/helpers/shipped.ts; its data folder unused).
 * Tests talk to it over WebSocket and HTTP only, and read its state from
 * `GET /readyz` (hub stats and the binding's counters).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { HubStats } from "../../src/fanout/hub.ts";
import type { ServeProcess } from "../helpers/process.ts";
import { serveShipped } from "../helpers/shipped.ts";
import { GDP_LIB } from "./stack.ts";

/**
 * How long a feed stays open after its last subscriber (`--feed-linger`):
 * short, so that feeds linger out, close and reopen within a test, and so
 * that each test can end by checking every handle is closed again.
 * `REAL_GDP_LINGER_MS=600000` keeps feeds open for the whole test instead
 * (then only the event and datum books are checked at the end).
 */
export const TEST_LINGER_MS = Number(Deno.env.get("REAL_GDP_LINGER_MS") ?? 300);

/** Feeds that outlive a test are not waited for. */
const LINGERS_PAST_TEST = TEST_LINGER_MS > 60_000;

/** `GET /readyz` of a libgdp gateway. */
export interface Readyz extends HubStats {
  backend: string;
  ready: boolean;
  state: string;
  detail?: string;
  counters: Record<string, number>;
}

/** How long a gateway may take to exit after SIGTERM. */
const EXIT_MS = 10_000;

/** How long one test may run before its gateways are killed. */
export const DEADLINE_MS = 180_000;

/** Longest wait for one HTTP request to the gateway (a hung libgdp call must fail the test). */
const REQUEST_TIMEOUT_MS = 20_000;

/**
 * The binding's counters that must balance once every feed has lingered out:
 * every event and datum freed, and every handle still open one that holds a
 * subscription (kept until the process exits, docs/libgdp.md): a log that was
 * only read is closed.
 */
const BALANCED: [string, string][] = [
  ["eventsGot", "eventsFreed"],
  ["datumsAllocated", "datumsFreed"],
  ["openLogs", "subscribedLogs"],
];
/** Counters that must be back to zero then: no follower, no libgdp call running or queued. */
const ZERO = ["followers", "callsRunning", "callsQueued"];

export interface GatewayOptions {
  /** `--feed-linger` (default {@linkcode TEST_LINGER_MS}). */
  lingerMs?: number;
  /** More `serve` flags. */
  args?: string[];
  /** Kill the gateways if the test is not done by then (default {@linkcode DEADLINE_MS}). */
  deadlineMs?: number;
}

/** A running real-GDP gateway process. */
export class RealGateway {
  readonly url: string;
  readonly http: string;
  readonly #process: ServeProcess;
  #stopped = false;

  private constructor(process: ServeProcess) {
    this.#process = process;
    this.url = process.url;
    this.http = process.url.replace(/^ws/, "http");
  }

  /** Starts `main.ts serve --backend libgdp --libgdp $GDP_LIB --libgdp-append`. */
  static async start(options: GatewayOptions = {}): Promise<RealGateway> {
    const args = [
      "--backend",
      "libgdp",
      "--libgdp",
      GDP_LIB,
      "--libgdp-append",
      "--feed-linger",
      `${options.lingerMs ?? TEST_LINGER_MS}`,
      "--shutdown-grace",
      "100",
      ...(options.args ?? []),
    ];
    const shipped = { data: dataFolder(), libgdp: GDP_LIB };
    const gateway = new RealGateway(await serveShipped(shipped, args));
    await gateway.until((r) => r.ready, "the backend ready", 20_000);
    return gateway;
  }

  /** The OS process id (for RSS sampling). */
  get pid(): number {
    return this.#process.child.pid;
  }

  async readyz(): Promise<Readyz> {
    const response = await this.fetch("readyz");
    return await response.json() as Readyz;
  }

  /** `fetch` of a path on the gateway; a failure says what the process printed last. */
  async fetch(path: string, init?: RequestInit): Promise<Response> {
    this.assertAlive();
    try {
      return await fetchWithin(`${this.http}${path}`, REQUEST_TIMEOUT_MS, init);
    } catch (error) {
      this.assertAlive();
      const tail = this.#process.logs.slice(-15).map((entry) => JSON.stringify(entry));
      throw new Error(`${init?.method ?? "GET"} /${path} failed: ${error}\n${tail.join("\n")}`);
    }
  }

  /** Polls `/readyz` until `condition` holds; throws with the last state after `timeoutMs`. */
  async until(
    condition: (r: Readyz) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<Readyz> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.readyz();
      if (condition(state)) return state;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(state)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Resolves once `n` subscriptions receive live records. */
  live(n: number, timeoutMs?: number): Promise<Readyz> {
    return this.until((r) => r.live >= n, `${n} live subscriptions`, timeoutMs);
  }

  /** Appends through the gateway's append op (HTTP POST /logs/NAME); returns the recno. */
  async append(name: string, data: Uint8Array | string): Promise<number> {
    const body = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
    const response = await this.fetch(`logs/${encodeURIComponent(name)}`, { method: "POST", body });
    const reply = await response.json() as { recno?: number };
    if (response.status !== 201 || typeof reply.recno !== "number") {
      throw new Error(`append to ${name}: HTTP ${response.status} ${JSON.stringify(reply)}`);
    }
    return reply.recno;
  }

  /** `GET /logs/NAME`: the log's internal name and record count. */
  async info(name: string): Promise<{ name: string; count: number }> {
    const response = await this.fetch(`logs/${encodeURIComponent(name)}`);
    const reply = await response.json();
    if (response.status !== 200) throw new Error(`info ${name}: ${JSON.stringify(reply)}`);
    return reply as { name: string; count: number };
  }

  /**
   * Waits until every feed has lingered out and closed, then checks the
   * binding's books ({@linkcode BALANCED}, {@linkcode ZERO}). Returns the
   * final `/readyz`.
   */
  async settle(timeoutMs = 30_000): Promise<Readyz> {
    const state = await this.until(
      (r) =>
        (LINGERS_PAST_TEST || r.feeds === 0) && r.subscriptions === 0 && isBalanced(r.counters),
      "feeds to linger out and the libgdp counters to balance",
      timeoutMs,
    );
    for (const [got, freed] of BALANCED) {
      assert.equal(state.counters[freed], state.counters[got], `${freed} == ${got}`);
    }
    if (LINGERS_PAST_TEST) return state;
    for (const name of ZERO) assert.equal(state.counters[name], 0, `${name} back to 0`);
    return state;
  }

  /** Fails if the process has exited (libgdp aborts it on an assertion). */
  assertAlive(): void {
    if (this.#stopped) return;
    const aborted = this.abortLines();
    if (aborted.length > 0) {
      throw new Error(`the gateway aborted:\n${aborted.slice(0, 8).join("\n")}`);
    }
  }

  /** libgdp's assertion and abort lines on the gateway's stderr. */
  abortLines(): string[] {
    return this.#process.logs
      .map((entry) => typeof entry.raw === "string" ? entry.raw : "")
      .filter((line) => /Assertion failed|Abort|panicked|libgdp\.so/.test(line));
  }

  /**
   * Stops with SIGTERM; fails unless it exits 0 within {@linkcode EXIT_MS}
   * without a libgdp assertion (a hung libgdp call keeps it from exiting:
   * then it is killed and the test fails).
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const child = this.#process.child;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), EXIT_MS);
    const { code, signal } = await child.status.finally(() => clearTimeout(timer));
    await this.#process.exited;
    assert.deepEqual(this.abortLines(), [], "no libgdp assertion on stderr");
    assert.equal(signal, null, `the gateway exits by itself within ${EXIT_MS} ms of SIGTERM`);
    assert.equal(code, 0, "the gateway exits 0 on SIGTERM");
  }

  /** `/readyz` as text, or why it could not be had (for failure reports). */
  async snapshot(): Promise<string> {
    try {
      const response = await fetchWithin(`${this.http}readyz`, 2_000);
      return await response.text();
    } catch (error) {
      return `no answer (${error})`;
    }
  }

  /** Kills without checks (cleanup after a failure, or a test past its deadline). */
  async kill(): Promise<void> {
    this.#stopped = true;
    try {
      this.#process.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#process.exited;
  }
}

let folder: string | undefined;

/** The data folder the gateways' binary is built for, one per module, removed when it unloads. */
function dataFolder(): string {
  if (folder !== undefined) return folder;
  const made = folder = Deno.makeTempDirSync({ prefix: "gdp-ws-real-" });
  addEventListener("unload", () => Deno.removeSync(made, { recursive: true }));
  return made;
}

/** `fetch` given up after `ms` (by a timer of its own, cleared: no timer outlives a test). */
async function fetchWithin(url: string, ms: number, init?: RequestInit): Promise<Response> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${ms} ms`)), ms);
  try {
    return await fetch(url, { ...init, signal: abort.signal });
  } finally {
    clearTimeout(timer);
  }
}

function isBalanced(counters: Record<string, number>): boolean {
  return BALANCED.every(([got, freed]) => counters[got] === counters[freed]) &&
    (LINGERS_PAST_TEST || ZERO.every((name) => counters[name] === 0));
}

/**
 * Runs `fn` with fresh gateways, then settles each (counters checked) and
 * stops it (exit 0, no abort). On failure they are killed.
 */
export async function withGateways(
  count: number,
  options: GatewayOptions,
  fn: (gateways: RealGateway[]) => Promise<void>,
): Promise<void> {
  const gateways = await Promise.all(
    Array.from({ length: count }, () => RealGateway.start(options)),
  );
  // A libgdp call that never returns can block a gateway's event loop, and with
  // it every WebSocket handshake: past the deadline the gateways are killed, so
  // that whatever the test awaits fails instead of hanging.
  let overdue: string | undefined;
  const watchdog = setTimeout(async () => {
    const states = await Promise.all(gateways.map((gateway) => gateway.snapshot()));
    overdue = `the test ran past its ${options.deadlineMs ?? DEADLINE_MS} ms deadline; ` +
      `/readyz then: ${states.join("; ")}`;
    for (const gateway of gateways) gateway.kill();
  }, options.deadlineMs ?? DEADLINE_MS);
  try {
    await fn(gateways);
    for (const gateway of gateways) await gateway.settle();
    for (const gateway of gateways) await gateway.stop();
  } catch (error) {
    if (overdue) throw new Error(`${overdue}; then: ${error}`);
    throw error;
  } finally {
    clearTimeout(watchdog);
    await Promise.all(gateways.map((gateway) => gateway.kill()));
  }
}

/** {@linkcode withGateways} with one gateway. */
export function withGateway(
  options: GatewayOptions,
  fn: (gateway: RealGateway) => Promise<void>,
): Promise<void> {
  return withGateways(1, options, ([gateway]) => fn(gateway!));
}
