/**
 * What the benchmark reads out of /proc: a process's CPU time and memory, and
 * the machine's CPU counters (to report iowait and steal during a run).
 *
 * @module
 */

import { output } from "./process.ts";

let clockTicks = 100;

/** Reads the kernel's clock tick rate once (CPU times in /proc are in ticks). */
export async function initClock(): Promise<void> {
  clockTicks = Number(await output("getconf", ["CLK_TCK"])) || 100;
}

/** CPU time (user + system, all threads) a process has used so far, in ms. */
export function processCpuMs(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return NaN;
  }
}

/** The machine-wide CPU tick counters of /proc/stat: total, iowait and steal. */
export function cpuTicks(): { total: number; iowait: number; steal: number } {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    return { total: t.slice(0, 8).reduce((a, b) => a + b, 0), iowait: t[4]!, steal: t[7]! };
  } catch {
    return { total: NaN, iowait: NaN, steal: NaN };
  }
}

/** A `Vm*` line of /proc/PID/status in MiB: `VmHWM` (peak resident) or `VmRSS` (resident now). */
export function memoryMb(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}
