/**
 * What a test reads about a child process from /proc (the test runner has
 * --allow-all; the gateway under test does not need to): its memory and CPU.
 */

let clockTicks: number | undefined;

/** A `Vm*` line of /proc/PID/status in MiB: `VmRSS` (resident now) or `VmHWM` (peak). */
export function memoryMiB(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kB = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1];
  if (kB === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(kB) / 1024;
}

/** CPU time (user + system, every thread) the process has used so far, in ms. */
export function cpuMs(pid: number): number {
  clockTicks ??= Number(
    new TextDecoder().decode(
      new Deno.Command("getconf", { args: ["CLK_TCK"] }).outputSync().stdout,
    ),
  ) || 100;
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // utime and stime are fields 14 and 15 of proc(5); after the ")" the first field is field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1000 / clockTicks;
}
