/**
 * The client library under Node: runs tests/client/node_runner.js (the tests client_test.ts runs
 * under Deno) with Node's test runner. Without `node` on PATH it says so and skips, except under
 * CI=true, where a missing Node fails.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { clientTests } from "./suite.js";

Deno.test.sanitizer({ ops: true, resources: true });

const RUNNER = fileURLToPath(new URL("./node_runner.js", import.meta.url));

async function nodeVersion(): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command("node", { args: ["--version"] }).output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

const version = await nodeVersion();
if (!version && Deno.env.get("CI") !== "true") {
  console.log("SKIPPED: the client tests under Node need `node` on PATH (Node 20 or later)");
}

Deno.test({
  name: "node: the client library passes its tests under Node",
  ignore: !version && Deno.env.get("CI") !== "true",
  fn: async () => {
    assert.ok(version, "CI=true: node is required, and it is not on PATH");
    // Node 20 has WebSocket only behind this flag; later versions accept and ignore it.
    const args = ["--experimental-websocket", "--test", "--test-reporter=spec", RUNNER];
    const { code, stdout, stderr } = await new Deno.Command("node", {
      args,
      env: { DENO: Deno.execPath(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, `node ${version} failed:\n${output}`);
    assert.match(output, new RegExp(`pass ${clientTests.length}\\b`), output);
  },
});
