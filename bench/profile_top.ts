/**
 * What dominates a gateway's CPU profile: sums the self time (and, with
 * `--inclusive`, the total time) of each function, or of each file, over one
 * or more `.cpuprofile` files written by `deno task bench --profile DIR`, and
 * prints the top of the list.
 *
 * A profile covers the gateway's whole life: start-up (compiling), the row's
 * set-up, the measured run and the teardown. `--window S` keeps only the S
 * seconds with the most busy time (for a throughput row, its measured run).
 * `(idle)` is the event loop waiting; percentages are of the busy time.
 *
 * @example
 * ```ts
 * const profile = JSON.parse(await Deno.readTextFile("/tmp/prof/row.cpuprofile")) as CpuProfile;
 * for (const row of summarize([profile], { by: "function", windowS: 4 }).rows.slice(0, 10)) {
 *   console.log(row.selfMs.toFixed(1), row.key);
 * }
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

/** The parts of V8's `.cpuprofile` format read here. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  /** The node on top of the stack at each sample. */
  samples: number[];
  /** µs from the previous sample (the first: from `startTime`). */
  timeDeltas: number[];
}

/** One function (or file) and the time spent in it. */
export interface TopRow {
  key: string;
  /** On top of the stack, in ms. */
  selfMs: number;
  /** Anywhere on the stack (counted once per sample however deep the recursion), in ms. */
  totalMs: number;
}

export interface Summary {
  /** Samples in the kept window. */
  samples: number;
  /** Time sampled in the kept window, in ms, and of it the time not idle. */
  sampledMs: number;
  busyMs: number;
  /** Most self time first. */
  rows: TopRow[];
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const IDLE = "(idle)";

/** Where a function lives, short: the checkout's own files relative, npm packages by name. */
function place(url: string, line: number): string {
  if (!url) return "";
  let short = url.replace(/^file:\/\//, "");
  if (short.startsWith(ROOT)) short = short.slice(ROOT.length);
  short = short.replace(/^.*\/node_modules\/|^.*\/registry\.npmjs\.org\//, "npm:");
  return line >= 0 ? `${short}:${line + 1}` : short;
}

/** The self and total time of every function (or file) in `profiles`, summed. */
export function summarize(
  profiles: CpuProfile[],
  options: { by: "function" | "file"; windowS: number; count?: boolean },
): Summary {
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let samples = 0;
  let sampledMs = 0;
  let busyMs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) {
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    const keyOf = (id: number): string => {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      const name = functionName || "(anonymous)";
      // A native function (SQLite's exec, an op) is named by the JS function that called it.
      const caller = parent.get(id);
      if (!url && !name.startsWith("(") && caller !== undefined) {
        const from = keyOf(caller);
        return options.by === "file" ? from : `${name} ← ${from}`;
      }
      if (options.by === "file") return url ? place(url, -1) : name;
      const where = place(url, lineNumber);
      return `${name}${where ? ` ${where}` : ""}`;
    };
    // A sample lasts until the next one (as DevTools counts it); the last gets the median.
    // With `count`, every sample lasts the median interval: a thread that was descheduled
    // took no samples meanwhile, so the time counted is nearer to its CPU time.
    const n = profile.samples.length;
    const at: number[] = [];
    let t = 0;
    for (const delta of profile.timeDeltas) at.push(t += delta);
    const intervals = profile.timeDeltas.slice(1).sort((a, b) => a - b);
    const median = intervals[Math.floor(intervals.length / 2)] ?? 0;
    const duration = (i: number) => !options.count && i + 1 < n ? at[i + 1]! - at[i]! : median;
    const busy = (i: number) => byId.get(profile.samples[i]!)?.callFrame.functionName !== IDLE;
    const [from, to] = busiestWindow(n, at, duration, busy, options.windowS * 1e6);
    samples += to - from;
    for (let i = from; i < to; i++) {
      const us = duration(i);
      sampledMs += us / 1000;
      const top = profile.samples[i]!;
      const key = keyOf(top);
      self.set(key, (self.get(key) ?? 0) + us / 1000);
      if (!busy(i)) continue;
      busyMs += us / 1000;
      const seen = new Set<string>();
      for (let id: number | undefined = top; id !== undefined; id = parent.get(id)) {
        const k = keyOf(id);
        if (seen.has(k)) continue;
        seen.add(k);
        total.set(k, (total.get(k) ?? 0) + us / 1000);
      }
    }
  }
  const rows = [...self].map(([key, selfMs]) => ({ key, selfMs, totalMs: total.get(key) ?? 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return { samples, sampledMs, busyMs, rows };
}

/**
 * The samples `[from, to)` of the `windowUs` µs with the most busy time (all of them when
 * `windowUs` is 0 or longer than the profile).
 */
function busiestWindow(
  n: number,
  at: number[],
  duration: (i: number) => number,
  busy: (i: number) => boolean,
  windowUs: number,
): [number, number] {
  if (windowUs <= 0 || n === 0 || at[n - 1]! - at[0]! <= windowUs) return [0, n];
  let best = [0, 0, -1];
  let sum = 0;
  let from = 0;
  for (let to = 0; to < n; to++) {
    if (busy(to)) sum += duration(to);
    while (at[to]! - at[from]! > windowUs) {
      if (busy(from)) sum -= duration(from);
      from++;
    }
    if (sum > best[2]!) best = [from, to + 1, sum];
  }
  return [best[0]!, best[1]!];
}

const HELP = `Usage: deno run --allow-read bench/profile_top.ts FILE.cpuprofile... [options]

  --top N        rows to print (default 30)
  --by file      sum by file instead of by function
  --window S     only the S seconds with the most busy time (e.g. 4: a throughput row's run)
  --inclusive    sort by total time (the function and what it calls) instead of self time
  --count        every sample weighs the median interval instead of the time to the next one:
                 nearer to CPU time when the thread was descheduled (two shared cores)`;

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      top: { type: "string", default: "30" },
      by: { type: "string", default: "function" },
      window: { type: "string", default: "0" },
      inclusive: { type: "boolean", default: false },
      count: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  if (values.help || positionals.length === 0 || !["function", "file"].includes(values.by)) {
    console.log(HELP);
    Deno.exit(values.help ? 0 : 2);
  }
  const profiles = await Promise.all(
    positionals.map(async (file) => JSON.parse(await Deno.readTextFile(file)) as CpuProfile),
  );
  const summary = summarize(profiles, {
    by: values.by as "function" | "file",
    windowS: Number(values.window),
    count: values.count,
  });
  const rows = values.inclusive
    ? [...summary.rows].sort((a, b) => b.totalMs - a.totalMs)
    : summary.rows;
  const pct = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1)}%`.padStart(6);
  const ms = (value: number) => value.toFixed(1).padStart(9);
  console.log(
    `${summary.samples} samples, ${summary.sampledMs.toFixed(0)} ms sampled, ` +
      `${summary.busyMs.toFixed(0)} ms busy ` +
      `(${((100 * summary.busyMs) / summary.sampledMs).toFixed(0)}%); % of busy time`,
  );
  console.log(`  self ms  self %  total ms total %  ${values.by}`);
  for (const row of rows.slice(0, Number(values.top))) {
    if (row.key.startsWith(IDLE)) continue;
    console.log(
      `${ms(row.selfMs)} ${pct(row.selfMs)} ${ms(row.totalMs)} ${pct(row.totalMs)}  ${row.key}`,
    );
  }
}
