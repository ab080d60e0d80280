/**
 * The process's limit on open file descriptors, and where it was learnt. The
 * front door keeps every client connection inside a budget below it, because
 * a Deno process that reaches `EMFILE` can panic.
 *
 * Deno 2.9.6 refuses every read under `/proc` unless the process has
 * `--allow-all` (even a path `--allow-read` names), so the compiled binary
 * cannot read `/proc/self/limits`. In order:
 *
 * 1. `--fd-limit N`, given by the operator (the systemd unit passes its
 *    `LimitNOFILE`);
 * 2. `/proc/self/limits`, when it can be read (`deno run -A`);
 * 3. counted at start ({@linkcode probeFdLimit}): a folder the process may
 *    read (its data folder) is opened again and again until the system says
 *    `EMFILE` or there are as many as the gateway could ever use, then every
 *    one is closed — before anything else of the gateway holds a descriptor;
 * 4. an assumed limit for the OS ({@linkcode ASSUMED_FD_LIMITS}).
 *
 * Deno raises its soft `RLIMIT_NOFILE` to the hard limit at start, so the
 * limit that applies is the hard one; `ulimit -n N` and systemd's
 * `LimitNOFILE=N` set both.
 *
 * @example
 * ```ts
 * const { limit, source } = await fdLimit(); // { limit: 1024, source: "assumed" }
 * const given = await fdLimit(65536); // { limit: 65536, source: "flag" }
 * console.log(limit, source, given.limit);
 * ```
 *
 * @module
 */

/** The file read when it can be. */
export const LIMITS_FILE = "/proc/self/limits";

/**
 * What is assumed when the limit cannot be learnt. Linux: 1024 is the soft
 * limit shells and systemd services start with, and no distribution sets a
 * lower hard limit. macOS: 256 is launchd's default soft limit. Elsewhere
 * (Windows has no per-process descriptor limit for sockets; the BSDs default
 * far higher) 1024 is a safe floor. Each is low on purpose: too low a guess
 * refuses clients early and says so at start; too high a guess can kill the
 * process.
 */
export const ASSUMED_FD_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  linux: 1024,
  darwin: 256,
});
const ASSUMED_ELSEWHERE = 1024;

/**
 * Where the limit came from: the flag, `/proc/self/limits`, a count at start
 * (`probed`: exactly the descriptors that were free; `probed-floor`: at least
 * that many, all the gateway needs), or the OS's assumed limit.
 */
export type FdLimitSource = "flag" | "proc" | "probed" | "probed-floor" | "assumed";

export interface FdLimit {
  limit: number;
  source: FdLimitSource;
}

/** The limit the front door budgets for: `given` (`--fd-limit`) when set, else learnt or assumed. */
export async function fdLimit(given?: number): Promise<FdLimit> {
  if (given !== undefined) return { limit: given, source: "flag" };
  const read = await readLimitsFile();
  if (read !== undefined) return { limit: read, source: "proc" };
  return { limit: assumedFdLimit(), source: "assumed" };
}

/**
 * Counts the descriptors free now by opening `dir` (read-only) until `EMFILE`
 * or `cap` of them are open, then closes them all: the limit, as far as the
 * gateway is concerned, with what the process holds already taken away.
 * Undefined when `dir` cannot be opened. Run it before anything else opens
 * descriptors: for the moment it lasts, none is left. (A folder, not a file:
 * opening it changes nothing on disk. Deno's signal thread must be set up
 * before, by a signal listener: its lazy set-up needs descriptors of its own.)
 */
export function probeFdLimit(dir: string, cap: number): FdLimit | undefined {
  const open: Deno.FsFile[] = [];
  try {
    for (; open.length < cap;) open.push(Deno.openSync(dir, { read: true }));
    return { limit: open.length, source: "probed-floor" };
  } catch (error) {
    if (open.length === 0 || !isEmfile(error)) return undefined;
    return { limit: open.length, source: "probed" };
  } finally {
    for (const file of open) file.close();
  }
}

function isEmfile(error: unknown): boolean {
  return (error as { code?: string })?.code === "EMFILE" ||
    /Too many open files/.test(String(error));
}

/** The limit assumed on this OS. */
export function assumedFdLimit(os: string = Deno.build.os): number {
  return ASSUMED_FD_LIMITS[os] ?? ASSUMED_ELSEWHERE;
}

/** True when `/proc/self/limits` can be read (only with `--allow-all`, in Deno 2.9.6). */
export function readableLimitsFile(): boolean {
  // Asked first, so a run without the grant never prompts.
  if (Deno.permissions.querySync({ name: "read", path: LIMITS_FILE }).state !== "granted") {
    return false;
  }
  try {
    Deno.readTextFileSync(LIMITS_FILE);
    return true;
  } catch {
    return false;
  }
}

/** The soft open-files limit from `/proc/self/limits`, or undefined when it cannot be read. */
async function readLimitsFile(): Promise<number | undefined> {
  // Asked first, so a run without the grant never prompts.
  const { state } = await Deno.permissions.query({ name: "read", path: LIMITS_FILE });
  if (state !== "granted") return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(LIMITS_FILE);
  } catch {
    // NotCapable without --allow-all, even when the query said granted; no /proc elsewhere.
    return undefined;
  }
  const soft = text.match(/^Max open files\s+(\d+|unlimited)/m)?.[1];
  if (soft === undefined) return undefined;
  return soft === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(soft);
}
