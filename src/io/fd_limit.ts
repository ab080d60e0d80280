/**
 * The process's soft limit on open file descriptors (`ulimit -n`), read from
 * `/proc/self/limits` (Linux). The compiled binary is granted read access to
 * that one file; elsewhere, or without the grant, the limit is unknown and the
 * gateway says so at start.
 *
 * @example
 * ```ts
 * const limit = await fdLimit(); // 1024, or undefined
 * ```
 *
 * @module
 */

/** The file read; src/cli/permissions.ts grants it. */
export const LIMITS_FILE = "/proc/self/limits";

/** The soft open-files limit, or undefined when it cannot be read. */
export async function fdLimit(): Promise<number | undefined> {
  // Asked first, so a run without the grant never prompts.
  const { state } = await Deno.permissions.query({ name: "read", path: LIMITS_FILE });
  if (state !== "granted") return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(LIMITS_FILE);
  } catch {
    return undefined;
  }
  const soft = text.match(/^Max open files\s+(\d+|unlimited)/m)?.[1];
  if (soft === undefined) return undefined;
  return soft === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(soft);
}
