/**
 * CHANGELOG.md keeps its shape (scripts/release_notes.ts reads it for a
 * release), and has a section for deno.json's version or an Unreleased one;
 * a tag's version must be deno.json's (scripts/release_version.ts).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import PACKAGE from "../../deno.json" with { type: "json" };
import { changelogSections, releaseNotes } from "../../scripts/release_notes.ts";
import { ReleaseError, releaseVersion } from "../../scripts/release_version.ts";
import { REPO } from "../helpers/process.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const CHANGELOG = await Deno.readTextFile(join(REPO, "CHANGELOG.md"));

/** Semver precedence for MAJOR.MINOR.PATCH (pre-releases sort before their release). */
function compareVersions(a: string, b: string): number {
  const parts = (v: string) => {
    const [core, pre] = v.split("-", 2) as [string, string | undefined];
    return { numbers: core.split(".").map(Number), pre };
  };
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) {
    if (x.numbers[i] !== y.numbers[i]) return x.numbers[i]! - y.numbers[i]!;
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

Deno.test("CHANGELOG.md has a section for deno.json's version or Unreleased", () => {
  const names = changelogSections(CHANGELOG).map((s) => s.name);
  assert.ok(
    names.includes(PACKAGE.version) || names.includes("Unreleased"),
    `a "## [${PACKAGE.version}] - DATE" or "## [Unreleased]" section, in: ${names.join(", ")}`,
  );
});

Deno.test("CHANGELOG.md: Unreleased on top, then dated versions, newest first", () => {
  const sections = changelogSections(CHANGELOG);
  assert.ok(sections.length > 0);
  const released = sections[0]!.name === "Unreleased" ? sections.slice(1) : sections;
  if (sections[0]!.name === "Unreleased") assert.equal(sections[0]!.date, undefined);
  let previous: { name: string; date: string } | undefined;
  for (const section of released) {
    assert.match(section.name, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, section.name);
    assert.ok(section.date, `${section.name} has a date`);
    assert.equal(new Date(section.date).toISOString().slice(0, 10), section.date, section.date);
    assert.match(section.body, /^### (Added|Changed|Deprecated|Removed|Fixed|Security)$/m);
    if (previous) {
      assert.ok(compareVersions(previous.name, section.name) > 0, `${previous.name} before it`);
      assert.ok(previous.date >= section.date, `${previous.name}'s date is not older`);
    }
    previous = { name: section.name, date: section.date };
  }
  for (const section of sections) {
    for (const heading of section.body.matchAll(/^#{1,3} .*$/gm)) {
      assert.match(
        heading[0],
        /^### (Added|Changed|Deprecated|Removed|Fixed|Security)$/,
        `Keep a Changelog's kinds of change, in ${section.name}`,
      );
    }
  }
});

Deno.test("release notes: a version's dated section, or a one-line reason", () => {
  const text = [
    "# Changelog",
    "",
    "## [Unreleased]",
    "",
    "### Added",
    "",
    "- Next",
    "",
    "## [0.2.0]",
    "",
    "- Undated",
    "",
    "## [0.1.0] - 2026-11-25",
    "",
    "### Added",
    "",
    "- First",
    "",
    "## [0.0.1] - 2026-01-01",
    "",
    "[0.1.0]: https://example.org/v0.1.0",
  ].join("\n");
  assert.equal(releaseNotes(text, "0.1.0"), "### Added\n\n- First\n");
  const cases: [string, string][] = [
    ["0.3.0", "CHANGELOG.md has no section for 0.3.0"],
    ["0.2.0", "CHANGELOG.md's section for 0.2.0 has no date"],
    ["0.0.1", "CHANGELOG.md's section for 0.0.1 is empty"],
  ];
  for (const [version, message] of cases) {
    assert.throws(() => releaseNotes(text, version), (e: Error) => {
      assert.ok(e instanceof ReleaseError);
      assert.ok(e.message.startsWith(message), e.message);
      return true;
    });
  }
  assert.throws(
    () => changelogSections("## 0.1.0\n"),
    /"## 0.1.0" is not "## \[VERSION\] - DATE"/,
  );
});

Deno.test("a release tag is v + deno.json's version, or the release stops", () => {
  assert.equal(releaseVersion("v0.1.0", "0.1.0"), "0.1.0");
  assert.equal(releaseVersion("v1.0.0-rc.1", "1.0.0-rc.1"), "1.0.0-rc.1");
  const cases: [string, string, RegExp][] = [
    ["v0.2.0", "0.1.0", /^tag v0\.2\.0 releases 0\.2\.0, but deno\.json says 0\.1\.0: /],
    ["0.1.0", "0.1.0", /^tag "0\.1\.0" is not v followed by MAJOR\.MINOR\.PATCH, e\.g\. v0\.1\.0$/],
    ["v0.1", "0.1.0", /^tag "v0\.1" is not v followed by/],
    ["v01.0.0", "1.0.0", /^tag "v01\.0\.0" is not v followed by/],
    ["v0.1.0", "", /^deno\.json's version "" is not semver$/],
  ];
  for (const [tag, version, message] of cases) {
    assert.throws(() => releaseVersion(tag, version), (e: Error) => {
      assert.ok(e instanceof ReleaseError);
      assert.match(e.message, message);
      return true;
    });
  }
});
