/**
 * Issues 7 and 18, running out of file descriptors, as the binary runs: its
 * exact grants (`serveShipped`: no read under /proc, so `ulimit -n` cannot be
 * read) under `ulimit -n 1024`, set in its own shell. The process must never
 * reach `EMFILE` (Deno itself can panic there): it budgets for the limit
 * `--fd-limit` gives, else for the descriptors it counted free at start in its
 * data folder, else for one it assumes; says which at start; and stops
 * accepting at the budget's hard cap, so clients past it wait in the kernel's
 * backlog, and a few are told 503.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  closeAll,
  edgeState,
  fatalLines,
  healthz,
  openMany,
  stalledPost,
  until,
} from "../helpers/edge.ts";
import { probeFdLimit } from "../../src/io/fd_limit.ts";
import { compileDouble } from "../helpers/libgdp_double.ts";
import type { ServeProcess } from "../helpers/process.ts";
import { serveShipped } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { RawWebSocket } from "../helpers/raw_ws.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** Slots and per-address caps far above the descriptor limit: the budget is what bounds. */
const OPEN_SLOTS = ["--max-handshakes", "5000", "--max-handshakes-per-address", "5000"];

async function withLowLimit(
  limit: number,
  args: string[],
  fn: (gateway: ServeProcess) => Promise<void>,
): Promise<void> {
  await withTempDir("gdp-ws-fd-", async (dir) => {
    const gateway = await serveShipped({ data: join(dir, "data") }, args, {
      setup: `ulimit -n ${limit}`,
    });
    let exited = false;
    void gateway.child.status.then(() => exited = true);
    try {
      await fn(gateway);
      assert.equal(exited, false, "the gateway died");
      assert.deepEqual(fatalLines(gateway), [], "the gateway reached EMFILE, panicked or threw");
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
  });
}

/** The start-up line that says which limit the budget is under. */
function limitLine(gateway: ServeProcess): Record<string, unknown> {
  const line = gateway.logs.find((l) => /^File-descriptor limit/.test(String(l.message)));
  assert.ok(line, "the limit is logged at start");
  return line.properties as Record<string, unknown>;
}

/** Connects `n` times without waiting for the server: those past its budget wait in the backlog. */
function connectAll(port: number, n: number): Promise<Deno.Conn>[] {
  return Array.from({ length: n }, () => Deno.connect({ hostname: "127.0.0.1", port }));
}

Deno.test("under the binary's grants at ulimit -n 1024: the limit is counted at start and said so; 1,100 silent connections and a burst of stalled bodies leave it alive", async () => {
  const args = [...OPEN_SLOTS, "--handshake-timeout", "4000", "--body-timeout", "4000"];
  await withLowLimit(1024, args, async (gateway) => {
    const line = limitLine(gateway);
    assert.match(String(line.from), /^counted at start: descriptors free/);
    const counted = Number(line.limit);
    // What a fresh process holds already (about 22 descriptors) is not free.
    assert.ok(counted > 960 && counted < 1024, `${counted} counted`);
    const pending = connectAll(gateway.port, 1_100);
    const stalled: Deno.Conn[] = [];
    try {
      // Every descriptor of the budget held by silent connections: intake pauses.
      await until(
        async () => (await edgeState(gateway.port)).front.acceptPauses > 0,
        "intake to pause",
      );
      const state = await edgeState(gateway.port);
      assert.ok(state.front.open <= counted - 64, `${state.front.open} open`);
      assert.ok(state.limits.fdReserve!.refused > 0, "none was told 503");
      // Then a burst of POST heads whose bodies never come, queued behind them.
      stalled.push(...await openMany(gateway.port, 300, stalledPost(), 50));
      // The silent ones time out (408), the stalled bodies get their turn and time out too.
      await until(
        async () => await healthz(gateway.port, 2_000) === 200,
        "/healthz answered",
        60_000,
      );
    } finally {
      const settled = await Promise.allSettled(pending);
      closeAll(settled.flatMap((s) => s.status === "fulfilled" ? [s.value] : []));
      closeAll(stalled);
    }
    await until(async () => (await edgeState(gateway.port)).front.open <= 1, "all gone", 30_000);
  });
});

Deno.test("--fd-limit is the budget's limit: the start-up line says so, WebSockets past it wait or get 503, and the process lives", async () => {
  await withLowLimit(512, ["--fd-limit", "512", ...OPEN_SLOTS], async (gateway) => {
    const line = limitLine(gateway);
    assert.equal(line.limit, 512);
    assert.match(String(line.from), /--fd-limit/);
    const open: RawWebSocket[] = [];
    const refusals: string[] = [];
    try {
      for (let i = 0; i < 480; i++) {
        try {
          open.push(await RawWebSocket.connect(gateway.port));
        } catch (error) {
          refusals.push(String(error));
        }
      }
      assert.ok(open.length <= 512 - 64, `${open.length} accepted past the budget`);
      assert.ok(refusals.length > 0, "none refused");
      for (const refusal of refusals) assert.match(refusal, /HTTP\/1\.1 503 /);
      for (const ws of open.splice(0, 20)) ws.close();
      await until(async () => await healthz(gateway.port) === 200, "served again once some close");
      const { limits } = await edgeState(gateway.port);
      assert.ok(limits.fdReserve!.refused >= refusals.length);
    } finally {
      for (const ws of open) ws.close();
    }
  });
});

Deno.test("a binary that may open no folder (libgdp only) assumes the OS's limit and says so", async () => {
  const libgdp = await compileDouble();
  await withTempDir("gdp-ws-fd-", async (dir) => {
    // The data folder is granted but does not exist, and a libgdp gateway does not make it.
    const gateway = await serveShipped(
      { data: join(dir, "absent"), libgdp },
      ["--backend", "libgdp", "--libgdp", libgdp],
      { setup: "ulimit -n 1024" },
    );
    try {
      const line = limitLine(gateway);
      assert.equal(line.limit, 1024);
      assert.match(String(line.from), /^assumed/);
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
  });
});

Deno.test("probeFdLimit counts the descriptors free, closes every one, and stops at its cap", () => {
  const dir = Deno.makeTempDirSync({ prefix: "gdp-ws-probe-" });
  try {
    const floor = probeFdLimit(dir, 50);
    assert.deepEqual(floor, { limit: 50, source: "probed-floor" });
    assert.equal(probeFdLimit(join(dir, "absent"), 50), undefined);
    // Everything it opened was closed again: as many are free the second time.
    assert.deepEqual(probeFdLimit(dir, 50), floor);
  } finally {
    Deno.removeSync(dir);
  }
});
