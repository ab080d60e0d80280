/**
 * The version a release tag names, checked against deno.json's. A tag `v0.2.0`
 * releases 0.2.0 only when deno.json says 0.2.0, so a binary's file name and
 * what its `--version` prints cannot disagree. The release workflow runs it
 * first and takes the `version=…` line it prints into `$GITHUB_OUTPUT`:
 *
 *   deno run --allow-read=deno.json scripts/release_version.ts v0.2.0
 *
 * @example
 * ```ts
 * releaseVersion("v0.1.0", "0.1.0"); // "0.1.0"
 * releaseVersion("v0.2.0", "0.1.0"); // throws ReleaseError: deno.json says 0.1.0
 * ```
 *
 * @module
 */

/** A tag or version that cannot be released, with what to do about it. */
export class ReleaseError extends Error {
  override name = "ReleaseError";
}

/** MAJOR.MINOR.PATCH with an optional pre-release part, as semver writes it. */
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/;

/** The version `tag` releases, when it is `v` + deno.json's `packageVersion`. */
export function releaseVersion(tag: string, packageVersion: string): string {
  if (!VERSION.test(packageVersion)) {
    throw new ReleaseError(`deno.json's version ${JSON.stringify(packageVersion)} is not semver`);
  }
  const version = tag.startsWith("v") ? tag.slice(1) : "";
  if (!VERSION.test(version)) {
    throw new ReleaseError(
      `tag ${JSON.stringify(tag)} is not v followed by MAJOR.MINOR.PATCH, e.g. v${packageVersion}`,
    );
  }
  if (version !== packageVersion) {
    throw new ReleaseError(
      `tag ${tag} releases ${version}, but deno.json says ${packageVersion}: ` +
        `set deno.json's version (and CHANGELOG.md) in the tagged commit`,
    );
  }
  return version;
}

if (import.meta.main) {
  const [tag, ...rest] = Deno.args;
  try {
    if (tag === undefined || rest.length > 0) {
      throw new ReleaseError("usage: scripts/release_version.ts TAG");
    }
    const config = JSON.parse(await Deno.readTextFile("deno.json")) as { version?: unknown };
    const packageVersion = typeof config.version === "string" ? config.version : "";
    console.log(`version=${releaseVersion(tag, packageVersion)}`);
  } catch (error) {
    if (!(error instanceof ReleaseError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(1);
  }
}
