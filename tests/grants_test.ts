/**
 * The rule "test what ships", read from tests/: a test that starts a gateway
 * runs it under the grants the compile task prints (`serveShipped`,
 * `shippedRun`, `shippedTest`, `libgdpTest` in tests/helpers/shipped.ts),
 * unless it says in one line why it needs more. Each of these must carry a
 * `needs more: REASON` comment on its line or on the line right above it:
 *
 * - a broad grant: `-A`, `--allow-all`, or `permissions: "inherit"`;
 * - a gateway process started under flags of the test's own (`serveMain`,
 *   `serveInShell`, `serveTask`);
 * - a gateway started in the test process past `serveForTest`
 *   (`startGateway`): `serveForTest` refuses to start one under more than the
 *   binary's grants (`assertShippedGrants`).
 *
 * And both halves are checked: the reader flags what it should, a test
 * gateway refuses to start under the runner's grants, and a shipped test has
 * the binary's grants and no more.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend } from "../src/backend/backend.ts";
import { serveForTest } from "./helpers/gateway.ts";
import { assertShippedGrants, shippedTest } from "./helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const TESTS = fileURLToPath(new URL("./", import.meta.url));
const SELF = "grants_test.ts";

/** What the rule looks for in code, and why each needs a reason. */
const CHECKS: readonly { pattern: RegExp; what: string; except?: string }[] = [
  { pattern: /(?<=["'`\s])-A(?=["'`\s,\]])|--allow-all\b/, what: "all permissions" },
  { pattern: /\bpermissions:\s*["']inherit["']/, what: "the runner's permissions" },
  {
    pattern: /(?<!function )\b(?:serveMain|serveInShell|serveTask)\(/,
    what: "a gateway under flags of the test's own",
  },
  {
    pattern: /(?<!function )\bstartGateway\(/,
    what: "an in-process gateway past serveForTest",
    except: "helpers/gateway.ts",
  },
];

/** The marker a line (or the comment line above it) carries when it needs more. */
const MARKER = /\/\/.*\bneeds more: \S/;

/** A line that is only a comment: what it says about flags is not a grant. */
function isComment(line: string): boolean {
  return /^\s*(\/\/|\/\*|\*)/.test(line);
}

/** `file:LINE: what` for each line of `text` that needs more without saying why. */
export function unexplained(file: string, text: string): string[] {
  const lines = text.split("\n");
  const found: string[] = [];
  lines.forEach((line, i) => {
    if (isComment(line)) return;
    const whats = CHECKS.filter(({ pattern, except }) =>
      pattern.test(line) && !(except && file.endsWith(except))
    ).map(({ what }) => what);
    if (whats.length === 0) return;
    const above = lines[i - 1] ?? "";
    if (MARKER.test(line) || (isComment(above) && MARKER.test(above))) return;
    found.push(`${file}:${i + 1}: ${whats.join(", ")}: ${line.trim()}`);
  });
  return found;
}

async function testFiles(dir = TESTS): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...await testFiles(path));
    else if (/\.(ts|js|mjs)$/.test(entry.name)) files.push(relative(TESTS, path));
  }
  return files.sort();
}

Deno.test("every broad grant and every gateway outside the shipped helpers in tests/ says why", async () => {
  const files = (await testFiles()).filter((file) => file !== SELF);
  assert.ok(files.length > 50, `tests/ was read: ${files.length} files`);
  const found: string[] = [];
  for (const file of files) {
    found.push(...unexplained(file, await Deno.readTextFile(join(TESTS, file))));
  }
  assert.deepEqual(
    found,
    [],
    "add a `// needs more: REASON` comment, or use tests/helpers/shipped.ts",
  );
});

Deno.test("the rule's reader: what it flags, and the reasons it accepts", () => {
  const flagged = [
    'await serveMain(["-A"], ["--data", dir]);',
    'const args = ["run", "--allow-all", MAIN, "serve"];',
    'Deno.test({ name, permissions: "inherit", fn });',
    "const gateway = await serveTask([]);",
    "const gateway = await startGateway(config, backend);",
    'await serveMain(["-A"], []); // needs more:',
  ];
  for (const line of flagged) assert.equal(unexplained("x_test.ts", line).length, 1, line);
  const accepted = [
    'await serveMain(["-A"], []); // needs more: reads /proc of itself',
    "// needs more: checks `deno task start` itself\nconst gateway = await serveTask([]);",
    " * the runner has --allow-all; the gateway does not",
    "// deno test -A runs this file",
    "export function serveMain(flags: string[]) {",
    'const gateway = await serveShipped({ data }, ["--max-connections", "4"]);',
    'const name = "x-A";',
  ];
  for (const text of accepted) assert.deepEqual(unexplained("x_test.ts", text), [], text);
  assert.deepEqual(unexplained("helpers/gateway.ts", "return startGateway(config, b);"), []);
  const above = "const x = 1; // needs more: not a comment line\nawait serveTask([]);";
  assert.equal(unexplained("x_test.ts", above).length, 1, "a reason above must be a comment line");
});

Deno.test("a test gateway in this process refuses to start under more than the binary's grants", () => {
  assert.throws(
    () => serveForTest({} as Backend),
    /a test gateway runs with more than the binary's grants \(run, env, sys, read\)/,
  );
});

const README = fileURLToPath(new URL("../README.md", import.meta.url));

shippedTest(
  "a shipped test has the binary's grants: its data folder, the network, nothing else",
  async (dataDir) => {
    assertShippedGrants("this test");
    await Deno.writeTextFile(join(dataDir, "written"), "x");
    assert.equal(await Deno.readTextFile(join(dataDir, "written")), "x");
    await assert.rejects(Deno.readTextFile("/proc/self/limits"), Deno.errors.NotCapable);
    await assert.rejects(Deno.readTextFile(README), Deno.errors.NotCapable);
    await assert.rejects(Deno.makeTempDir(), Deno.errors.NotCapable);
    assert.throws(() => new Deno.Command("true").outputSync(), Deno.errors.NotCapable);
    assert.throws(() => Deno.env.get("HOME"), Deno.errors.NotCapable);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    listener.close();
  },
);
