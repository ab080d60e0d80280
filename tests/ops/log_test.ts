/**
 * Logging never holds the gateway: with standard error a pipe nobody reads,
 * the process still serves and exits on SIGTERM; lines that do not fit are
 * dropped and counted, and said so once the pipe takes lines again.
 */

import assert from "node:assert/strict";
import { shippedRun } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** Connections opened and closed one after another: two info lines each (Open, Close). */
async function churn(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => socket.close();
      socket.onclose = () => resolve();
      socket.onerror = () => reject(new Error(`connection ${i} failed`));
    });
  }
}

/** Resolves with true once `child` has exited, false after `ms`. */
async function exitsWithin(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([child.status.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("SIGTERM ends a gateway whose standard error nobody reads, within its grace", async () => {
  await withTempDir("gdp-ws-log-", async (dataDir) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...shippedRun({ data: dataDir }), "serve", "--port", "0", "--hostname", "127.0.0.1"],
      cwd: Deno.env.get("TMPDIR") ?? "/tmp",
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Read up to the line that says where it serves, then never again.
    const reader = child.stderr.getReader();
    let head = "";
    let url = "";
    while (!url) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the gateway exited before serving: ${head}`);
      head += new TextDecoder().decode(value);
      url = /Serving .* at "(ws:\/\/[^"]+)"/.exec(head)?.[1] ?? "";
    }
    let killed = false;
    try {
      // A pipe holds 64 KiB; 2,000 connections log about 500 KiB.
      await churn(url, 2000);
      const health = await fetch(url.replace(/^ws/, "http") + "healthz");
      assert.equal(health.status, 200, "it still serves while its log is not read");
      await health.body?.cancel();
      child.kill("SIGTERM");
      // Grace (2 s) plus a margin for a loaded machine: this asks "does it exit", not how fast.
      const exited = await exitsWithin(child, 30_000);
      if (!exited) {
        child.kill("SIGKILL");
        killed = true;
      }
      assert.ok(exited, "the gateway did not exit within 30 s of SIGTERM");
      assert.equal((await child.status).code, 0);
    } finally {
      if (!killed) await exitsWithin(child, 30_000);
      await reader.cancel();
      await child.status;
    }
  });
});
