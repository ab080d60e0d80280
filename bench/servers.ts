/**
 * The servers under test, each its own process on 127.0.0.1: the gateway, the
 * bare-Deno baseline (`raw_server.ts`), nats-server (core NATS) and nats-server
 * with JetStream (`jetstream.ts`). Each is a {@linkcode Target}: what the runs
 * need to know to drive and watch it.
 *
 * @example
 * ```ts
 * const gateway = await startGateway({ args: ["--dev-no-sharing"] });
 * console.log(gateway.url, gateway.pid);
 * await gateway.stop();
 * ```
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { openEmbedded } from "../src/backend/embedded/store.ts";
import { lines } from "../src/io/lines.ts";
import { createStreams, jetStreamConfig } from "./jetstream.ts";
import {
  command,
  freePort,
  getJson,
  JsonProcess,
  output,
  ROOT,
  stopChild,
  until,
} from "./process.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const RAW_SERVER = fileURLToPath(new URL("./raw_server.ts", import.meta.url));

/** A server under test. */
export interface Target {
  system: string;
  transport: "ws" | "nats" | "jetstream";
  url: string;
  pid: number;
  /** The gateway's data folder. */
  dataDir?: string;
  /** The gateway's log lines (warnings and worse). */
  warnings?: () => string[];
  /** Makes logs or subjects ready for live subscribers. */
  prepare(names: string[]): Promise<void>;
  /** Resolves once `n` live subscribers are registered (or after a bounded wait). */
  waitLive(n: number): Promise<void>;
  /** A cheap HTTP GET the server answers on its event loop, probed during runs. */
  probeUrl?: string;
  stop(): Promise<void>;
}

/** How to start a gateway. */
export interface GatewayOptions {
  /** Serve this data folder (kept); without it a fresh one is made and removed. */
  dataDir?: string;
  /** More `serve` flags. */
  args?: string[];
  /** Another checkout's main.ts, to compare with (the row says "gdp-ws (before)"). */
  main?: string;
  /** The System column. */
  label?: string;
  /** Write a V8 CPU profile (`--cpu-prof`) of the gateway into this folder when it stops. */
  profileDir?: string;
  /** The profile's file name without `.cpuprofile` (the row's label); a number is added if taken. */
  profileName?: string;
  /** Make the fresh data folder on tmpfs (`/dev/shm`), where fsync costs nothing. */
  tmpfs?: boolean;
}

/** The flags every benchmarked gateway gets besides port, host and data. */
export const GATEWAY_FLAGS = [
  "--log-format",
  "json",
  "--log-level",
  "warning",
  // The limits against abuse would refuse the benchmark itself: 10,000 subscribers and a
  // producer from one address, thousands of appends per second on one connection, 1,000 logs.
  "--max-connections",
  "100000",
  "--max-connections-per-address",
  "100000",
  "--max-request-rate",
  "10000000",
  "--max-log-creates",
  "100000",
  // Connections opened in waves of 200 from one address are more than its 100 head slots.
  "--max-handshakes-per-address",
  "100000",
];

/** Where the `gdp-ws (tmpfs)` rows keep their data. */
export const TMPFS = "/dev/shm";

/** Whether {@linkcode TMPFS} is a tmpfs here (else the tmpfs rows are skipped). */
export async function tmpfsAvailable(): Promise<boolean> {
  return (await output("df", ["--output=fstype", TMPFS]))?.split("\n").at(-1)?.trim() === "tmpfs";
}

/** Profile names given out in this run. */
const profileNames = new Set<string>();

/**
 * The file name of a row's profile: `NAME.cpuprofile`, or `NAME.2.cpuprofile` for the second
 * row of that name in this run (a file left by an earlier run is overwritten).
 */
async function profileFile(dir: string, label: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const name = label.replaceAll(/[^A-Za-z0-9_.-]+/g, "_").replaceAll(/^_|_$/g, "");
  for (let k = 1;; k++) {
    const file = `${name}${k > 1 ? `.${k}` : ""}.cpuprofile`;
    if (profileNames.has(file)) continue;
    profileNames.add(file);
    return file;
  }
}

/**
 * The flags of {@linkcode GATEWAY_FLAGS} an older checkout (`--before`) knows: each
 * flag with its value, if its name appears in the checkout's `src/` (an older
 * gateway refuses a flag it does not know; one that knows `--max-request-rate`
 * but is not given it would throttle the producer at its default).
 */
async function flagsKnownTo(main: string): Promise<string[]> {
  const src = fileURLToPath(new URL("./src/", new URL(main, "file:///")));
  let text = "";
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) text += await Deno.readTextFile(path);
    }
  };
  await walk(src.replace(/\/$/, "")).catch(() => {});
  const known: string[] = [];
  for (let i = 0; i < GATEWAY_FLAGS.length; i += 2) {
    const flag = GATEWAY_FLAGS[i]!;
    if (text.includes(`"${flag.slice(2)}"`) || text.includes(flag)) {
      known.push(flag, GATEWAY_FLAGS[i + 1]!);
    }
  }
  return known;
}

/** A gateway process; resolves once `/healthz` answers. */
export async function startGateway(options: GatewayOptions = {}): Promise<Target> {
  const dir = options.dataDir ??
    await Deno.makeTempDir({ prefix: "gdp-ws-bench-", ...(options.tmpfs ? { dir: TMPFS } : {}) });
  const port = freePort();
  const profile = options.profileDir
    ? [
      "--cpu-prof",
      `--cpu-prof-dir=${options.profileDir}`,
      ...(options.profileName
        ? [`--cpu-prof-name=${await profileFile(options.profileDir, options.profileName)}`]
        : []),
    ]
    : [];
  const cmd = await command(Deno.execPath(), [
    "run",
    "-A",
    ...profile,
    ...(Deno.env.get("BENCH_DENO_FLAGS")?.split(" ").filter(Boolean) ?? []),
    options.main ?? MAIN,
    "serve",
    "--port",
    String(port),
    "--hostname",
    "127.0.0.1",
    ...(options.main ? await flagsKnownTo(options.main) : GATEWAY_FLAGS),
    ...(options.args?.includes("--backend") ? [] : ["--data", dir]),
    ...(options.args ?? []),
  ], { cwd: ROOT, stdin: "null", stdout: "null", stderr: "piped" });
  const child = cmd.spawn();
  const warnings: string[] = [];
  void (async () => {
    for await (const line of lines(child.stderr)) if (line.trim()) warnings.push(line);
  })();
  const base = `http://127.0.0.1:${port}`;
  await until("the gateway to listen", 30_000, async () => (await fetch(`${base}/healthz`)).ok);
  return {
    system: options.label ?? (options.tmpfs ? "gdp-ws (tmpfs)" : "gdp-ws"),
    transport: "ws",
    url: `ws://127.0.0.1:${port}/`,
    pid: child.pid,
    dataDir: dir,
    probeUrl: `${base}/healthz`,
    warnings: () => warnings,
    prepare: async (names) => {
      // POST creates a log (auto-create) with one record; live subscribers start after it.
      for (const name of names) {
        const response = await fetch(`${base}/logs/${encodeURIComponent(name)}`, {
          method: "POST",
          body: "created by bench",
        });
        await response.body?.cancel();
        if (!response.ok) throw new Error(`cannot create ${name}: HTTP ${response.status}`);
      }
    },
    waitLive: (n) =>
      until(`${n} live subscriptions`, 60_000, async () => {
        const stats = await getJson(`${base}/readyz`);
        return Number(stats.live) >= n;
      }),
    stop: async () => {
      await stopChild(child);
      if (!options.dataDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The bare-Deno broadcaster. */
export async function startRaw(): Promise<Target> {
  const server = await JsonProcess.deno(["--allow-net", RAW_SERVER, "0"]);
  const { port } = await server.next<{ port: number }>("ready", 20_000);
  const base = `http://127.0.0.1:${port}`;
  return {
    system: "bare Deno WS",
    transport: "ws",
    url: `ws://127.0.0.1:${port}/`,
    pid: server.pid,
    probeUrl: `${base}/stats`,
    prepare: () => Promise.resolve(),
    waitLive: (n) =>
      until(`${n} subscribers`, 60_000, async () => {
        return Number((await getJson(`${base}/stats`)).subscribers) >= n;
      }),
    stop: () => stopChild(server.child),
  };
}

/** nats-server: on PATH, or where Debian's package puts it (/usr/sbin, off a user's PATH). */
let natsServer = "nats-server";

/** The nats-server version, or undefined when it is not installed. */
export async function natsVersion(): Promise<string | undefined> {
  for (const candidate of ["nats-server", "/usr/sbin/nats-server"]) {
    const version = await output(candidate, ["--version"]);
    if (version) {
      natsServer = candidate;
      return version;
    }
  }
  return undefined;
}

export async function startNats(): Promise<Target> {
  const port = freePort();
  const monitor = freePort();
  const cmd = await command(natsServer, [
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "-m",
    String(monitor),
  ], { stdin: "null", stdout: "null", stderr: "null" });
  const child = cmd.spawn();
  await until("nats-server to listen", 10_000, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  });
  return {
    system: "NATS",
    transport: "nats",
    url: `127.0.0.1:${port}`,
    pid: child.pid,
    probeUrl: `http://127.0.0.1:${monitor}/healthz`,
    prepare: () => Promise.resolve(),
    // The subscriber processes flush after subscribing: the server has them all by "ready".
    waitLive: () => Promise.resolve(),
    stop: () => stopChild(child),
  };
}

/** nats-server with JetStream, its store in a fresh folder; `syncAlways`: `sync_interval: always`. */
export async function startJetStream(options: { syncAlways: boolean }): Promise<Target> {
  const port = freePort();
  const monitor = freePort();
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-bench-jetstream-" });
  const config = `${dir}/nats.conf`;
  await Deno.writeTextFile(
    config,
    jetStreamConfig({ port, monitor, storeDir: `${dir}/store`, syncAlways: options.syncAlways }),
  );
  const cmd = await command(natsServer, ["-c", config], {
    stdin: "null",
    stdout: "null",
    stderr: "null",
  });
  const child = cmd.spawn();
  const url = `127.0.0.1:${port}`;
  try {
    await until("nats-server with JetStream to be healthy", 20_000, async () => {
      const response = await fetch(`http://127.0.0.1:${monitor}/healthz`);
      await response.body?.cancel();
      return response.ok;
    });
  } catch (error) {
    await stopChild(child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    system: options.syncAlways ? "JetStream (sync always)" : "JetStream",
    transport: "jetstream",
    url,
    pid: child.pid,
    dataDir: dir,
    probeUrl: `http://127.0.0.1:${monitor}/healthz`,
    prepare: (names) => createStreams(url, names),
    // The client processes create their consumers before "ready".
    waitLive: () => Promise.resolve(),
    stop: async () => {
      await stopChild(child);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The path nats-server was found at by {@linkcode natsVersion}. */
export function natsServerPath(): string {
  return natsServer;
}

/** Fills `logname` in a fresh embedded store in `dataDir`; seconds taken. */
export async function prefill(
  dataDir: string,
  logname: string,
  records: number,
  payloadBytes: number,
): Promise<number> {
  const store = openEmbedded({ dataDir });
  const started = performance.now();
  try {
    await store.create(logname);
    const handle = await store.open(logname);
    const filler = "h".repeat(payloadBytes);
    const encoder = new TextEncoder();
    // Appends queued in one turn share one transaction (the store's group commit).
    for (let n = 0; n < records; n += 1000) {
      const batch = [];
      for (let i = n + 1; i <= Math.min(records, n + 1000); i++) {
        batch.push(handle.append(encoder.encode(`${i} ${filler}`.slice(0, payloadBytes))));
      }
      await Promise.all(batch);
    }
    await handle.close();
  } finally {
    await store.close();
  }
  return (performance.now() - started) / 1000;
}
