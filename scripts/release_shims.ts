/**
 * What stands in for the two commands of the release job that cannot run on
 * this machine, when scripts/release_rehearsal.ts puts them on its PATH:
 *
 * - `deno task compile ARGS` runs as `deno task compile ARGS --dry-run` (the
 *   real task, printing the real `deno compile` command), then leaves a
 *   stand-in binary at `--output` (scripts/stand_in.ts), since the Deno
 *   runtime a binary embeds cannot be downloaded here;
 * - `gh release create …` checks that every file it would upload is there and
 *   records its arguments and notes instead of publishing.
 *
 * Both append what they did to `$REHEARSAL_LOG` (a folder) for the rehearsal
 * to read back. With `$REHEARSAL_HOST_ROOT`, the stand-in binaries use their
 * paths under that folder (scripts/follow_install.ts's gateway host):
 *
 *   deno run -A scripts/release_shims.ts compile --target T --output dist/gdp-ws
 *   deno run -A scripts/release_shims.ts gh release create v0.1.0 --notes-file N dist/*
 *
 * @example
 * ```ts
 * const release = await readRecordedRelease("/tmp/rehearsal/log");
 * console.log(release?.args.join(" "));
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseCompile, writeStandIn } from "./stand_in.ts";

/** What the stand-in `gh release create` was asked to publish. */
export interface RecordedRelease {
  /** The arguments after `gh`. */
  args: string[];
  tag: string;
  title: string;
  /** The notes file's text. */
  notes: string;
  /** The files to upload, as given (relative to the job's working folder). */
  files: string[];
  /** Whether GH_TOKEN was set, as `gh` needs in a workflow. */
  token: boolean;
}

const COMPILES = "compiles.txt";
const RELEASE = "release.json";

/** The `deno compile` commands the stand-in task printed, in order. */
export async function readRecordedCompiles(log: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(log, COMPILES)).catch(() => "");
  return text.split("\n").filter((line) => line);
}

/** The release the stand-in `gh` recorded, if it was called. */
export async function readRecordedRelease(log: string): Promise<RecordedRelease | undefined> {
  const text = await Deno.readTextFile(join(log, RELEASE)).catch(() => undefined);
  return text === undefined ? undefined : JSON.parse(text) as RecordedRelease;
}

async function compile(log: string, args: string[]): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile", ...args, "--dry-run"],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const printed = new TextDecoder().decode(out.stdout).trim();
  console.log(printed);
  if (out.code !== 0) return out.code;
  await Deno.writeTextFile(join(log, COMPILES), `${printed}\n`, { append: true });
  // Where deno compile would write the binary; its folder must exist already.
  const output = resolve(parseCompile(printed).output);
  const root = Deno.env.get("REHEARSAL_HOST_ROOT");
  await writeStandIn(printed, output, root ? { root } : {});
  console.log(`(rehearsal: ${output} is a stand-in that runs this under deno run)`);
  return 0;
}

/** `gh release create TAG [FILES…] --title T --notes-file F [--verify-tag]`. */
async function gh(log: string, args: string[]): Promise<number> {
  if (args[0] !== "release" || args[1] !== "create" || !args[2] || args[2].startsWith("-")) {
    console.error(`rehearsal: gh ${args.join(" ")} is not rehearsed`);
    return 1;
  }
  const values = new Map<string, string>();
  const files: string[] = [];
  for (let i = 3; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--verify-tag") continue;
    if (arg === "--title" || arg === "--notes-file") {
      const value = args[++i];
      if (value === undefined) {
        console.error(`rehearsal: gh ${arg} needs a value`);
        return 1;
      }
      values.set(arg, value);
    } else if (arg.startsWith("-")) {
      console.error(`rehearsal: gh release create ${arg} is not rehearsed`);
      return 1;
    } else {
      files.push(arg);
    }
  }
  for (const file of files) {
    if (!(await Deno.stat(file).catch(() => undefined))?.isFile) {
      console.error(`rehearsal: gh release create: ${file} is not a file`);
      return 1;
    }
  }
  const notesFile = values.get("--notes-file");
  const release: RecordedRelease = {
    args,
    tag: args[2],
    title: values.get("--title") ?? "",
    notes: notesFile === undefined ? "" : await Deno.readTextFile(notesFile),
    files,
    token: !!Deno.env.get("GH_TOKEN"),
  };
  await Deno.writeTextFile(join(log, RELEASE), JSON.stringify(release, null, 2));
  console.log(`rehearsal: gh would publish ${release.tag} with ${files.join(" ")}`);
  return 0;
}

if (import.meta.main) {
  const [mode, ...args] = Deno.args;
  const log = Deno.env.get("REHEARSAL_LOG");
  if (!log) throw new Error("REHEARSAL_LOG is not set: run this through release_rehearsal.ts");
  if (mode === "compile") Deno.exit(await compile(log, args));
  if (mode === "gh") Deno.exit(await gh(log, args));
  throw new Error(`unknown mode ${mode}`);
}
