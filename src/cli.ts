/**
 * The command line: `serve` (the default) and the embedded store's `create`,
 * `append`, `tail` and `info`. Each subcommand has `--help`. `run` returns the
 * exit code instead of exiting, so tests can call it.
 *
 * @example
 * ```ts
 * Deno.exit(await run(["serve", "--port", "9000", "--data", "/tmp/x"]));
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import type { Backend } from "./backend/backend.ts";
import { openEmbedded } from "./backend/embedded.ts";
import {
  type BackendKind,
  type Config,
  ConfigError,
  DEFAULTS,
  type LogFormat,
  type LogLevel,
  makeConfig,
} from "./config.ts";
import { GdpError } from "./errors.ts";
import { setupLogging, stopLogging } from "./log.ts";
import { infoObject } from "./protocol.ts";
import { startGateway } from "./server.ts";
import { tail } from "./tail.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

interface Command {
  summary: string;
  usage: string;
  options: Options;
  help: string;
  run(positionals: string[], values: Values): Promise<number>;
}

const DATA_OPTION: Options = { data: { type: "string" } };
const DATA_HELP = `  --data DIR            embedded store folder (default ${DEFAULTS.dataDir})`;

const SERVE_HELP = `Options:
  --port N              TCP port (default ${DEFAULTS.port}; 0 picks a free one)
  --hostname HOST       address to listen on (default ${DEFAULTS.hostname})
  --backend KIND        embedded (default) or libgdp
${DATA_HELP}
  --no-auto-create      appends to a missing log fail instead of creating it
  --libgdp PATH         libgdp shared library (default ${DEFAULTS.libgdp.path})
  --gdp-router H:P      GDP router (default: libgdp's parameter files)
  --libgdp-append       open GDP logs for appending too (default: read-only)
  --cert FILE --key FILE  serve wss:// with this PEM certificate and key
  --log-level LEVEL     trace, debug, info (default), warning, error, fatal
  --log-format FORMAT   pretty (default) or json (one object per line)
  --max-connections N   open WebSockets at once (default ${DEFAULTS.limits.maxConnections})
  --max-subscriptions N per connection (default ${DEFAULTS.limits.maxSubscriptions})
  --max-frame-bytes N   largest request frame (default ${DEFAULTS.limits.maxFrameBytes})
  --max-record-bytes N  largest appended record (default ${DEFAULTS.limits.maxRecordBytes})
  --send-queue-bytes N  per-socket send queue before a 1013 close (default ${DEFAULTS.limits.sendQueueBytes})
  --idle-timeout S      seconds between pings; 0 disables (default ${DEFAULTS.limits.idleTimeoutSec})
  --shutdown-grace MS   time clients get after SHUTDOWN (default ${DEFAULTS.limits.shutdownGraceMs})
  --feed-linger MS      how long a log stays open after its last subscriber (default ${DEFAULTS.limits.feedLingerMs})`;

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: "run the gateway (the default subcommand)",
    usage: "serve [options]",
    options: {
      ...DATA_OPTION,
      port: { type: "string" },
      hostname: { type: "string" },
      backend: { type: "string" },
      "no-auto-create": { type: "boolean" },
      libgdp: { type: "string" },
      "gdp-router": { type: "string" },
      "libgdp-append": { type: "boolean" },
      cert: { type: "string" },
      key: { type: "string" },
      "log-level": { type: "string" },
      "log-format": { type: "string" },
      "max-connections": { type: "string" },
      "max-subscriptions": { type: "string" },
      "max-frame-bytes": { type: "string" },
      "max-record-bytes": { type: "string" },
      "send-queue-bytes": { type: "string" },
      "idle-timeout": { type: "string" },
      "shutdown-grace": { type: "string" },
      "feed-linger": { type: "string" },
    },
    help: SERVE_HELP,
    run: (args, values) => {
      if (args.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(args[0])}`);
      return serve(serveConfig(values));
    },
  },
  create: {
    summary: "create a log in the embedded store",
    usage: "create NAME [--data DIR]",
    options: DATA_OPTION,
    help: `Options:\n${DATA_HELP}`,
    run: (args, values) => {
      const logname = name(args, 1);
      return withStore(values, async (store) => print(infoObject(await store.create(logname))));
    },
  },
  append: {
    summary: "append TEXT, or one record per line of standard input",
    usage: "append NAME [TEXT] [--data DIR]",
    options: DATA_OPTION,
    help: `Options:\n${DATA_HELP}\nThe log is created when missing.`,
    run: (args, values) => {
      const logname = name(args, 2);
      return withStore(values, (store) => append(store, logname, args[1]));
    },
  },
  tail: {
    summary: "print a log's records as they arrive, through a running gateway",
    usage: "tail NAME [--start N] [--count N] [--url ws://HOST:PORT/]",
    options: { start: { type: "string" }, count: { type: "string" }, url: { type: "string" } },
    help: `Options:
  --start N             startrec: -10 (default) the last ten, 0 only new ones, N from record N
  --count N             numrec: records to print before exiting; 0 (default) follows forever
  --url URL             the gateway (default ws://127.0.0.1:${DEFAULTS.port}/)`,
    run: (args, values) => {
      return tail({
        url: str(values.url) ?? `ws://127.0.0.1:${DEFAULTS.port}/`,
        logname: name(args, 1),
        startrec: int(values.start, "start") ?? -10,
        numrec: int(values.count, "count") ?? 0,
      });
    },
  },
  info: {
    summary: "name, internal name, record count, first and last timestamps of a log",
    usage: "info NAME [--data DIR]",
    options: DATA_OPTION,
    help: `Options:\n${DATA_HELP}`,
    run: (args, values) => {
      const logname = name(args, 1);
      return withStore(values, async (store) => print(infoObject(await store.info(logname))));
    },
  },
};

/** Runs the command line `args`; resolves to the process exit code. */
export async function run(args: string[]): Promise<number> {
  const first = args[0];
  const commandName = first !== undefined && first in COMMANDS ? first : "serve";
  let rest = commandName === first ? args.slice(1) : args;
  // `deno task start -- --port 9000` hands the "--" on; it separates nothing here.
  if (rest[0] === "--") rest = rest.slice(1);
  if (first === "--help" || first === "-h" || first === "help") return usage(0);
  const command = COMMANDS[commandName]!;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(`Usage: gdp-ws ${command.usage}\n\n${command.summary}\n\n${command.help}`);
      return 0;
    }
    return await command.run(positionals, values);
  } catch (error) {
    return fail(error);
  }
}

function usage(code: number): number {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(54)} ${c.summary}`);
  console.log(
    "gdp-ws: a WebSocket gateway onto the Global Data Plane\n\n" +
      `Usage: gdp-ws [subcommand] [options]\n\n${
        lines.join("\n")
      }\n\nEach subcommand takes --help.`,
  );
  return code;
}

function fail(error: unknown): number {
  console.error(`gdp-ws: ${describe(error)}`);
  const code = (error as { code?: unknown })?.code;
  const isUsage = error instanceof ConfigError ||
    (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
  return isUsage ? 2 : 1;
}

/** The message of an error and of its causes, so a wrapped permission error stays visible. */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 5; e = (e as Error).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}

/** The serve flags as a validated Config. */
export function serveConfig(values: Values): Config {
  const limits = {
    maxConnections: int(values["max-connections"], "max-connections"),
    maxSubscriptions: int(values["max-subscriptions"], "max-subscriptions"),
    maxFrameBytes: int(values["max-frame-bytes"], "max-frame-bytes"),
    maxRecordBytes: int(values["max-record-bytes"], "max-record-bytes"),
    sendQueueBytes: int(values["send-queue-bytes"], "send-queue-bytes"),
    idleTimeoutSec: int(values["idle-timeout"], "idle-timeout"),
    shutdownGraceMs: int(values["shutdown-grace"], "shutdown-grace"),
    feedLingerMs: int(values["feed-linger"], "feed-linger"),
  };
  const libgdp = {
    path: str(values.libgdp) ?? DEFAULTS.libgdp.path,
    ...defined({ router: str(values["gdp-router"]) }),
    ...(values["libgdp-append"] ? { appendable: true } : {}),
  };
  return makeConfig(defined({
    port: int(values.port, "port"),
    hostname: str(values.hostname),
    dataDir: str(values.data),
    backend: str(values.backend) as BackendKind | undefined,
    autoCreate: values["no-auto-create"] ? false : undefined,
    cert: str(values.cert),
    key: str(values.key),
    logLevel: str(values["log-level"]) as LogLevel | undefined,
    logFormat: str(values["log-format"]) as LogFormat | undefined,
    libgdp,
    limits: defined(limits),
  }));
}

async function serve(config: Config): Promise<number> {
  await setupLogging(config.logLevel, config.logFormat);
  const backend = await openBackend(config);
  const gateway = await startGateway(config, backend);
  const stop = () => void gateway.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await gateway.finished;
  await gateway.shutdown();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  await stopLogging();
  return 0;
}

async function openBackend(config: Config): Promise<Backend> {
  if (config.backend === "embedded") return openEmbedded({ dataDir: config.dataDir });
  // Loaded only when asked for, so embedded mode never touches FFI.
  const { openLibgdpBackend } = await import("./backend/libgdp/backend.ts");
  return await openLibgdpBackend(config.libgdp);
}

async function withStore(
  values: Values,
  body: (store: Backend) => Promise<number>,
): Promise<number> {
  const store = openEmbedded({ dataDir: str(values.data) ?? DEFAULTS.dataDir });
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

async function append(store: Backend, logname: string, text: string | undefined): Promise<number> {
  const encoder = new TextEncoder();
  const add = async (line: string) => {
    const handle = await openOrCreate(store, logname);
    try {
      const record = await handle.append(encoder.encode(line));
      console.log(`${record.recno}`);
    } finally {
      await handle.close();
    }
  };
  if (text !== undefined) {
    await add(text);
    return 0;
  }
  for await (const line of lines(Deno.stdin.readable)) await add(line);
  return 0;
}

async function openOrCreate(store: Backend, logname: string) {
  try {
    return await store.open(logname);
  } catch (error) {
    if (!(error instanceof GdpError) || error.code !== 600) throw error;
    await store.create(logname);
    return await store.open(logname);
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    yield* parts.map((line) => line.replace(/\r$/, ""));
  }
  if (rest) yield rest;
}

function print(value: unknown): number {
  console.log(JSON.stringify(value, null, 2));
  return 0;
}

/** The NAME argument, checking that at most `max` arguments were given. */
function name(args: string[], max: number): string {
  const n = args[0];
  if (!n) throw new ConfigError("NAME is required");
  if (args.length > max) throw new ConfigError(`unexpected argument ${JSON.stringify(args[max])}`);
  return n;
}

function str(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function int(value: string | boolean | undefined, flag: string): number | undefined {
  if (typeof value !== "string") return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new ConfigError(`--${flag} must be an integer, not ${JSON.stringify(value)}`);
  }
  return n;
}

/** `obj` without its undefined properties (exactOptionalPropertyTypes). */
function defined<T extends object>(obj: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
