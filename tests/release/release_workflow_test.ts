/**
 * The release workflow, read as YAML and rehearsed (scripts/release_rehearsal.ts):
 * its release job runs here as written, with `deno task compile` as a dry run
 * that leaves stand-in binaries and `gh release create` recorded. Its compile
 * commands are checked against what `deno task compile --dry-run --target …`
 * prints at the time of the test, so a change to the task's flags needs no
 * change here.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import PACKAGE from "../../deno.json" with { type: "json" };
import {
  type Rehearsal,
  type RehearsalOptions,
  rehearseRelease,
} from "../../scripts/release_rehearsal.ts";
import { releaseNotes } from "../../scripts/release_notes.ts";
import { parseCompile } from "../../scripts/stand_in.ts";
import { readWorkflow, type Workflow } from "../../scripts/workflow_steps.ts";
import { REPO, runProgram } from "../helpers/process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** The platforms a release has binaries for (issue 24). */
const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];

const release = () => readWorkflow(join(REPO, ".github/workflows/release.yml"));
const ci = () => readWorkflow(join(REPO, ".github/workflows/ci.yml"));

/** The scripts of a workflow's `run:` steps. */
function scripts(workflow: Workflow): string[] {
  return Object.values(workflow.jobs).flatMap((job) =>
    job.steps.flatMap((step) => typeof step.run === "string" ? [step.run] : [])
  );
}

/** Rehearses the release of deno.json's version, as its release commit would have it. */
function rehearse(root: string, options: RehearsalOptions = {}): Promise<Rehearsal> {
  return rehearseRelease(root, { releaseUnreleased: true, ...options });
}

function describe(rehearsal: Rehearsal): string {
  return rehearsal.steps.map((s) => `== ${s.name}: exit ${s.code}\n${s.output}`).join("\n");
}

Deno.test("the release runs on v* tags, after ci.yml's test job, step for step", async () => {
  const workflow = await release();
  assert.deepEqual(workflow.on, { push: { tags: ["v*"] } });
  assert.deepEqual(Object.keys(workflow.jobs), ["test", "release"]);
  assert.deepEqual(workflow.jobs.test, (await ci()).jobs.test, "the same tests as every push");
  assert.equal(workflow.jobs.release!.needs, "test");
  assert.deepEqual(workflow.permissions, {}, "no job gets more than it asks for");
  assert.deepEqual(workflow.jobs.test!.permissions, { contents: "read" });
  assert.deepEqual(workflow.jobs.release!.permissions, { contents: "write" });
});

Deno.test("the workflows compile only through deno task compile, for the four targets", async () => {
  for (const workflow of [await release(), await ci()]) {
    for (const script of scripts(workflow)) {
      assert.doesNotMatch(script, /\bdeno\s+compile\b/, "flags come from the task, not the YAML");
    }
  }
  const compiling = scripts(await release()).filter((s) => /^\s*deno task compile\b/m.test(s));
  assert.equal(compiling.length, 1, "one step compiles");
  const loop = /^\s*for target in ([^;\n]+); do\n\s*deno task compile (.*)\n\s*done$/m.exec(
    compiling[0]!,
  );
  assert.ok(loop, compiling[0]);
  assert.deepEqual(loop[1]!.trim().split(/\s+/), TARGETS);
  assert.equal(loop[2], '--target "$target" --output "dist/gdp-ws-$VERSION-$target"');
});

Deno.test("rehearsed, the release job publishes what deno task compile builds", async () => {
  await withTempDir("gdp-ws-release-", async (root) => {
    const rehearsal = await rehearse(root);
    assert.equal(rehearsal.failed, undefined, describe(rehearsal));
    const version = PACKAGE.version;
    const dist = join(rehearsal.workspace, "dist");

    // Each target once, each command exactly what the task prints for it now.
    assert.deepEqual(rehearsal.compiles.map((c) => /--target (\S+)/.exec(c)?.[1]), TARGETS);
    for (const [i, target] of TARGETS.entries()) {
      const live = await runProgram(
        Deno.execPath(),
        ["task", "compile", "--dry-run", "--target", target],
        rehearsal.workspace,
      );
      assert.equal(live.code, 0, live.stderr);
      const name = `dist/gdp-ws-${version}-${target}`;
      assert.equal(
        rehearsal.compiles[i],
        live.stdout.trim().replace(" --output gdp-ws ", ` --output ${name} `),
        "the default grants and baked paths, with only the output named",
      );
      assert.equal(parseCompile(rehearsal.compiles[i]!).output, name);
    }

    const versionStep = rehearsal.steps.find((s) => s.name.includes("--version"))!;
    assert.equal(versionStep.code, 0);
    assert.ok(versionStep.output.startsWith(`gdp-ws ${version}\n`), versionStep.output);

    const files = (await Array.fromAsync(Deno.readDir(dist))).map((e) => e.name).sort();
    const kit = `gdp-ws-${version}-systemd.tar.gz`;
    assert.deepEqual(
      files,
      ["SHA256SUMS", ...TARGETS.map((t) => `gdp-ws-${version}-${t}`), kit].sort(),
    );
    const sums = await Deno.readTextFile(join(dist, "SHA256SUMS"));
    assert.deepEqual(
      sums.trim().split("\n").map((line) => line.split("  ")[1]).sort(),
      files.filter((f) => f !== "SHA256SUMS"),
    );
    const check = await runProgram("sha256sum", ["-c", "SHA256SUMS"], dist);
    assert.equal(check.code, 0, check.stdout + check.stderr);

    // The kit is deploy/, file for file, in one folder named after the release.
    const unpacked = join(root, "kit");
    await Deno.mkdir(unpacked);
    const untar = await runProgram("tar", ["-xzf", join(dist, kit), "-C", unpacked], root);
    assert.equal(untar.code, 0, untar.stderr);
    const deployFiles = (await runProgram("git", ["ls-files", "deploy"], REPO)).stdout.trim().split(
      "\n",
    );
    assert.ok(deployFiles.includes("deploy/gdp-ws.service"), deployFiles.join(" "));
    for (const file of deployFiles) {
      assert.equal(
        await Deno.readTextFile(join(unpacked, `gdp-ws-${version}-systemd`, file.slice(7))),
        await Deno.readTextFile(join(REPO, file)),
        file,
      );
    }

    const published = rehearsal.release!;
    assert.equal(published.tag, `v${version}`);
    assert.equal(published.title, `gdp-ws ${version}`);
    assert.ok(published.token, "gh has its token");
    assert.ok(published.args.includes("--verify-tag"), "only a tag that was pushed");
    assert.deepEqual(published.files.map((f) => f.replace(/^dist\//, "")).sort(), files);
    const changelog = await Deno.readTextFile(join(rehearsal.workspace, "CHANGELOG.md"));
    assert.equal(published.notes, releaseNotes(changelog, version));
  });
});

Deno.test("a tag that is not deno.json's version stops the release before any build", async () => {
  await withTempDir("gdp-ws-release-", async (root) => {
    const rehearsal = await rehearse(root, { tag: "v99.0.0" });
    assert.match(rehearsal.failed?.name ?? "", /the version/);
    assert.match(
      rehearsal.failed!.output,
      new RegExp(`tag v99\\.0\\.0 releases 99\\.0\\.0, but deno\\.json says ${PACKAGE.version}`),
    );
    assert.deepEqual(rehearsal.compiles, []);
    assert.equal(rehearsal.release, undefined);
  });
});

Deno.test("a version without a dated CHANGELOG.md section stops the release", async () => {
  await withTempDir("gdp-ws-release-", async (root) => {
    const rehearsal = await rehearse(root, {
      prepare: async (workspace) => {
        const file = join(workspace, "CHANGELOG.md");
        const text = await Deno.readTextFile(file);
        const heading = new RegExp(`^## \\[${PACKAGE.version.replaceAll(".", "\\.")}\\].*$`, "m");
        await Deno.writeTextFile(file, text.replace(heading, "## [0.0.1] - 2026-01-01"));
      },
    });
    assert.match(rehearsal.failed?.name ?? "", /release notes/);
    assert.match(rehearsal.failed!.output, /CHANGELOG\.md has no section for/);
    assert.deepEqual(rehearsal.compiles, []);
    assert.equal(rehearsal.release, undefined);
  });
});

Deno.test("a binary whose --version names another version is not released", async () => {
  await withTempDir("gdp-ws-release-", async (root) => {
    const rehearsal = await rehearse(root, {
      prepare: async (workspace) => {
        const file = join(workspace, "src/cli/cli.ts");
        const source = await Deno.readTextFile(file);
        assert.ok(source.includes("`gdp-ws ${PACKAGE.version}"), "cli.ts prints the version");
        await Deno.writeTextFile(file, source.replace("`gdp-ws ${PACKAGE.version}", "`gdp-ws 0"));
      },
    });
    assert.match(rehearsal.failed?.name ?? "", /--version/);
    assert.equal(rehearsal.compiles.length, TARGETS.length);
    assert.equal(rehearsal.release, undefined);
  });
});
