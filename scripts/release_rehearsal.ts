/**
 * Rehearses the release job of .github/workflows/release.yml on this machine,
 * for a tag (by default `v` + deno.json's version), as far as it can run here:
 *
 * - the checkout is a copy of this working tree (tracked and untracked files
 *   that git does not ignore) in ROOT/workspace;
 * - `actions/setup-node` is the machine's Node, `npm install -g deno@V` must
 *   name the Deno running this script (nothing is installed);
 * - `deno task compile` runs the real task with `--dry-run` and leaves
 *   stand-in binaries (scripts/release_shims.ts): the Deno runtime a binary
 *   embeds cannot be downloaded here;
 * - `gh release create` records what it would publish instead.
 *
 * Every other command of the job runs as written: the version check, the
 * release notes, `--version` on the linux x64 stand-in, the kit archive and
 * SHA256SUMS. The job's files end up in ROOT/workspace/dist.
 *
 *   deno run -A scripts/release_rehearsal.ts [ROOT] [--tag vX.Y.Z]
 *
 * @example
 * ```ts
 * const rehearsal = await rehearseRelease(await Deno.makeTempDir());
 * console.log(rehearsal.failed?.name ?? rehearsal.release?.files);
 * ```
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { changelogSections } from "./release_notes.ts";
import {
  readRecordedCompiles,
  readRecordedRelease,
  type RecordedRelease,
} from "./release_shims.ts";
import { readWorkflow, runJob, type Step, type StepResult } from "./workflow_steps.ts";

const REPO = resolve(import.meta.dirname!, "..");
const SHIMS = join(import.meta.dirname!, "release_shims.ts");
/** The job this rehearses; `test` runs the test suite, which is what calls this. */
const JOB = "release";

export interface RehearsalOptions {
  /** The pushed tag (default `v` + deno.json's version). */
  tag?: string;
  /** Changes the checked-out copy before the job runs. */
  prepare?: (workspace: string) => Promise<void>;
  /**
   * Between releases deno.json's version may have no CHANGELOG.md section yet:
   * then the copy's [Unreleased] becomes it, dated today, as the release
   * commit would do.
   */
  releaseUnreleased?: boolean;
  /** A folder that stands for `/` to the stand-in binaries (scripts/stand_in.ts). */
  hostRoot?: string;
  /** Each step's result as it ends. */
  onStep?: (result: StepResult) => void;
}

export interface Rehearsal {
  /** The checkout; the job's files are in its dist/. */
  workspace: string;
  steps: StepResult[];
  /** The step that failed; nothing after it ran. */
  failed?: StepResult;
  /** The `deno compile` commands the job's `deno task compile` calls printed. */
  compiles: string[];
  /** What `gh release create` would have published. */
  release?: RecordedRelease;
}

/** Runs the release job in ROOT (an empty folder); see the module doc. */
export async function rehearseRelease(
  root: string,
  options: RehearsalOptions = {},
): Promise<Rehearsal> {
  const workspace = join(root, "workspace");
  const bin = join(root, "bin");
  const log = join(root, "log");
  const temp = join(root, "runner_temp");
  for (const folder of [bin, log, temp]) await Deno.mkdir(folder, { recursive: true });
  await checkout(workspace);
  const version = JSON.parse(await Deno.readTextFile(join(workspace, "deno.json"))).version;
  if (options.releaseUnreleased) await releaseUnreleased(workspace, version);
  await options.prepare?.(workspace);
  await writeShims(bin);
  const tag = options.tag ?? `v${version}`;
  const workflow = await readWorkflow(join(workspace, ".github/workflows/release.yml"));
  const run = await runJob(workflow, JOB, {
    workspace,
    temp,
    github: {
      ref_name: tag,
      ref: `refs/tags/${tag}`,
      token: "rehearsal",
      repository: "gdp/gdp-ws",
    },
    env: {
      ...machineEnv(bin, log),
      ...(options.hostRoot ? { REHEARSAL_HOST_ROOT: options.hostRoot } : {}),
    },
    action: standInAction,
  }, options.onStep);
  const release = await readRecordedRelease(log);
  return {
    workspace,
    steps: run.steps,
    ...(run.failed ? { failed: run.failed } : {}),
    compiles: await readRecordedCompiles(log),
    ...(release ? { release } : {}),
  };
}

/** The working tree as a fresh clone of it would have it (ignored files left out). */
async function checkout(workspace: string): Promise<void> {
  const listed = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (listed.code !== 0) {
    throw new Error(`git ls-files in ${REPO}: ${new TextDecoder().decode(listed.stderr)}`);
  }
  const files = new TextDecoder().decode(listed.stdout).split("\0").filter((f) => f);
  for (const file of files) {
    const from = join(REPO, file);
    const info = await Deno.lstat(from).catch(() => undefined);
    if (!info?.isFile) continue; // deleted in the working tree, or a submodule
    await Deno.mkdir(dirname(join(workspace, file)), { recursive: true });
    await Deno.copyFile(from, join(workspace, file));
  }
}

async function releaseUnreleased(workspace: string, version: string): Promise<void> {
  const file = join(workspace, "CHANGELOG.md");
  const text = await Deno.readTextFile(file);
  if (changelogSections(text).some((s) => s.name === version)) return;
  const today = new Date().toISOString().slice(0, 10);
  await Deno.writeTextFile(
    file,
    text.replace(/^## \[Unreleased\]$/m, `## [${version}] - ${today}`),
  );
}

/** deno, npm and gh as the rehearsal has them; everything else is the machine's. */
async function writeShims(bin: string): Promise<void> {
  const deno = quote(Deno.execPath());
  const shims = quote(SHIMS);
  const scripts: Record<string, string> = {
    deno: `if [ "$1" = task ] && [ "$2" = compile ]; then
  shift 2
  exec ${deno} run --allow-all ${shims} compile "$@"
fi
exec ${deno} "$@"`,
    npm: `if [ "$*" = "install -g deno@${Deno.version.deno}" ]; then
  echo "rehearsal: deno ${Deno.version.deno} is the one running the rehearsal"
  exit 0
fi
echo "rehearsal: npm $* is not rehearsed (this machine runs deno ${Deno.version.deno})" >&2
exit 1`,
    gh: `exec ${deno} run --allow-all ${shims} gh "$@"`,
  };
  for (const [name, body] of Object.entries(scripts)) {
    await Deno.writeTextFile(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
}

function quote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

/** The environment a runner's step starts from: this machine's basics, the shims first. */
function machineEnv(bin: string, log: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    REHEARSAL_LOG: log,
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    LANG: "C.UTF-8",
  };
  for (const name of ["HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** The two actions the release job uses; the rehearsal's machine stands in for both. */
function standInAction(step: Step): string {
  const action = step.uses?.split("@")[0];
  if (action === "actions/checkout") return "rehearsal: the working tree was copied";
  if (action === "actions/setup-node") return "rehearsal: this machine's node";
  throw new Error(`the rehearsal has no stand-in for ${step.uses}`);
}

if (import.meta.main) {
  const args = [...Deno.args];
  const tagAt = args.indexOf("--tag");
  const tag = tagAt >= 0 ? args.splice(tagAt, 2)[1] : undefined;
  const root = args[0] ?? await Deno.makeTempDir({ prefix: "gdp-ws-release-" });
  const rehearsal = await rehearseRelease(root, {
    ...(tag ? { tag } : {}),
    releaseUnreleased: true,
    onStep: (step) => console.log(`== ${step.name}: exit ${step.code}\n${step.output.trimEnd()}`),
  });
  if (rehearsal.failed) {
    console.error(`the release job failed at "${rehearsal.failed.name}"`);
    Deno.exit(1);
  }
  console.log(`rehearsed; the release's files are in ${join(rehearsal.workspace, "dist")}`);
}
