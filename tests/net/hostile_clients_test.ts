/**
 * Issue 18's WebSocket findings, each against a gateway as it ships (the
 * compiled binary's grants, started from outside the repository) under the
 * file limit a systemd unit gives it (`ulimit -n 1024`):
 *
 * 1. empty continuation frames, with a token that grants nothing;
 * 2. pings from a client that never reads;
 * 3. 60,000 small malformed frames in one write, from two clients, past the rate limit;
 * 4. a 2 MB frame sent in 200-byte segments.
 *
 * Asserted: what the gateway answers (close codes, counts, refusal counters),
 * that it lives and answers /healthz, and how far its resident memory grew
 * (read by this test from /proc; the runner has --allow-all). /healthz latency
 * and CPU time during each attack are printed as evidence, never asserted: CI
 * machines are loaded.
 */

import { concat } from "../../src/io/bytes.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { within } from "../helpers/edge.ts";
import type { ServeProcess } from "../helpers/process.ts";
import { cpuMs, memoryMiB } from "../helpers/proc.ts";
import { maskedFrame, RawWebSocket } from "../helpers/raw_ws.ts";
import { serveShipped, type ShippedPaths } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { signToken, writeSecret } from "../helpers/tokens.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** 30 MB of attack, as reported. */
const FLOOD_BYTES = 30 * 1000 * 1000;
/**
 * How much the gateway's peak RSS may pass its RSS before the attack. Unfixed,
 * findings 1 and 2 grew it by about 2 GB; a bounded gateway needs a few tens
 * of MB for buffers and garbage not yet collected.
 */
const RSS_GROWTH_BOUND_MIB = 200;

interface Shipped {
  gateway: ServeProcess;
  base: string;
  pid: number;
  /** Starts asking /healthz (see {@linkcode probeHealthz}); stopped at the end if not before. */
  probe(): HealthzProbe;
}

/** Runs `fn` against a shipped gateway under `ulimit -n 1024`; then checks it lives and answers. */
async function withShipped(
  name: string,
  extraPaths: (dir: string) => Promise<Partial<ShippedPaths>>,
  args: string[],
  fn: (shipped: Shipped, dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(`gdp-ws-${name}-`, async (dir) => {
    const data = join(dir, "data");
    await Deno.mkdir(data);
    const gateway = await serveShipped(
      { data, ...await extraPaths(dir) },
      args,
      { setup: "ulimit -n 1024" },
    );
    const base = gateway.url.replace(/^ws/, "http");
    let exited = false;
    void gateway.child.status.then(() => exited = true);
    const probes: HealthzProbe[] = [];
    const probe = () => {
      probes.push(probeHealthz(base));
      return probes.at(-1)!;
    };
    try {
      await fn({ gateway, base, pid: gateway.child.pid, probe }, dir).catch((error) => {
        if (!exited) throw error;
        throw new Error(`the gateway died: ${JSON.stringify(gateway.logs.slice(-3))}`, {
          cause: error,
        });
      });
      assert.equal(exited, false, "the gateway died");
      assert.equal(await healthz(base), 200, "/healthz after the attack");
    } finally {
      for (const running of probes) await running.stop();
      const died = exited;
      const code = await gateway.stop();
      if (!died) assert.equal(code, 0, "the gateway exits cleanly on SIGTERM");
    }
  });
}

async function healthz(base: string): Promise<number> {
  const res = await fetch(`${base}healthz`);
  await res.body?.cancel();
  return res.status;
}

async function refused(base: string, limit: string): Promise<number> {
  const body = await (await fetch(`${base}readyz`)).json() as {
    limits: Record<string, { refused: number }>;
  };
  return body.limits[limit]!.refused;
}

/**
 * Asks /healthz every 20 ms until stopped: the slowest answer is evidence, not
 * a check; a failed request is counted (the process may have died).
 */
interface HealthzProbe {
  stop(): Promise<{ maxMs: number; answers: number; failures: number }>;
}

function probeHealthz(base: string): HealthzProbe {
  let running = true;
  let maxMs = 0;
  let answers = 0;
  let failures = 0;
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      if (await healthz(base).catch(() => 0) === 200) answers++;
      else failures++;
      maxMs = Math.max(maxMs, performance.now() - start);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { maxMs, answers, failures };
    },
  };
}

/** `frame` `count` times over, in one buffer. */
function repeated(frame: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) out.set(frame, i * frame.length);
  return out;
}

/** Writes `bytes` in 1 MiB writes until done or the gateway closes the connection. */
async function flood(ws: RawWebSocket, bytes: Uint8Array, total: number): Promise<number> {
  let sent = 0;
  try {
    while (sent < total) {
      await ws.sendBytes(bytes);
      sent += bytes.length;
    }
  } catch {
    // The gateway closed the connection after its close frame: the rest was not wanted.
  }
  return sent;
}

function report(what: string, numbers: Record<string, string | number>): void {
  const text = Object.entries(numbers).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(`${what}: ${text}`);
}

Deno.test("finding 1: 30 MB of empty continuation frames, with a token that grants nothing, are refused at the fragment limit (413, close 1009); RSS stays bounded", async () => {
  let secret: Uint8Array = new Uint8Array(0);
  const withSecret = async (dir: string) => {
    const written = await writeSecret(dir);
    secret = written.secret;
    return { authSecret: written.path };
  };
  await withShipped(
    "fragments",
    withSecret,
    [],
    async ({ gateway, base, pid, probe: startProbe }) => {
      const token = await signToken(secret, { read: [], append: [] });
      const ws = await RawWebSocket.connect(gateway.port, `/?access_token=${token}`);
      try {
        const before = memoryMiB(pid);
        const probe = startProbe();
        const closed = ws.readUntilClose();
        await ws.sendBytes(maskedFrame(0x1, encoder.encode("{"), { fin: false }));
        const empty = maskedFrame(0x0, new Uint8Array(0), { fin: false });
        const sent = await flood(
          ws,
          repeated(empty, Math.floor((1 << 20) / empty.length)),
          FLOOD_BYTES,
        );
        const close = await within(closed, 20_000, "the close frame").catch((e: Error) => e);
        const peak = memoryMiB(pid, "VmHWM");
        const { maxMs, failures } = await probe.stop();
        report("empty continuations", {
          "MB sent": (sent / 1e6).toFixed(1),
          "RSS before MiB": before.toFixed(0),
          "peak MiB": peak.toFixed(0),
          "/healthz max ms": maxMs.toFixed(0),
        });
        assert.equal(failures, 0, "/healthz went unanswered during the attack");
        if (close instanceof Error) throw close;
        assert.equal(close.code, 1009);
        assert.match(close.reason, /too many frames/);
        assert.equal(await refused(base, "maxFragments"), 1);
        assert.ok(
          peak - before < RSS_GROWTH_BOUND_MIB,
          `RSS grew ${(peak - before).toFixed(0)} MiB`,
        );
      } finally {
        ws.close();
      }
    },
  );
});

Deno.test("finding 2: 30 MB of pings from a client that never reads: one pong waits at a time, RSS stays bounded; once read, the socket closes cleanly", async () => {
  await withShipped(
    "pings",
    () => Promise.resolve({}),
    [],
    async ({ gateway, pid, probe: startProbe }) => {
      const ws = await RawWebSocket.connect(gateway.port);
      try {
        const before = memoryMiB(pid);
        const probe = startProbe();
        const ping = maskedFrame(0x9, new Uint8Array(0));
        const sent = await flood(
          ws,
          repeated(ping, Math.floor((1 << 20) / ping.length)),
          FLOOD_BYTES,
        );
        const pings = Math.floor(sent / ping.length);
        // Nothing read yet: whatever the gateway holds for this client, it holds now.
        const peak = memoryMiB(pid, "VmHWM");
        const { maxMs, failures } = await probe.stop();
        await ws.sendBytes(maskedFrame(0x8, new Uint8Array([0x03, 0xe8])));
        let pongs = 0;
        let close: { opcode: number; payload: Uint8Array };
        while ((close = await within(ws.nextFrame(), 30_000, "the close echo")).opcode === 0xa) {
          pongs++;
        }
        report("pings, never read", {
          pings,
          "pongs that came": pongs,
          "RSS before MiB": before.toFixed(0),
          "peak MiB": peak.toFixed(0),
          "/healthz max ms": maxMs.toFixed(0),
        });
        assert.equal(failures, 0, "/healthz went unanswered during the attack");
        assert.equal(close.opcode, 0x8);
        assert.equal((close.payload[0]! << 8) | close.payload[1]!, 1000, "the close is echoed");
        assert.ok(pongs >= 1, "pings are answered");
        assert.ok(pongs < pings / 10, `${pongs} pongs for ${pings} pings: not coalesced`);
        assert.ok(
          peak - before < RSS_GROWTH_BOUND_MIB,
          `RSS grew ${(peak - before).toFixed(0)} MiB`,
        );
      } finally {
        ws.close();
      }
    },
  );
});

const MALFORMED_FRAMES = 60_000;
const FLOODERS = 2;
/** Well under what the gateway handles per connection, loaded or not: the floods must be slowed. */
const RATE = 5_000;

Deno.test(`finding 3: ${FLOODERS} clients each writing ${MALFORMED_FRAMES} small malformed frames at once are slowed to --max-request-rate (no 429); every frame is answered; RSS stays bounded`, async () => {
  const args = ["--max-request-rate", String(RATE)];
  await withShipped(
    "malformed",
    () => Promise.resolve({}),
    args,
    async ({ gateway, base, pid, probe: startProbe }) => {
      // Not JSON; JSON that is no request; a request for nothing: each gets 400.
      const kinds = ["x", "{}", '{"unsubscribe":1}'].map((t) =>
        maskedFrame(0x1, encoder.encode(t))
      );
      const oneWrite = concat(
        Array.from({ length: MALFORMED_FRAMES }, (_, i) => kinds[i % kinds.length]!),
      );
      const clients = await Promise.all(
        Array.from({ length: FLOODERS }, () => RawWebSocket.connect(gateway.port)),
      );
      try {
        const before = memoryMiB(pid);
        const cpuBefore = cpuMs(pid);
        const probe = startProbe();
        const started = performance.now();
        const codes = await Promise.all(clients.map(async (ws) => {
          const answers = (async () => {
            const seen = new Map<number, number>();
            for (let n = 0; n < MALFORMED_FRAMES; n++) {
              const { opcode, payload } = await within(ws.nextFrame(), 30_000, `answer ${n}`);
              assert.equal(opcode, 0x1, `a text frame, not ${opcode} ${decoder.decode(payload)}`);
              const code =
                (JSON.parse(decoder.decode(payload)) as { ep_stat: [number] }).ep_stat[0];
              seen.set(code, (seen.get(code) ?? 0) + 1);
            }
            return seen;
          })();
          await ws.sendBytes(oneWrite);
          return await answers;
        }));
        const peak = memoryMiB(pid, "VmHWM");
        const cpu = cpuMs(pid) - cpuBefore;
        const { maxMs, failures } = await probe.stop();
        const pauses = await refused(base, "maxRequestRate");
        report("malformed floods", {
          "frames per client": MALFORMED_FRAMES,
          "reading paused": `${pauses} times`,
          "seconds": ((performance.now() - started) / 1000).toFixed(1),
          "gateway CPU ms": cpu.toFixed(0),
          "RSS before MiB": before.toFixed(0),
          "peak MiB": peak.toFixed(0),
          "/healthz max ms": maxMs.toFixed(0),
        });
        assert.equal(failures, 0, "/healthz went unanswered during the attack");
        for (const seen of codes) assert.deepEqual([...seen], [[400, MALFORMED_FRAMES]]);
        // The clients went past the rate (a burst twelve times the bucket) and were slowed,
        // which counts once per stretch of slowing, not once per message or wait.
        assert.ok(pauses >= 1 && pauses < 100, `reading paused ${pauses} times`);
        assert.ok(
          peak - before < RSS_GROWTH_BOUND_MIB,
          `RSS grew ${(peak - before).toFixed(0)} MiB`,
        );
      } finally {
        for (const ws of clients) ws.close();
      }
    },
  );
});

/** Sends `bytes` 200 at a time, resting 1 ms every 8 writes as a slow link would. */
async function paced(ws: RawWebSocket, bytes: Uint8Array): Promise<void> {
  // A fast sender's segments coalesce in the kernel into a few large reads; paced,
  // the gateway reads each 1,600 bytes or so on its own, as from a slow link.
  for (let at = 0, n = 0; at < bytes.length; at += 200, n++) {
    await ws.sendBytes(bytes.subarray(at, at + 200));
    if (n % 8 === 7) await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** `payload` as a text message in fragments whose frames are each `frameBytes` long. */
function fragmented(payload: Uint8Array, frameBytes: number): Uint8Array {
  const size = frameBytes - 6;
  const frames: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const fin = at + size >= payload.length;
    frames.push(maskedFrame(at === 0 ? 0x1 : 0x0, payload.subarray(at, at + size), { fin }));
  }
  return concat(frames);
}

Deno.test("finding 4: a 2 MB frame sent in 200-byte segments is appended whole, and costs the gateway about what the same bytes as 10,000 frames cost: no read copies all that came before it", async () => {
  const args = ["--max-record-bytes", String(2 * 1024 * 1024), "--max-fragments", "20000"];
  await withShipped(
    "segments",
    () => Promise.resolve({}),
    args,
    async ({ gateway, base, pid, probe: startProbe }) => {
      const ws = await RawWebSocket.connect(gateway.port);
      ws.noDelay();
      try {
        const data = "s".repeat(2_000_000);
        const request = (id: number) => encoder.encode(JSON.stringify({ append: "seg", data, id }));
        const before = memoryMiB(pid);
        const probe = startProbe();
        /** The gateway's CPU time (ms) for `bytes`, paced, until the answer to request `id`. */
        const cost = async (bytes: Uint8Array, id: number): Promise<number> => {
          const cpuBefore = cpuMs(pid);
          await paced(ws, bytes);
          const { payload } = await within(ws.nextFrame(), 60_000, `the answer to ${id}`);
          const reply = JSON.parse(decoder.decode(payload)) as { id: number; ep_stat: [number] };
          assert.deepEqual([reply.id, reply.ep_stat[0]], [id, 200], "appended");
          return cpuMs(pid) - cpuBefore;
        };
        // The same message and the same writes, once as 10,000 small frames (each whole in
        // a read) and once as one frame that no read holds whole.
        const inFrames = await cost(fragmented(request(1), 200), 1);
        const inOneFrame = await cost(maskedFrame(0x1, request(2)), 2);
        const peak = memoryMiB(pid, "VmHWM");
        const { maxMs, failures } = await probe.stop();
        report("2 MB in 200-byte segments", {
          "gateway CPU ms, as 10,000 frames": inFrames.toFixed(0),
          "as one frame": inOneFrame.toFixed(0),
          "RSS before MiB": before.toFixed(0),
          "peak MiB": peak.toFixed(0),
          "/healthz max ms": maxMs.toFixed(0),
        });
        assert.equal(failures, 0, "/healthz went unanswered during the attack");
        const stored = await (await fetch(`${base}logs/seg`)).json() as { count: number };
        assert.equal(stored.count, 2);
        // Linear, the two cost about the same. Copying all that was gathered at every read
        // cost three times more as one frame here; the bound is a ratio of two costs
        // measured together in one process, not a duration.
        assert.ok(
          inOneFrame < 2 * Math.max(inFrames, 50),
          `as one frame ${inOneFrame} ms of CPU, as frames ${inFrames} ms`,
        );
        assert.ok(
          peak - before < RSS_GROWTH_BOUND_MIB,
          `RSS grew ${(peak - before).toFixed(0)} MiB`,
        );
      } finally {
        ws.close();
      }
    },
  );
});
