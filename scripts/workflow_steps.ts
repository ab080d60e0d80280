/**
 * Runs the `run:` steps of one GitHub Actions job on this machine, as a runner
 * would: in order, under bash with the flags Actions gives it, each with the
 * workflow's, the job's and the step's `env:`, `$GITHUB_OUTPUT` read back into
 * `steps.ID.outputs`, `$GITHUB_ENV` carried to later steps, stopping at the
 * first failing step. It knows only what this project's workflows use, and
 * refuses the rest (`if:`, `working-directory:`, an expression it cannot
 * evaluate, an expression inside a script) instead of guessing. A `uses:` step
 * is handed to the caller, which says what stands in for it.
 *
 * @example
 * ```ts
 * const workflow = await readWorkflow(".github/workflows/release.yml");
 * const run = await runJob(workflow, "release", {
 *   workspace: Deno.cwd(),
 *   temp: await Deno.makeTempDir(),
 *   github: { ref_name: "v0.1.0", ref: "refs/tags/v0.1.0", token: "t", repository: "o/gdp-ws" },
 *   env: { PATH: Deno.env.get("PATH") ?? "" },
 *   action: (step) => `skipped ${step.uses}`,
 * });
 * console.log(run.failed?.name ?? "every step passed");
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parse } from "yaml";

/** A step of a job, as far as this runner reads it. */
export interface Step {
  name?: string;
  id?: string;
  uses?: string;
  with?: Record<string, unknown>;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
  [key: string]: unknown;
}

/** A job, as far as this runner reads it. */
export interface Job {
  "runs-on"?: string;
  needs?: string | string[];
  permissions?: unknown;
  env?: Record<string, string>;
  defaults?: { run?: { shell?: string } };
  steps: Step[];
  [key: string]: unknown;
}

/** A workflow file. */
export interface Workflow {
  name?: string;
  on: unknown;
  permissions?: unknown;
  env?: Record<string, string>;
  defaults?: { run?: { shell?: string } };
  jobs: Record<string, Job>;
}

/** Parses a workflow file; a file without jobs and steps is an error. */
export async function readWorkflow(path: string): Promise<Workflow> {
  const workflow = parse(await Deno.readTextFile(path)) as Workflow | null;
  if (typeof workflow?.jobs !== "object" || workflow.jobs === null) {
    throw new Error(`${path} has no jobs`);
  }
  for (const [name, job] of Object.entries(workflow.jobs)) {
    if (!Array.isArray(job?.steps)) throw new Error(`${path}: job ${name} has no steps`);
  }
  return workflow;
}

/** The `github` context values the workflows read. */
export interface GithubContext {
  ref_name: string;
  ref: string;
  token: string;
  repository: string;
}

export interface RunnerContext {
  /** `$GITHUB_WORKSPACE`: the checkout, each step's working directory. */
  workspace: string;
  /** `$RUNNER_TEMP`. */
  temp: string;
  github: GithubContext;
  /** The machine's environment (PATH, HOME, …): nothing else reaches the steps. */
  env: Record<string, string>;
  /** What stands in for a `uses:` step: a line saying so, or a throw. */
  action(step: Step): string | Promise<string>;
}

export interface StepResult {
  name: string;
  /** Exit status; 0 for a `uses:` step. */
  code: number;
  /** Standard output, then standard error. */
  output: string;
}

export interface JobRun {
  steps: StepResult[];
  /** The step that failed; the steps after it did not run. */
  failed?: StepResult;
}

const KNOWN_STEP_KEYS = new Set(["name", "id", "uses", "with", "run", "shell", "env"]);
const EXPRESSION = /\$\{\{\s*([^}]*?)\s*\}\}/g;

/** Runs job `jobName` of `workflow`, step by step, until one fails. */
export async function runJob(
  workflow: Workflow,
  jobName: string,
  ctx: RunnerContext,
  onStep: (result: StepResult) => void = () => {},
): Promise<JobRun> {
  const job = workflow.jobs[jobName];
  if (!job) throw new Error(`the workflow has no job ${jobName}`);
  const outputs = new Map<string, Record<string, string>>();
  const carried: Record<string, string> = {};
  const steps: StepResult[] = [];
  for (const [index, step] of job.steps.entries()) {
    const unknown = Object.keys(step).filter((key) => !KNOWN_STEP_KEYS.has(key));
    if (unknown.length > 0) {
      throw new Error(`step ${index + 1}: ${unknown.join(", ")} not rehearsed`);
    }
    const name = step.name ?? step.uses ?? step.run?.split("\n")[0] ?? `step ${index + 1}`;
    const evaluate = (value: string) => substitute(value, ctx, outputs);
    const env: Record<string, string> = {
      ...ctx.env,
      CI: "true",
      GITHUB_ACTIONS: "true",
      GITHUB_WORKSPACE: ctx.workspace,
      GITHUB_REF: ctx.github.ref,
      GITHUB_REF_NAME: ctx.github.ref_name,
      GITHUB_REPOSITORY: ctx.github.repository,
      RUNNER_TEMP: ctx.temp,
      ...mapValues(workflow.env, evaluate),
      ...mapValues(job.env, evaluate),
      ...carried,
      ...mapValues(step.env, evaluate),
    };
    let result: StepResult;
    if (step.uses !== undefined) {
      result = { name, code: 0, output: await ctx.action(step) };
    } else if (typeof step.run === "string") {
      if (step.run.includes("${{")) {
        throw new Error(`step "${name}": an expression in a script; pass it through env:`);
      }
      const shell = step.shell ?? job.defaults?.run?.shell ?? workflow.defaults?.run?.shell;
      const files = await stepFiles(ctx.temp, index);
      result = await runScript(name, step.run, shell, ctx.workspace, { ...env, ...files });
      outputs.set(step.id ?? `#${index}`, await readKeyValues(files.GITHUB_OUTPUT));
      Object.assign(carried, await readKeyValues(files.GITHUB_ENV));
    } else {
      throw new Error(`step "${name}" has neither uses: nor run:`);
    }
    steps.push(result);
    onStep(result);
    if (result.code !== 0) return { steps, failed: result };
  }
  return { steps };
}

function mapValues(
  values: Record<string, string> | undefined,
  fn: (value: string) => string,
): Record<string, string> {
  return Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [k, fn(String(v))]));
}

/** Replaces each `${{ … }}` in an env value; one it does not know is an error. */
function substitute(
  value: string,
  ctx: RunnerContext,
  outputs: ReadonlyMap<string, Record<string, string>>,
): string {
  return value.replace(EXPRESSION, (_, expression: string) => {
    const github = /^github\.(ref_name|ref|token|repository)$/.exec(expression);
    if (github) return ctx.github[github[1] as keyof GithubContext];
    if (expression === "secrets.GITHUB_TOKEN") return ctx.github.token;
    if (expression === "runner.temp") return ctx.temp;
    const output = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expression);
    const set = output ? outputs.get(output[1]!)?.[output[2]!] : undefined;
    if (set !== undefined) return set;
    // Actions would give "" for an output never set: here that is a broken workflow.
    throw new Error(`the rehearsal cannot evaluate \${{ ${expression} }}`);
  });
}

/** Fresh `$GITHUB_OUTPUT` and `$GITHUB_ENV` files for one step, as Actions gives each. */
async function stepFiles(temp: string, index: number) {
  const folder = join(temp, `_step${index + 1}`);
  await Deno.mkdir(folder, { recursive: true });
  const files = { GITHUB_OUTPUT: join(folder, "output"), GITHUB_ENV: join(folder, "env") };
  for (const file of Object.values(files)) await Deno.writeTextFile(file, "");
  return files;
}

/** `NAME=value` lines; the multi-line `NAME<<EOF` form is not used here, so it is refused. */
async function readKeyValues(path: string): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const line of (await Deno.readTextFile(path)).split("\n")) {
    if (!line) continue;
    const match = /^([A-Za-z_][\w-]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`${path}: ${JSON.stringify(line)} is not NAME=value`);
    values[match[1]!] = match[2]!;
  }
  return values;
}

/** The shell Actions starts for `shell:` (unset: `bash -e {0}` on Linux). */
function shellArgs(shell: string | undefined): string[] {
  if (shell === undefined) return ["-e"];
  if (shell === "bash") return ["--noprofile", "--norc", "-eo", "pipefail"];
  throw new Error(`shell ${shell} is not rehearsed`);
}

async function runScript(
  name: string,
  script: string,
  shell: string | undefined,
  cwd: string,
  env: Record<string, string>,
): Promise<StepResult> {
  const file = join(env.RUNNER_TEMP!, `_script_${crypto.randomUUID()}.sh`);
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command("bash", {
    args: [...shellArgs(shell), file],
    cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { name, code: out.code, output: text.decode(out.stdout) + text.decode(out.stderr) };
}
