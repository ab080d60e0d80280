/**
 * `deno task bench`: runs every benchmark scenario against the gateway, a
 * bare-Deno WebSocket broadcaster and (when installed) nats-server, core NATS
 * and JetStream (the durable peer, see `jetstream.ts`), then writes
 * the machine, the command and the results into BENCHMARKS.md between the
 * `bench:begin` and `bench:end` markers (text outside them is kept).
 *
 * Every server and every client runs in its own process; all traffic stays on
 * 127.0.0.1. Every wait has a deadline, so a run ends even when something
 * under test stalls. Without `nats-server` on PATH the NATS rows are skipped
 * with a note (Debian: `apt-get install nats-server`).
 *
 * @example
 * ```sh
 * deno task bench                       # full run, rewrites BENCHMARKS.md (needs a clean tree)
 * deno task bench --quick               # small sizes, under a minute; prints, writes nothing
 * deno task bench --only "fan-out.*1000 " --out /tmp/b.md   # the rows whose label matches
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { medianBy } from "./common.ts";
import { FULL, type Plan, QUICK } from "./plan.ts";
import { cpuTicks, initClock, memoryMb } from "./proc.ts";
import { hardFdLimit, ROOT } from "./process.ts";
import { machine, mode, report, type Results, writeReport } from "./report.ts";
import { realGdpRows } from "./real_gdp.ts";
import {
  historyRun,
  type IdleRow,
  idleRun,
  latencyRun,
  liveRun,
  type LiveShape,
  medianIdle,
  type RunCost,
  type ThroughputRow,
} from "./runs.ts";
import { syncAlwaysSupported } from "./jetstream.ts";
import {
  type GatewayOptions,
  natsServerPath,
  natsVersion,
  prefill,
  startGateway,
  startJetStream,
  startNats,
  startRaw,
  type Target,
  tmpfsAvailable,
} from "./servers.ts";

const log = (text: string) => console.error(`[bench] ${text}`);
const n = (count: number) => count.toLocaleString("en-US");

interface Options {
  plan: Plan;
  only: RegExp | undefined;
  /** Another checkout of the gateway to run beside this one ("gdp-ws (before)"). */
  before: string | undefined;
  /** A writable log on a real GDP: add the real-GDP latency rows. */
  realGdp: string | undefined;
  nats: boolean;
  /** nats-server knows `sync_interval: always`: also run JetStream with it. */
  syncAlways: boolean;
  /** `/dev/shm` is a tmpfs: run the gdp-ws (tmpfs) rows. */
  tmpfs: boolean;
  /** Profile every gateway of the run (`--cpu-prof`) into this folder. */
  profileDir: string | undefined;
}

/** Starts a server for the row `label` (a gateway names its profile after it). */
type Start = (label: string) => Promise<Target>;

/** Runs every scenario the options select; rows go into `results`. */
async function runAll(options: Options, results: Results, historyDir: string): Promise<void> {
  const { plan, only } = options;
  let current: Target | undefined;
  /** Runs `body` on a fresh server (no run inherits another's heap, queues or files). */
  async function fresh<R extends { rssMb?: number }>(
    rows: R[],
    label: string,
    start: Start,
    body: (target: Target) => Promise<R>,
  ): Promise<void> {
    if (only && !only.test(label)) return;
    log(label);
    const target = current = await start(label);
    try {
      const row = await body(target);
      row.rssMb = memoryMb(target.pid, "VmHWM");
      const closed = (target.warnings?.() ?? []).filter((w) => /slow consumer/i.test(w));
      if (closed.length && "note" in row === false && "complete" in row) {
        (row as unknown as RunCost).note = `${closed.length} closed 1013`;
      }
      rows.push(row);
    } catch (error) {
      results.notes.push(`${label}: failed: ${String(error).slice(0, 300)}`);
      log(`${label} failed: ${error}`);
    } finally {
      current = undefined;
      await target.stop();
    }
  }
  const gateway = (extra: GatewayOptions = {}): Start => (label) =>
    startGateway({
      ...(options.profileDir ? { profileDir: options.profileDir, profileName: label } : {}),
      ...extra,
    });
  const gateways: [string, Start][] = [["gdp-ws", gateway()]];
  if (options.before) {
    const main = `${options.before}/main.ts`;
    gateways.push(["gdp-ws (before)", gateway({ main, label: "gdp-ws (before)" })]);
  }
  const peers: [string, Start, boolean[]][] = [
    ["bare Deno", startRaw, [false, true]],
    ...(options.nats ? [["NATS", startNats, [false]] as [string, Start, boolean[]]] : []),
  ];
  // The durable comparison: JetStream (with its default sync, and with an fsync per message
  // where this nats-server can), and the gateway with fsync costing nothing (tmpfs).
  const durable: [string, Start][] = [
    ...(options.nats
      ? [["JetStream", () => startJetStream({ syncAlways: false })] as [string, Start]]
      : []),
    ...(options.nats && options.syncAlways
      ? [["JetStream (sync always)", () => startJetStream({ syncAlways: true })] as [string, Start]]
      : []),
    ...(options.tmpfs ? [["gdp-ws (tmpfs)", gateway({ tmpfs: true })] as [string, Start]] : []),
  ];
  const live = (
    label: string,
    start: Start,
    shape: LiveShape,
  ) =>
    fresh(
      results.throughput,
      `${label} ${shape.scenario} ${shape.clients} ${shape.payloadBytes}B ${mode(shape.batch)}`,
      start,
      (t) => liveRun(t, plan, shape),
    );

  try {
    // Fan-out on one log through the append op, against both peers; the durable
    // comparison at its own counts, beside the rows of the same count.
    const counts = [...new Set([...plan.fanOut, ...plan.durableAt])].sort((a, b) => a - b);
    for (const clients of counts) {
      const sizes = plan.fanOut.includes(clients) ? [plan.payloadBytes] : [];
      if (clients === plan.bigPayloadAt && sizes.length) sizes.push(plan.bigPayloadBytes);
      for (const payloadBytes of sizes) {
        const shape = { scenario: "fan-out, append op", clients, payloadBytes };
        // The earlier checkout (--before) runs the rows the targets compare: cheap enough.
        const which = clients === plan.compareAt && payloadBytes === plan.payloadBytes
          ? gateways
          : gateways.slice(0, 1);
        for (const [label, start] of which) {
          for (const batch of [false, true]) await live(label, start, { ...shape, batch });
        }
        for (const [label, start, modes] of peers) {
          for (const batch of modes) await live(label, start, { ...shape, batch });
        }
      }
      if (plan.durableAt.includes(clients)) {
        // One per frame: JetStream delivers one message at a time.
        const shape = { scenario: "fan-out, append op", clients, payloadBytes: plan.payloadBytes };
        for (const [label, start] of durable) await live(label, start, { ...shape, batch: false });
      }
    }
    const at = { clients: plan.compareAt, payloadBytes: plan.payloadBytes };
    // What the hub's sharing buys: one follow and one encoding per subscription instead.
    for (const batch of [false, true]) {
      await live("gdp-ws", gateway({ args: ["--dev-no-sharing"] }), {
        ...at,
        scenario: "fan-out, sharing off",
        batch,
      });
    }
    // Bursts: records written by another process arrive together (polling).
    for (const batch of [false, true]) {
      await live("gdp-ws", gateway(), {
        ...at,
        scenario: "fan-out, store writer",
        batch,
        viaStore: true,
      });
    }
    // Many logs, few subscribers each.
    const many = { clients: plan.manyLogs.logs * plan.manyLogs.perLog, logs: plan.manyLogs.logs };
    const manyShape = {
      ...many,
      payloadBytes: plan.payloadBytes,
      scenario: `${n(many.logs)} logs`,
    };
    // A target compares this shape too, so the earlier checkout (--before) runs it as well.
    for (const [label, start] of gateways) {
      for (const batch of [false, true]) await live(label, start, { ...manyShape, batch });
    }
    if (options.nats) await live("NATS", startNats, { ...manyShape, batch: false });
    for (const [label, start] of durable) await live(label, start, { ...manyShape, batch: false });
    // A client that never reads, among the others: their throughput with and without it.
    // 4 KiB records and a small send queue, so the stalled socket fills it within the run.
    const small = gateway({
      args: ["--send-queue-bytes", String(plan.stalledSendQueue), "--max-record-bytes", "8192"],
    });
    // A lead of a quarter of the queue keeps every client that reads well inside it.
    const lead = Math.floor(plan.stalledSendQueue / plan.bigPayloadBytes / 4);
    // Longer than the other rows: the kernel takes some MiB for a socket before the queue grows
    // (up to 4 MiB of send buffer here; at ~450 KB/s per subscriber 10 s was not always enough).
    const seconds = plan.liveSeconds * 4;
    const stall = { ...at, payloadBytes: plan.bigPayloadBytes, batch: false, lead, seconds };
    // Alternating runs, the median of each kept: one pair differs by more than the target.
    const calm: ThroughputRow[] = [];
    const stalled: ThroughputRow[] = [];
    for (let k = 0; k < plan.stalledRepeats; k++) {
      const before = results.throughput.length;
      await live("gdp-ws", small, { ...stall, scenario: "stalled client: without" });
      calm.push(...results.throughput.splice(before));
      await live("gdp-ws", small, { ...stall, scenario: "stalled client: with one", stalled: 1 });
      stalled.push(...results.throughput.splice(before));
    }
    for (const rows of [calm, stalled]) {
      const median = medianRow(rows);
      if (median) results.throughput.push(median);
    }

    // History: many readers of stored records, and one reader of the whole log.
    const historyLog = "bench.history";
    if (!only || only.test("gdp-ws history") || only.test("gdp-ws replay")) {
      log(`pre-filling ${n(plan.historyRecords)} records`);
      const seconds = await prefill(historyDir, historyLog, plan.historyRecords, plan.payloadBytes);
      results.notes.push(
        `The history log was pre-filled with ${n(plan.historyRecords)} records of ` +
          `${plan.payloadBytes} bytes in ${seconds.toFixed(1)} s (group commits of 1,000).`,
      );
    }
    // The earlier checkout (--before) reads the same store: replay against live is a target.
    const onHistory: [string, Start][] = [["gdp-ws", gateway({ dataDir: historyDir })]];
    if (options.before) {
      const main = `${options.before}/main.ts`;
      const label = "gdp-ws (before)";
      onHistory.push([label, gateway({ main, label, dataDir: historyDir })]);
    }
    // Many readers of stored records, each from its own start; one reader of the whole log.
    const readers = [
      ["history", plan.historyClients, plan.historyPerClient],
      ["replay", 1, plan.historyRecords],
    ] as const;
    for (const [scenario, clients, perClient] of readers) {
      for (const batch of [false, true]) {
        const run = (gw: Target) =>
          historyRun(gw, plan, {
            scenario,
            logname: historyLog,
            records: plan.historyRecords,
            clients,
            perClient,
            payloadBytes: plan.payloadBytes,
            batch,
          });
        // A replay takes a fifth of a second: one run on a fresh server is mostly the
        // JIT compiling the path. Three new subscribers one after another on the same
        // server, the median kept and the first (cold) one listed with the others.
        const runs = scenario === "replay" ? plan.replayRuns : 1;
        for (const [label, start] of onHistory) {
          await fresh(
            results.throughput,
            `${label} ${scenario} ${mode(batch)}`,
            start,
            async (gw) => {
              const rows = [];
              for (let i = 0; i < runs; i++) rows.push(await run(gw));
              return medianRow(rows, "one after another on one server, the first cold")!;
            },
          );
        }
      }
    }

    // Latency at a fixed rate.
    const latency = { clients: plan.compareAt, rate: plan.latencyRate };
    for (const [label, start] of gateways) {
      for (const batch of [false, true]) {
        await fresh(
          results.latency,
          `${label} latency ${latency.clients} ${mode(batch)}`,
          start,
          (t) => latencyRun(t, plan, { ...latency, batch }),
        );
      }
    }
    const latencyPeers: [string, Start, boolean[]][] = [
      ...peers,
      ...durable.map(([label, start]) => [label, start, [false]] as [string, Start, boolean[]]),
    ];
    for (const [label, start, modes] of latencyPeers) {
      for (const batch of modes) {
        await fresh(
          results.latency,
          `${label} latency ${latency.clients} ${mode(batch)}`,
          start,
          (t) => latencyRun(t, plan, { ...latency, batch }),
        );
      }
    }

    // Idle memory; the earlier checkout too (a target holds it to the run before). Runs
    // alternate between the systems and the median is kept: one run moves by about 1 KiB.
    const idleRuns = new Map<string, IdleRow[]>();
    for (let round = 0; round < plan.idleRepeats; round++) {
      for (const [label, start] of [...gateways, ...peers]) {
        const rows = idleRuns.get(label) ?? [];
        idleRuns.set(label, rows);
        await fresh(
          rows,
          `${label} idle ${plan.idleConnections}`,
          start,
          (t) => idleRun(t, plan, plan.idleConnections),
        );
      }
    }
    for (const rows of idleRuns.values()) {
      const median = medianIdle(rows);
      if (median) results.idle.push(median);
    }

    if (options.realGdp && (!only || only.test("real GDP"))) {
      log(`real GDP latency on ${options.realGdp}`);
      try {
        results.latency.push(...await realGdpRows(plan, options.realGdp));
      } catch (error) {
        results.notes.push(`The real-GDP rows failed: ${String(error).slice(0, 300)}`);
      }
    }
  } finally {
    await current?.stop();
  }
}

const HELP = `Usage: deno task bench [--quick] [--only REGEX] [--out FILE] [--fan-out 1,100,1000]
                        [--before DIR] [--real-gdp LOG] [--profile DIR]

  (no options)     the full run (about 10 minutes); rewrites BENCHMARKS.md from a clean tree
  --quick          small sizes, under a minute; prints the report, writes nothing
  --only REGEX     only the rows whose label matches, e.g. "fan-out, append op 1000 100B"
  --out FILE       write the report here (a partial run writes nothing without it)
  --fan-out LIST   the subscriber counts of the fan-out rows
  --before DIR     also run the gateway in DIR (e.g. a git archive) on the compared rows
  --real-gdp LOG   add the real-GDP latency rows on LOG (needs gdp-local up and its env)
  --profile DIR    write each gateway's CPU profile (--cpu-prof) to DIR/ROW.cpuprofile;
                   bench/profile_top.ts sums one by function
  --help           this text`;

async function main(): Promise<number> {
  if (Deno.args.includes("--help")) {
    console.log(HELP);
    return 0;
  }
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      out: { type: "string" },
      only: { type: "string" },
      "fan-out": { type: "string" },
      before: { type: "string" },
      "real-gdp": { type: "string" },
      profile: { type: "string" },
    },
    strict: true,
  });
  const plan: Plan = { ...(values.quick ? QUICK : FULL) };
  if (values["fan-out"]) {
    plan.fanOut = values["fan-out"].split(",").map(Number);
    if (!plan.fanOut.every((c) => c >= 1)) throw new Error("--fan-out takes counts: 1,100,1000");
  }
  const only = values.only === undefined ? undefined : new RegExp(values.only, "i");
  // A partial or quick run never overwrites BENCHMARKS.md unless asked to with --out.
  const out = values.out ??
    (values.quick || only || values["fan-out"] || values.profile
      ? undefined
      : `${ROOT}BENCHMARKS.md`);
  const command = ["deno task bench", ...Deno.args].join(" ");
  await initClock();
  const nats = await natsVersion();
  const syncAlways = nats ? await syncAlwaysSupported(natsServerPath()) : false;
  const tmpfs = await tmpfsAvailable();
  const m = await machine(nats, await hardFdLimit());
  if (out === `${ROOT}BENCHMARKS.md` && m.dirty.length > 0) {
    // BENCHMARKS.md records a commit: numbers of code nobody can check out are no record.
    log(`uncommitted changes (${m.dirty.join(", ")}): commit first, or pass --out FILE`);
    return 2;
  }
  log(`${m.cpu}, ${m.nproc} CPUs, ${m.memory}, Deno ${Deno.version.deno}, load ${m.load}`);
  const started = performance.now();
  const ticks0 = cpuTicks();
  const results: Results = { throughput: [], latency: [], idle: [], notes: [] };
  const historyDir = await Deno.makeTempDir({ prefix: "gdp-ws-bench-history-" });
  try {
    await runAll(
      {
        plan,
        only,
        before: values.before,
        realGdp: values["real-gdp"],
        nats: !!nats,
        syncAlways,
        tmpfs,
        profileDir: values.profile,
      },
      results,
      historyDir,
    );
  } finally {
    await Deno.remove(historyDir, { recursive: true }).catch(() => {});
  }
  if (!nats) {
    results.notes.push(
      "nats-server was not found (on PATH or in /usr/sbin), so the NATS peer was skipped " +
        "(Debian: `apt-get update; apt-get install -y nats-server`).",
    );
    log("nats-server not found: skipped the NATS peer");
  }
  if (!tmpfs) {
    results.notes.push("/dev/shm is not a tmpfs here, so the gdp-ws (tmpfs) rows were skipped.");
  }
  const load = Deno.loadavg().map((l) => l.toFixed(2)).join(", ");
  const ticks1 = cpuTicks();
  const share = (t: number) => `${((100 * t) / (ticks1.total - ticks0.total)).toFixed(1)}%`;
  results.notes.push(
    `The whole run took ${((performance.now() - started) / 1000).toFixed(0)} s; load average ` +
      `before ${m.load}, after ${load} (1, 5, 15 min); CPU steal ${
        share(ticks1.steal - ticks0.steal)
      } and iowait ${share(ticks1.iowait - ticks0.iowait)} of all CPU time during the run.`,
  );
  const text = report(m, plan, command, results);
  if (out) {
    await writeReport(out, text);
    log(`wrote ${out}`);
  }
  console.log(text);
  return 0;
}

if (import.meta.main) Deno.exit(await main());

/**
 * The run with the median rate, its note listing every run's rate (records/s),
 * and how many runs closed a socket with 1013.
 */
function medianRow(rows: ThroughputRow[], how = ""): ThroughputRow | undefined {
  if (rows.length <= 1) return rows[0];
  const rate = (r: ThroughputRow) => r.records / r.seconds;
  const median = { ...medianBy(rows, rate)! };
  const rates = rows.map((r) => Math.round(rate(r)).toLocaleString("en-US")).join(", ");
  const closed = rows.filter((r) => /1013/.test(r.note ?? "")).length;
  median.note = `median of ${rows.length} runs${how ? ` ${how}` : ""} (${rates}/s)` +
    (closed ? `; ${closed} of ${rows.length} closed one with 1013` : "");
  return median;
}
