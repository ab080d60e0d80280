/**
 * The real-GDP rows (`deno task bench --real-gdp LOGNAME`): append → receipt
 * latency through the gateway on libgdp, next to libgdp's own subscriber
 * (`gdp-reader -s`) on the same log in the same run, so what the gateway adds
 * over native GDP is a number.
 *
 * Needs a running GDP (router, gdplogd) whose parameter files libgdp finds,
 * `GDP_LIB` naming libgdp.so, `gdp-reader` on PATH, and a log the run may
 * append to. With the local stack of this project's machine:
 *
 * ```sh
 * eval "$(/work/shared/gdp/gdp-local env)"   # GDP_LIB, EP_PARAM_PATH, PATH
 * gdp-local mklog perf.bench                 # once
 * deno task bench --real-gdp perf.bench --only "real GDP"
 * ```
 *
 * The gateway runs with `--backend libgdp --libgdp-append` and a long
 * `--feed-linger` (the log stays subscribed for the whole run). The producer
 * appends through the gateway's `append` op at a fixed rate; the gateway's
 * subscribers and `gdp-reader -s` read the send time out of every payload.
 *
 * @module
 */

import { lines } from "../src/io/lines.ts";
import { type Percentiles, percentiles, readPayload, wallMs } from "./common.ts";
import type { Plan } from "./plan.ts";
import { memoryMb } from "./proc.ts";
import { command, stopChild } from "./process.ts";
import { type LatencyRow, latencyRun } from "./runs.ts";
import { startGateway, type Target } from "./servers.ts";

/** The real-GDP run's shape: the 100 appends/s with 100 subscribers. */
export const REAL_GDP = { clients: 100, rate: 100 };

/** Latency through the gateway and through `gdp-reader -s` on `logname`; rows for the latency table. */
export async function realGdpRows(plan: Plan, logname: string): Promise<LatencyRow[]> {
  const lib = Deno.env.get("GDP_LIB");
  if (!lib) throw new Error('GDP_LIB is not set (eval "$(gdp-local env)")');
  const gateway = await startGateway({
    label: "gdp-ws on real GDP",
    args: ["--backend", "libgdp", "--libgdp", lib, "--libgdp-append", "--feed-linger", "3600000"],
  });
  const target: Target = { ...gateway, prepare: () => Promise.resolve() };
  const reader = await startReader(logname);
  try {
    const run = latencyRun(target, plan, { ...REAL_GDP, batch: false, subject: logname });
    const viaGateway = await run;
    viaGateway.rssMb = memoryMb(gateway.pid, "VmHWM");
    const warmupMs = plan.latencyWarmup * 1000;
    return [viaGateway, reader.row(REAL_GDP.clients, REAL_GDP.rate, warmupMs)];
  } finally {
    await reader.stop();
    await gateway.stop();
  }
}

/** `gdp-reader -s -t LOG`, timing every record whose payload the benchmark made. */
async function startReader(logname: string) {
  const cmd = await command("stdbuf", ["-oL", "gdp-reader", "-s", "-t", logname], {
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  });
  const child = cmd.spawn();
  const samples: { seq: number; ms: number }[] = [];
  let header = false;
  const started = wallMs();
  const reading = (async () => {
    for await (const line of lines(child.stdout)) {
      const now = wallMs();
      // " >>> recno N, len L, ts …" and then the record's text on the next line.
      if (line.startsWith(" >>> recno")) {
        header = true;
        continue;
      }
      if (!header) continue;
      header = false;
      const { seq, sentMs } = readPayload(line);
      if (Number.isFinite(seq) && sentMs > started) samples.push({ seq, ms: now - sentMs });
    }
  })();
  return {
    row(clients: number, rate: number, warmupMs: number): LatencyRow {
      const kept = samples.filter((s) => s.seq >= (rate * warmupMs) / 1000).map((s) => s.ms);
      const lat: Percentiles = percentiles(Float64Array.from(kept));
      return {
        ...lat,
        system: "gdp-reader -s (libgdp, native)",
        batch: false,
        rate,
        records: samples.length,
        frames: samples.length,
        serverCpu: NaN,
        serverCpuMs: NaN,
        clientCpu: NaN,
        probeMaxMs: NaN,
        probeP99Ms: NaN,
        probeEndMaxMs: NaN,
        subscribers: 1,
        complete: samples.length > 0 ? 1 : 0,
        processes: 1,
        note: `beside the gateway's ${clients} subscribers`,
      };
    },
    async stop() {
      await stopChild(child);
      await reading.catch(() => {});
    },
  };
}
