/**
 * The libgdp test double (`tests/fixtures/libgdp_double.c`), compiled with
 * `cc` into a fresh temporary folder once per test module, and its test-only
 * `gdpdbl_*` functions through a `Deno.dlopen` of the same file (the same
 * library instance as the backend's, since it is the same process).
 *
 * Test modules run in one process under `deno test --parallel`, so each
 * module compiles its own copy: a different file is a different library
 * instance, with its own logs, counters and event queue.
 *
 * @example
 * ```ts
 * import { openLibgdpBackend } from "../../src/backend/libgdp/backend.ts";
 *
 * const gdp = await libgdpDouble();
 * gdp.createLog("demo.log");
 * gdp.append("demo.log", "hello");
 * const backend = await openLibgdpBackend({ path: gdp.path });
 * ```
 *
 * @module
 */

import type { Timestamp } from "../../src/backend/backend.ts";
import {
  type LibgdpBackend,
  type LibgdpOptions,
  openLibgdpBackend,
} from "../../src/backend/libgdp/backend.ts";
import type { Gateway } from "../../src/gateway/gateway.ts";
import { serveForTest, type SuiteFixture } from "./gateway.ts";

const SOURCE = new URL("../fixtures/libgdp_double.c", import.meta.url);

/** The test-only exports of the double. */
const DOUBLE_SYMBOLS = {
  gdpdbl_create_log: { parameters: ["buffer"], result: "i32" },
  gdpdbl_append: { parameters: ["buffer", "buffer", "usize"], result: "i64" },
  gdpdbl_append_at: {
    parameters: ["buffer", "buffer", "usize", "i64", "i32", "f32"],
    result: "i64",
  },
  gdpdbl_race_append: { parameters: ["buffer", "buffer", "usize"], result: "i32" },
  gdpdbl_break_link: { parameters: ["i32"], result: "void" },
  gdpdbl_end_subscriptions: { parameters: ["i32"], result: "void" },
  gdpdbl_set_reorder: { parameters: ["i32"], result: "void" },
  gdpdbl_set_latency: { parameters: ["i32"], result: "void" },
  gdpdbl_set_call_timeout: { parameters: ["i32"], result: "void" },
  gdpdbl_counters: { parameters: ["buffer", "i32"], result: "i32" },
  gdpdbl_reset: { parameters: [], result: "void" },
  gdpdbl_drop_logs: { parameters: [], result: "i32" },
  gdpdbl_router: { parameters: ["buffer", "usize"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The double's counters, in the order of its C_* enum. */
const COUNTER_NAMES = [
  "liveEvents",
  "liveDatums",
  "opens",
  "subscribes",
  "openHandles",
  "doubleOpens",
  "badFrees",
  "badUses",
  "closes",
  "nextWithGin",
  "eventsQueued",
  "reads",
  "appends",
  "liveSubs",
  "failedCalls",
  "initCalls",
  "eventsHeld",
  "assertions",
  "reqHighWater",
  "datumsHeld",
  "subscribedHandles",
  "appendsLost",
] as const;

/**
 * What the double counts (live*, openHandles and eventsHeld are current,
 * reqHighWater the most requests alive at once; the rest cumulative).
 */
export type DoubleCounters = Record<(typeof COUNTER_NAMES)[number], number>;

/** How the double can end subscriptions: silently (as a gdplogd restart does), or with an event. */
export const SILENTLY = 0;
export const SHUTDOWN = 3;
export const FAILURE = 6;

/** The double, loaded. */
export interface LibgdpDouble {
  /** Path of the compiled library (pass it to the backend). */
  readonly path: string;
  /** Creates a log (by human or internal name); true if it was new. */
  createLog(name: string): boolean;
  /** Appends as another writer would; resolves to the recno. */
  append(name: string, data: Uint8Array | string): number;
  /**
   * Another writer appends `data` the moment this process's next append to
   * the log reaches gdplogd: that append finds its record number taken.
   */
  raceAppend(name: string, data: Uint8Array | string): void;
  /** Appends with a given timestamp. */
  appendAt(name: string, data: Uint8Array | string, ts: Timestamp): number;
  /** Breaks the link for `ms` (calls fail 600, subscriptions get FAILURE). */
  breakLink(ms: number): void;
  /** Ends an outage now. */
  restoreLink(): void;
  /** Ends every subscription silently, or with SHUTDOWN or FAILURE; the link stays up. */
  endSubscriptions(type: typeof SILENTLY | typeof SHUTDOWN | typeof FAILURE): void;
  /** Delivers the first record after each later subscribe `ms` late (0 = off). */
  setReorder(ms: number): void;
  /** Latency of each blocking call, in microseconds. */
  setLatency(us: number): void;
  /** How long a call blocks during an outage before failing, in ms. */
  setCallTimeout(ms: number): void;
  counters(): DoubleCounters;
  /** Zeroes cumulative counters; restores link, reorder, latency and timeout. */
  reset(): void;
  /**
   * Frees the handles that hold subscriptions (as the process's end would),
   * then forgets every log; throws while any other handle is open.
   */
  dropLogs(): void;
  /** The router string the last gdp_init got ("" for NULL). */
  router(): string;
}

const encoder = new TextEncoder();
const loaded = new Map<string, Promise<LibgdpDouble>>();

/** The libgdp double, compiled and loaded once per test module. */
export function libgdpDouble(): Promise<LibgdpDouble> {
  let double = loaded.get("double");
  if (!double) {
    double = compileDouble().then(load);
    loaded.set("double", double);
  }
  return double;
}

let compiled: Promise<string> | undefined;

/** Compiles the double once per module; resolves to its path. */
export function compileDouble(): Promise<string> {
  compiled ??= compile();
  return compiled;
}

async function compile(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-libgdp-" });
  addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  const path = `${dir}/libgdp.so.2.1`;
  const args = ["-shared", "-fPIC", "-O2", "-pthread", "-Wall", "-Wextra", "-Wl,-z,nodelete"];
  args.push("-o", path, SOURCE.pathname);
  const { code, stderr } = await new Deno.Command("cc", { args, stderr: "piped" }).output();
  if (code !== 0) {
    throw new Error(`cc failed compiling the libgdp double:\n${new TextDecoder().decode(stderr)}`);
  }
  return path;
}

function cString(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${s}\0`);
}

function bytes(data: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);
}

function load(path: string): LibgdpDouble {
  const s = Deno.dlopen(path, DOUBLE_SYMBOLS).symbols;
  const appendAt = (name: string, data: Uint8Array | string, ts: Timestamp): number => {
    const payload = bytes(data);
    const recno = Number(
      s.gdpdbl_append_at(
        cString(name),
        payload,
        BigInt(payload.length),
        BigInt(ts.sec),
        ts.nsec,
        ts.accuracy,
      ),
    );
    if (recno < 0) throw new Error(`the double has no log ${name}`);
    return recno;
  };
  return {
    path,
    createLog: (name) => {
      const created = s.gdpdbl_create_log(cString(name));
      if (created < 0) throw new Error(`bad log name ${name}`);
      return created === 1;
    },
    append: (name, data) => {
      const payload = bytes(data);
      const recno = Number(s.gdpdbl_append(cString(name), payload, BigInt(payload.length)));
      if (recno < 0) throw new Error(`the double has no log ${name}`);
      return recno;
    },
    raceAppend: (name, data) => {
      const payload = bytes(data);
      if (s.gdpdbl_race_append(cString(name), payload, BigInt(payload.length)) < 0) {
        throw new Error(`the double has no log ${name}`);
      }
    },
    appendAt,
    breakLink: (ms) => s.gdpdbl_break_link(Math.max(1, ms)),
    restoreLink: () => s.gdpdbl_break_link(0),
    endSubscriptions: (type) => s.gdpdbl_end_subscriptions(type),
    setReorder: (ms) => s.gdpdbl_set_reorder(ms),
    setLatency: (us) => s.gdpdbl_set_latency(us),
    setCallTimeout: (ms) => s.gdpdbl_set_call_timeout(ms),
    counters: () => {
      const out = new BigInt64Array(COUNTER_NAMES.length);
      s.gdpdbl_counters(out, out.length);
      return Object.fromEntries(
        COUNTER_NAMES.map((name, i) => [name, Number(out[i])]),
      ) as DoubleCounters;
    },
    reset: () => s.gdpdbl_reset(),
    dropLogs: () => {
      if (s.gdpdbl_drop_logs() < 0) throw new Error("the double still has open handles");
    },
    router: () => {
      const buf = new Uint8Array(256);
      const n = s.gdpdbl_router(buf, BigInt(buf.length));
      return new TextDecoder().decode(buf.subarray(0, Math.min(n, buf.length - 1)));
    },
  };
}

/**
 * A protocol-suite fixture on the double: fresh logs and a fresh backend for
 * each test. Logs are created and appended to as another GDP client would
 * (the backend only learns of them through libgdp), the first record after
 * each subscribe arrives late (as with the real libgdp), and teardown fails
 * the test if anything leaked or libgdp was misused.
 */
export async function libgdpFixture(): Promise<SuiteFixture> {
  return fixtureOn(await libgdpDouble());
}

async function fixtureOn(gdp: LibgdpDouble): Promise<SuiteFixture> {
  gdp.dropLogs();
  gdp.reset();
  gdp.setReorder(FIXTURE_REORDER_MS);
  const backend = await openLibgdpBackend({
    path: gdp.path,
    appendable: true,
    reorderHoldMs: FIXTURE_HOLD_MS,
  });
  return {
    backend,
    recordStat: '[200, "OK [200 = 0xc8]"]', // libgdp's own text, as the original gateway sent
    createLog: (name) => {
      gdp.createLog(name);
      return Promise.resolve();
    },
    append: (name, data) => {
      gdp.append(name, data);
      return Promise.resolve();
    },
    teardown: async () => {
      await backend.close();
      assertNoLeaks(gdp); // before reset(): it zeroes the misuse counters
      gdp.setReorder(0);
    },
  };
}

/** Delay of the first record after a subscribe, in the fixture. */
const FIXTURE_REORDER_MS = 30;
/** Shorter than the delay, so both the hold and the gap read are exercised. */
const FIXTURE_HOLD_MS = 10;

/**
 * Throws unless the binding freed every event it got and datum it made, left no
 * handle open but those holding a subscription (kept for good, by design:
 * docs/libgdp.md), and never misused libgdp.
 */
export function assertNoLeaks(gdp: LibgdpDouble): void {
  const c = gdp.counters();
  const problems = (
    ["eventsHeld", "datumsHeld", "doubleOpens", "badFrees", "badUses", "nextWithGin"] as const
  ).filter((key) => c[key] !== 0).map((key) => `${key}=${c[key]}`);
  if (c.openHandles > c.subscribedHandles) {
    problems.push(`${c.openHandles - c.subscribedHandles} handle(s) never subscribed left open`);
  }
  if (problems.length > 0) throw new Error(`libgdp double: ${problems.join(", ")}`);
}

let serial = 0;

/** A log name no other test of this module uses. */
export function uniqueLog(prefix = "test"): string {
  return `${prefix}.${++serial}.${crypto.randomUUID().slice(0, 8)}`;
}

/** What {@linkcode withLibgdpGateway} hands its body. */
export interface LibgdpGatewayContext {
  gdp: LibgdpDouble;
  backend: LibgdpBackend;
  gateway: Gateway;
}

/**
 * Runs `fn` with a gateway over a fresh libgdp backend on the double (fast
 * retries unless `options` say otherwise), then shuts it down and checks
 * that nothing leaked and libgdp was never misused.
 */
export async function withLibgdpGateway(
  options: Omit<LibgdpOptions, "path">,
  fn: (ctx: LibgdpGatewayContext) => Promise<void>,
): Promise<void> {
  const gdp = await libgdpDouble();
  gdp.dropLogs();
  gdp.reset();
  const backend = await openLibgdpBackend({ path: gdp.path, retryInitialMs: 20, ...options });
  const gateway = await serveForTest(backend);
  try {
    await fn({ gdp, backend, gateway });
  } finally {
    await gateway.shutdown();
  }
  assertNoLeaks(gdp);
}
