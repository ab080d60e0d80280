/**
 * CHANGELOG.md (Keep a Changelog: `## [VERSION] - YYYY-MM-DD` sections, newest
 * first, `## [Unreleased]` on top) read as sections, and the section of one
 * version printed as a release's notes. The release workflow fails here when
 * the tagged version has no dated section with something in it:
 *
 *   deno run --allow-read=CHANGELOG.md scripts/release_notes.ts 0.2.0 > notes.md
 *
 * @example
 * ```ts
 * const text = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-11-25\n\n### Added\n\n- All\n";
 * changelogSections(text).map((s) => s.name); // ["Unreleased", "0.1.0"]
 * releaseNotes(text, "0.1.0"); // "### Added\n\n- All\n"
 * ```
 *
 * @module
 */

import { ReleaseError } from "./release_version.ts";

/** One `## [NAME] - DATE` section and the text under it, up to the next `## `. */
export interface ChangelogSection {
  /** `Unreleased` or a version. */
  name: string;
  /** YYYY-MM-DD; absent for Unreleased. */
  date?: string;
  body: string;
}

const HEADING = /^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?[ \t]*$/;

/** The sections of a changelog, in order; a `## ` line of another shape is an error. */
export function changelogSections(text: string): ChangelogSection[] {
  const sections: ChangelogSection[] = [];
  let body: string[] = [];
  const close = () => {
    const last = sections.at(-1);
    if (last) last.body = `${body.join("\n").trim()}\n`.replace(/^\n$/, "");
    body = [];
  };
  for (const line of text.split("\n")) {
    if (!line.startsWith("## ")) {
      // Link references at the end belong to no section.
      if (!/^\[[^\]]+\]: /.test(line)) body.push(line);
      continue;
    }
    const heading = HEADING.exec(line);
    if (!heading) {
      throw new ReleaseError(`CHANGELOG.md: ${JSON.stringify(line)} is not "## [VERSION] - DATE"`);
    }
    close();
    const [, name, date] = heading;
    sections.push({ name: name!, ...(date ? { date } : {}), body: "" });
  }
  close();
  return sections;
}

/** The notes of `version`'s section: it must be there, dated and not empty. */
export function releaseNotes(text: string, version: string): string {
  const section = changelogSections(text).find((s) => s.name === version);
  if (!section) {
    throw new ReleaseError(
      `CHANGELOG.md has no section for ${version}: rename [Unreleased] to ` +
        `"## [${version}] - YYYY-MM-DD" in the tagged commit`,
    );
  }
  if (!section.date) {
    throw new ReleaseError(`CHANGELOG.md's section for ${version} has no date`);
  }
  if (!section.body.trim()) {
    throw new ReleaseError(`CHANGELOG.md's section for ${version} is empty`);
  }
  return section.body;
}

if (import.meta.main) {
  const [version, ...rest] = Deno.args;
  try {
    if (version === undefined || rest.length > 0) {
      throw new ReleaseError("usage: scripts/release_notes.ts VERSION");
    }
    const text = await Deno.readTextFile("CHANGELOG.md");
    await Deno.stdout.write(new TextEncoder().encode(releaseNotes(text, version)));
  } catch (error) {
    if (!(error instanceof ReleaseError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(1);
  }
}
