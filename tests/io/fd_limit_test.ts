/**
 * Issue 7, running out of file descriptors: the gateway runs under `ulimit -n
 * 256` (set in its own shell), reads the limit at start, and refuses what is
 * past it with HTTP 503 while it lives on. With no reserve at all, accept
 * itself fails with EMFILE: the gateway retries and lives on too.
 */

import assert from "node:assert/strict";
import { serveInShell, type ServeProcess } from "../helpers/process.ts";
import { RawWebSocket } from "../helpers/raw_ws.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const FD_LIMIT = 256;
const ATTEMPTS = 320;

async function lowLimitGateway(dataDir: string, extra: string[]): Promise<ServeProcess> {
  return await serveInShell(`ulimit -n ${FD_LIMIT}`, ["-A"], [
    "--data",
    dataDir,
    "--max-connections",
    "1000",
    "--handshake-timeout",
    "2000",
    ...extra,
  ]);
}

/** Opens `n` WebSockets; returns the open ones and how the others were refused. */
async function openMany(port: number, n: number) {
  const open: RawWebSocket[] = [];
  const refusals: string[] = [];
  for (let i = 0; i < n; i++) {
    try {
      open.push(await RawWebSocket.connect(port));
    } catch (error) {
      refusals.push(String(error));
    }
  }
  return { open, refusals };
}

async function healthz(base: string): Promise<number> {
  const res = await fetch(`${base}healthz`);
  await res.body?.cancel();
  return res.status;
}

Deno.test("under ulimit -n 256, WebSockets past the limit get 503 and the process lives", async () => {
  await withTempDir("gdp-ws-fd-", async (dataDir) => {
    const gateway = await lowLimitGateway(dataDir, []);
    const base = gateway.url.replace(/^ws/, "http");
    let exited = false;
    gateway.child.status.then(() => exited = true);
    try {
      const started = gateway.logs.find((l) => /File-descriptor limit/.test(String(l.message)));
      assert.ok(started, "the limit is logged at start");
      const { open, refusals } = await openMany(gateway.port, ATTEMPTS);
      assert.ok(open.length > 100, `only ${open.length} connections accepted`);
      assert.ok(open.length <= FD_LIMIT - 64, `${open.length} accepted past the budget`);
      assert.equal(open.length + refusals.length, ATTEMPTS);
      for (const refusal of refusals) assert.match(refusal, /upgrade refused: HTTP\/1\.1 503/);
      // Silent TCP connections past the budget are refused at once, too.
      const silent = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
      const buffer = new Uint8Array(512);
      const n = await silent.read(buffer);
      assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^HTTP\/1\.1 503 /);
      silent.close();
      for (const ws of open.splice(0, 20)) ws.close();
      let status = 0;
      for (let i = 0; i < 200 && status !== 200; i++) {
        status = await healthz(base).catch(() => 0);
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(status, 200, "the gateway serves again once connections close");
      assert.equal(exited, false);
      for (const ws of open) ws.close();
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
  });
});

Deno.test("with no descriptor reserve, accept fails with EMFILE and the gateway lives on", async () => {
  await withTempDir("gdp-ws-fd-", async (dataDir) => {
    const gateway = await lowLimitGateway(dataDir, ["--fd-reserve", "1"]);
    const base = gateway.url.replace(/^ws/, "http");
    let exited = false;
    gateway.child.status.then(() => exited = true);
    try {
      const conns: Deno.Conn[] = [];
      for (let i = 0; i < ATTEMPTS; i++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port: gateway.port }));
      }
      // Silent connections: the ones accepted time out (408) and free their descriptors.
      for (const conn of conns) conn.close();
      let status = 0;
      for (let i = 0; i < 300 && status !== 200; i++) {
        status = await healthz(base).catch(() => 0);
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(status, 200);
      assert.equal(exited, false);
      const ready = await (await fetch(`${base}readyz`)).json() as {
        front: { acceptErrors: number };
      };
      assert.ok(ready.front.acceptErrors > 0, "accept never failed: the test proved nothing");
      const failures = gateway.logs.filter((l) => /Accept failed/.test(String(l.message)));
      assert.ok(failures.length >= 1 && failures.length <= 3, `${failures.length} accept lines`);
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
  });
});
