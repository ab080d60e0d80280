/**
 * The real GDP stack of `../shared/gdp` (gdp-local: libgdp 2.1.12, gdplogd2,
 * a stand-in router, HONGD on MariaDB), as the real-GDP tests see it: whether
 * it is there, fresh logs by `gdp-local mklog`, records by GDP's own
 * `gdp-writer`, and link-loss injection.
 *
 * The suite is active only when `eval "$(gdp-local env)"` has set `GDP_LIB`
 * (and `GDP_LOCAL_DIR`) and the router answers on 127.0.0.1:8009;
 * {@linkcode skipReason} says why not otherwise. Fault injection (router
 * restart, gdplogd stop/start) disturbs every user of the stack, so it also
 * needs `GDP_LOCAL_FAULTS=1`, which `.ci/run` sets.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The stand-in router's fixed address (gdp-local README). */
export const ROUTER = { hostname: "127.0.0.1", port: 8009 } as const;

/** How to bring the stack into this shell, for skip messages. */
const HOW = 'run .ci/run, or gdp-local up and eval "$(../shared/gdp/gdp-local env)"';

/** `GDP_LIB`: the real libgdp.so.2.1. */
export const GDP_LIB = Deno.env.get("GDP_LIB") ?? "";

/** The gdp-local script: beside `lib/` of GDP_LIB, else ../shared/gdp beside the repository. */
export const GDP_LOCAL = locateGdpLocal();

function locateGdpLocal(): string {
  const besideLib = GDP_LIB ? join(dirname(dirname(GDP_LIB)), "gdp-local") : "";
  if (besideLib && existsSync(besideLib)) return besideLib;
  const repo = fileURLToPath(new URL("../..", import.meta.url));
  return join(repo, "..", "shared", "gdp", "gdp-local");
}

async function routerListens(): Promise<boolean> {
  try {
    const conn = await Deno.connect(ROUTER);
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function findSkipReason(): Promise<string | undefined> {
  if (!GDP_LIB) return `GDP_LIB not set (${HOW})`;
  if (!existsSync(GDP_LIB)) return `GDP_LIB=${GDP_LIB} does not exist (${HOW})`;
  if (!Deno.env.get("EP_PARAM_PATH")) return `EP_PARAM_PATH not set (${HOW})`;
  if (!existsSync(GDP_LOCAL)) return `no gdp-local script at ${GDP_LOCAL}`;
  if (!await routerListens()) {
    return `no GDP router on ${ROUTER.hostname}:${ROUTER.port} (${HOW})`;
  }
  return undefined;
}

/** Why the real-GDP suite cannot run here, or undefined when it can. */
export const skipReason: string | undefined = await findSkipReason();

/** Why the fault-injection tests do not run here, or undefined when they do. */
export const faultSkipReason: string | undefined = skipReason ??
  (Deno.env.get("GDP_LOCAL_FAULTS") === "1"
    ? undefined
    : "GDP_LOCAL_FAULTS=1 not set (router and gdplogd restarts disturb every user of the stack; .ci/run sets it)");

/**
 * Registers the tests of one file, or, when the stack is absent, one ignored
 * test whose name says why (one line per file, not one per test).
 */
export async function realGdpTests(
  reason: string | undefined,
  register: () => void | Promise<void>,
): Promise<void> {
  if (reason === undefined) await register();
  else Deno.test({ name: `real GDP: skipped: ${reason}`, ignore: true, fn: () => {} });
}

/** A name no other run or test uses: `t.<run>.<n>.<label>`. */
export function uniqueLogName(label: string): string {
  return `t.${RUN}.${++sequence}.${label}`;
}

const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
let sequence = 0;

/** Output of a finished command. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Longest a stack command may take (mklog waits up to 60 s for its lock, then 10 s). */
const COMMAND_TIMEOUT_MS = 90_000;

async function run(cmd: string, args: string[], stdin?: Uint8Array): Promise<Ran> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), COMMAND_TIMEOUT_MS);
  const out = await child.output().finally(() => clearTimeout(timer));
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

async function gdpLocal(...args: string[]): Promise<string> {
  const out = await run(GDP_LOCAL, args);
  if (out.code !== 0) {
    throw new Error(`gdp-local ${args.join(" ")} failed (${out.code}): ${out.stderr.trim()}`);
  }
  return out.stdout;
}

/** A log created on the local gdplogd and registered in HONGD. */
export interface RealLog {
  /** The human name (resolved through HONGD). */
  name: string;
  /** The 43-character internal GDPname. */
  gdpname: string;
}

/** `gdp-local mklog NAME`: returns once the log is usable by name (serialized, ~0.3 s each). */
export async function mklog(name: string): Promise<RealLog> {
  const [human, gdpname] = (await gdpLocal("mklog", name)).trim().split(" ");
  if (human !== name || !gdpname || gdpname.length !== 43) {
    throw new Error(`gdp-local mklog ${name} printed an unexpected line`);
  }
  return { name, gdpname };
}

/** `mklog` for `count` fresh names with this label. */
export async function mklogs(label: string, count: number): Promise<RealLog[]> {
  const logs: RealLog[] = [];
  for (let i = 0; i < count; i++) logs.push(await mklog(uniqueLogName(`${label}${i}`)));
  return logs;
}

/**
 * Appends one record per line with GDP's own `gdp-writer` (lines of at most
 * 199 bytes; the tool sleeps 100 ms before writing).
 */
export async function gdpWrite(name: string, lines: string[]): Promise<void> {
  const input = new TextEncoder().encode(lines.map((l) => `${l}\n`).join(""));
  const out = await run("gdp-writer", ["-q", "--", name], input);
  if (out.code !== 0) throw new Error(`gdp-writer ${name} failed (${out.code}): ${out.stderr}`);
}

/** `gdp-reader -t -f FROM -n COUNT NAME`: the records' text as GDP's own reader prints it. */
export async function gdpRead(name: string, from: number, count: number): Promise<string> {
  const out = await run("gdp-reader", ["-t", "-f", `${from}`, "-n", `${count}`, "--", name]);
  if (out.code !== 0) throw new Error(`gdp-reader ${name} failed (${out.code}): ${out.stderr}`);
  return out.stdout;
}

/** Link-loss injection (only with {@linkcode faultSkipReason} undefined). */
export const faults = {
  /** A new router with no routes; gdplogd and clients reconnect within ~1 s. */
  restartRouter: () => gdpLocal("restart-router"),
  /** gdplogd gone: opens fail with 600, subscriptions live only in its memory. */
  stopLogd: () => gdpLocal("stop-logd"),
  startLogd: () => gdpLocal("start-logd"),
};

/**
 * Serializes the real-GDP tests against the fault-injecting ones across the
 * parallel test workers (an flock on one file): ordinary tests share the
 * stack, a fault test has it alone. Resolves to the unlock function.
 */
export async function lockStack(mode: "shared" | "exclusive"): Promise<() => void> {
  const file = await Deno.open(LOCK_PATH, { create: true, write: true });
  try {
    await file.lock(mode === "exclusive");
  } catch (error) {
    file.close();
    throw error;
  }
  return () => file.close(); // closing releases the lock
}

/** Runs `fn` holding the stack lock in `mode`. */
export async function withStack<T>(mode: "shared" | "exclusive", fn: () => Promise<T>): Promise<T> {
  const unlock = await lockStack(mode);
  try {
    return await fn();
  } finally {
    unlock();
  }
}

const LOCK_PATH = join(Deno.env.get("TMPDIR") ?? "/tmp", "gdp-ws-real-gdp.lock");
