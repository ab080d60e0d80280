/** The client library (client/gdp-ws.js) under Deno, and `gdp-ws tail` built on it; client_node_test.ts runs the suite under Node. */

import assert from "node:assert/strict";
import { clientTests } from "./suite.js";
import { startGatewayProcess } from "./gateway_process.js";
import { range, waitFor } from "../helpers/client.ts";
import { MAIN } from "../helpers/process.ts";

Deno.test.sanitizer({ ops: true, resources: true });

for (const { name, fn } of clientTests) {
  Deno.test({ name: `deno: ${name}`, fn });
}

Deno.test("gdp-ws tail resumes across a gateway crash and restart: every record printed once", async () => {
  const gateway = await startGatewayProcess();
  try {
    for (let n = 1; n <= 10; n++) await gateway.append("tail.me", `v${n}`);
    const args = ["run", "--allow-net", MAIN, "tail", "tail.me", "--start", "1", "--count", "20"];
    const child = new Deno.Command(Deno.execPath(), {
      args: [...args, "--url", gateway.url],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let printed = "";
    const reading = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) printed += chunk;
    })();
    await waitFor(() => printed.split("\n").length > 10, "tail printing the first 10 records");
    await gateway.restart(); // SIGKILL: tail sees its connection drop
    for (let n = 11; n <= 20; n++) await gateway.append("tail.me", `v${n}`);
    const { code } = await child.status;
    await reading;
    const err = await stderr;
    assert.equal(code, 0, err);
    const data = printed.trim().split("\n").map((line) => line.split("\t")[2]);
    assert.deepEqual(data, range(1, 20).map((n) => `v${n}`));
    assert.match(err, /reconnecting to ws:/);
  } finally {
    await gateway.stop();
  }
});
