/**
 * A stand-in for the executable `deno compile` would build. No machine here
 * can download the Deno runtime a compiled binary embeds, so scripts that
 * follow the install or rehearse a release take the command
 * `deno task compile --dry-run` prints and write, where the binary would be,
 * a shell script that runs that command's permission flags, script and baked
 * arguments under `deno run`: what the binary would run, under its grants.
 *
 * @example
 * ```ts
 * const printed = "deno compile --allow-net --output gdp-ws /repo/main.ts --baked-data=/var/lib/gdp-ws";
 * standInArgs(printed); // ["run", "--allow-net", "/repo/main.ts", "--baked-data=/var/lib/gdp-ws"]
 * await writeStandIn(printed, "/tmp/gdp-ws");
 * await writeStandIn(printed, "/tmp/host/usr/local/bin/gdp-ws", { root: "/tmp/host" });
 * ```
 *
 * @module
 */

/** The printed `deno compile` command's `--output`, and its `deno run` arguments. */
export interface CompileCommand {
  output: string;
  /** `run`, the permission flags, the script, the baked arguments. */
  run: string[];
}

/** Reads the one line `deno task compile` prints (paths have no spaces). */
export function parseCompile(printed: string): CompileCommand {
  const words = printed.trim().split(" ");
  const output = words.indexOf("--output");
  const script = words[output + 2];
  if (words[0] !== "deno" || words[1] !== "compile" || output < 0 || !script?.endsWith(".ts")) {
    throw new Error(`not a deno compile command: ${printed}`);
  }
  // The flags before --target/--output are the grants; --target only picks the runtime.
  const target = words.indexOf("--target");
  const flagsEnd = target >= 0 && target < output ? target : output;
  return {
    output: words[output + 1]!,
    run: ["run", ...words.slice(2, flagsEnd), script, ...words.slice(output + 3)],
  };
}

/** The `deno run` arguments a printed `deno compile` command's binary runs. */
export function standInArgs(printed: string): string[] {
  return parseCompile(printed).run;
}

/** Where a stand-in runs: `root` is a folder that stands for `/`. */
export interface StandInOptions {
  /**
   * The absolute paths in the grants and baked arguments are taken as under
   * this folder (the main script's path and /proc are left alone): a binary
   * built for /var/lib/gdp-ws uses ROOT/var/lib/gdp-ws.
   */
  root?: string;
}

/** Writes an executable script at `path` that runs `printed`'s binary under `deno run`. */
export async function writeStandIn(
  printed: string,
  path: string,
  options: StandInOptions = {},
): Promise<void> {
  const [run, ...args] = standInArgs(printed);
  const { root } = options;
  const rooted = root === undefined ? args : args.map((arg) => underRoot(arg, root));
  const quoted = [Deno.execPath(), run!, ...rooted].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  await Deno.writeTextFile(path, `#!/bin/sh\nexec ${quoted.join(" ")} "$@"\n`, { mode: 0o755 });
  // mode applies only when the file is created
  await Deno.chmod(path, 0o755);
}

/** A flag's absolute paths (`--allow-read=/a,/b`, `--baked-data=/a`) under `root`. */
function underRoot(arg: string, root: string): string {
  if (!arg.startsWith("--")) return arg; // the main script
  return arg.replace(/([=,])(\/[^,]*)/g, (_, sep: string, path: string) =>
    // /proc is the kernel's on any host
    path.startsWith("/proc/") ? `${sep}${path}` : `${sep}${root}${path}`);
}
