/**
 * scripts/workflow_steps.ts runs a job's steps as Actions would, and refuses
 * what it does not rehearse rather than guess.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { type JobRun, readWorkflow, runJob, type Step } from "../../scripts/workflow_steps.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** Runs `steps` as the job `j` of a workflow written to a temporary file; an error if refused. */
async function runSteps(steps: Step[], shell?: string): Promise<JobRun | Error> {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-steps-" });
  try {
    const file = join(dir, "w.yml");
    await Deno.writeTextFile(
      file,
      stringify({
        on: "push",
        ...(shell ? { defaults: { run: { shell } } } : {}),
        env: { TAG: "${{ github.ref_name }}" },
        jobs: { j: { "runs-on": "ubuntu-latest", steps } },
      }),
    );
    return await runJob(await readWorkflow(file), "j", {
      workspace: dir,
      temp: dir,
      github: { ref_name: "v1.2.3", ref: "refs/tags/v1.2.3", token: "t", repository: "o/r" },
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      action: (step) => `stood in for ${step.uses}`,
    }).catch((error: Error) => error);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("steps pass outputs and env on; the first failing step ends the job", async () => {
  const run = await runSteps([
    { uses: "actions/checkout@0000000000000000000000000000000000000000" },
    { id: "v", run: 'echo "version=${TAG#v}" >> "$GITHUB_OUTPUT"' },
    { run: 'echo "LATER=yes" >> "$GITHUB_ENV"' },
    { name: "uses both", env: { V: "${{ steps.v.outputs.version }}" }, run: 'echo "$V $LATER"' },
    { name: "fails", run: "false\necho not reached" },
    { name: "after", run: "echo never" },
  ]);
  assert.ok(!(run instanceof Error), String(run));
  assert.deepEqual(run.steps.map((s) => s.code), [0, 0, 0, 0, 1]);
  assert.equal(run.steps[0]!.output, "stood in for actions/checkout@" + "0".repeat(40));
  assert.equal(run.steps[3]!.output, "1.2.3 yes\n");
  assert.equal(run.failed?.name, "fails");
  assert.equal(run.failed?.output, "", "bash -e stops at false");
});

Deno.test("shell: bash adds pipefail, as Actions runs it", async () => {
  const pipe = { name: "pipe", run: "false | cat\necho went on" };
  const plain = await runSteps([pipe]);
  assert.ok(!(plain instanceof Error));
  assert.equal(plain.failed, undefined, "bash -e alone ignores a failing pipe's first command");
  const bash = await runSteps([pipe], "bash");
  assert.ok(!(bash instanceof Error));
  assert.equal(bash.failed?.name, "pipe");
});

Deno.test("what the runner does not rehearse is an error, not a guess", async () => {
  const cases: [Step, RegExp][] = [
    [{ run: "echo ${{ github.ref_name }}" }, /an expression in a script; pass it through env:/],
    [{ env: { X: "${{ github.event.head_commit.message }}" }, run: "true" }, /cannot evaluate/],
    [{ env: { X: "${{ steps.none.outputs.v }}" }, run: "true" }, /cannot evaluate/],
    [{ if: "always()", run: "true" }, /if not rehearsed/],
    [{ run: "true", shell: "python" }, /shell python is not rehearsed/],
  ];
  for (const [step, message] of cases) {
    const outcome = await runSteps([step]);
    assert.ok(outcome instanceof Error, JSON.stringify(step));
    assert.match(outcome.message, message);
  }
});
