/**
 * The command line: `serve` (the default), the clients of a gateway (`create`,
 * `append`, `info`, `ls`, `tail`, `read`: log_commands.ts, tail.ts, read.ts) and `token`. The
 * subcommands are one table, {@linkcode COMMANDS}; each has `--help`. `run`
 * returns the exit code (exit_codes.ts) instead of exiting, so tests can call it.
 *
 * @example
 * ```ts
 * Deno.exit(await run(["serve", "--port", "9000", "--data", "/tmp/x"]));
 * ```
 *
 * @module
 */

import { parseFlags, parseInteger } from "./args.ts";
import { getLogger } from "@logtape/logtape";
import { join } from "node:path";
import { Origins } from "../auth/origins.ts";
import { trustedProxies } from "../auth/proxies.ts";
import { mintToken, readSecret } from "../auth/tokens.ts";
import type { Backend } from "../backend/backend.ts";
import { checkEmbedded, DB_FILE } from "../backend/embedded/store.ts";
import { openBackend } from "../backend/registry.ts";
import PACKAGE from "../../deno.json" with { type: "json" };
import {
  type Config,
  ConfigError,
  DEFAULTS,
  makeConfig,
  STORE_FULL_CHECK_BYTES,
} from "../config.ts";
import { setupLogging, stopLogging } from "../ops/log.ts";
import type { Command } from "./command.ts";
import { CliError, EXIT } from "./exit_codes.ts";
import { LOG_COMMANDS } from "./log_commands.ts";
import { type Baked, denialMessage, permissionFlags, sandboxOf, takeBaked } from "./permissions.ts";
import { SERVE_FLAG_KINDS, SERVE_FLAGS, serveHelp } from "./serve_flags.ts";
import { serveConfigFrom } from "./serve_config.ts";
import type { FlagKinds } from "./args.ts";
import { StartupError } from "../core/startup_error.ts";
import { type Gateway, startGateway } from "../gateway/gateway.ts";
import { type FdLimit, probeFdLimit, readableLimitsFile } from "../io/fd_limit.ts";
import { READ_COMMAND } from "./read.ts";
import { TAIL_COMMAND } from "./tail.ts";

const log = getLogger(["gdp-ws", "cli"]);

const DATA_FLAG = SERVE_FLAGS.find((flag) => flag.name === "data")!;
const dataHelp = (defaults: Config) => serveHelp([DATA_FLAG], defaults);
const DATA_ONLY: FlagKinds = { data: "value" };

/** How long a `gdp-ws token` lasts unless `--lifetime` says otherwise. */
const TOKEN_LIFETIME_SEC = 3600;

/** Every subcommand, by name: adding one is adding an entry. */
const COMMANDS: Record<string, Command> = {
  serve: {
    summary: "run the gateway (the default subcommand)",
    usage: "serve [options]",
    flags: SERVE_FLAG_KINDS,
    help: (defaults) => serveHelp(SERVE_FLAGS, defaults),
    run: (parsed, defaults) => serve(serveConfigFrom(parsed, defaults)),
  },
  ...LOG_COMMANDS,
  tail: TAIL_COMMAND,
  read: READ_COMMAND,
  token: {
    summary: "mint an HS256 token for development (prints it)",
    usage: "token --secret FILE [--read PATTERN]… [--append PATTERN]… [--lifetime S]",
    flags: {
      secret: "value",
      read: "list",
      append: "list",
      lifetime: "value",
      audience: "value",
      subject: "value",
    },
    help: () =>
      `Options:
  --secret FILE         the HS256 secret the gateway reads with --auth-secret (required)
  --read PATTERN        repeatable: logs the holder may subscribe to (* matches any characters)
  --append PATTERN      repeatable: logs the holder may append to
  --lifetime S          seconds until the token expires (default ${TOKEN_LIFETIME_SEC})
  --audience AUD        the aud claim (default ${DEFAULTS.authAudience})
  --subject SUB         the sub claim, shown in the gateway's logs`,
    run: async ({ positionals, values, lists }) => {
      if (positionals.length > 0) {
        throw new ConfigError(`token takes no arguments, got ${JSON.stringify(positionals[0])}`);
      }
      const secretFile = values.get("secret");
      if (!secretFile) throw new ConfigError("--secret FILE is required");
      const lifetime = values.get("lifetime");
      const subject = values.get("subject");
      console.log(
        await mintToken({
          secret: await readSecret(secretFile),
          read: lists.get("read") ?? [],
          append: lists.get("append") ?? [],
          lifetimeSec: lifetime === undefined
            ? TOKEN_LIFETIME_SEC
            : parseInteger(lifetime, "lifetime"),
          audience: values.get("audience") ?? DEFAULTS.authAudience,
          ...(subject === undefined ? {} : { subject }),
        }),
      );
      return 0;
    },
  },
  check: {
    summary: "read every page of the embedded store (PRAGMA integrity_check); exit 1 if damaged",
    usage: "check [--data DIR]",
    flags: DATA_ONLY,
    help: (defaults) =>
      `${dataHelp(defaults)}
It may run beside a serving gateway. serve checks at start too, in full up to
${STORE_FULL_CHECK_BYTES / 2 ** 20} MB and in part above (docs/embedded.md).`,
    run: ({ positionals, values }, defaults) => {
      if (positionals.length > 0) {
        throw new ConfigError(`check takes no arguments, got ${JSON.stringify(positionals[0])}`);
      }
      const dataDir = values.get("data") ?? defaults.dataDir;
      const problems = checkEmbedded(dataDir);
      const path = join(dataDir, DB_FILE);
      if (problems.length === 0) {
        console.log(`${path}: integrity_check found no problems`);
        return Promise.resolve(0);
      }
      console.log(`${path} is damaged:\n${problems.join("\n")}`);
      return Promise.resolve(1);
    },
  },
};

/**
 * Runs the command line `args`; resolves to the process exit code. A compiled
 * binary's arguments start with what `deno task compile` baked in.
 */
export async function run(args: string[]): Promise<number> {
  const { baked, rest: given } = takeBaked(args);
  const first = given[0];
  if (first === "--help" || first === "-h" || first === "help") return usage();
  if (first === "--version") return version(baked);
  const commandName = first !== undefined && first in COMMANDS ? first : "serve";
  let rest = commandName === first ? given.slice(1) : given;
  // `deno task start -- --port 9000` hands the "--" on; it separates nothing here.
  if (rest[0] === "--") rest = rest.slice(1);
  const command = COMMANDS[commandName]!;
  try {
    const defaults = baked ? bakedDefaults(baked) : DEFAULTS;
    const parsed = parseFlags(rest, { ...command.flags, help: "switch" }, `gdp-ws ${commandName}`);
    if (parsed.switches.has("help")) {
      const help = command.help(defaults);
      console.log(`Usage: gdp-ws ${command.usage}\n\n${command.summary}\n\n${help}`);
      return 0;
    }
    return await command.run(parsed, defaults);
  } catch (error) {
    return fail(error, baked);
  }
}

/** config.ts's defaults, with the paths a compiled binary was built for. */
function bakedDefaults(baked: Baked): Config {
  const { data, libgdp, cert, key } = baked;
  const secret = baked["auth-secret"];
  const keys = baked["auth-keys"];
  return makeConfig({
    ...(data ? { dataDir: data } : {}),
    ...(libgdp ? { libgdp: { path: libgdp } } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(secret ? { authSecretFile: secret } : {}),
    ...(keys ? { authKeyFile: keys } : {}),
  });
}

function usage(): number {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(54)} ${c.summary}`);
  console.log(
    "gdp-ws: a WebSocket gateway onto the Global Data Plane\n\n" +
      `Usage: gdp-ws [subcommand] [options]\n       gdp-ws --version\n\n${
        lines.join("\n")
      }\n\nEach subcommand takes --help.`,
  );
  return 0;
}

/**
 * `gdp-ws --version`: this version, the Deno it runs on and the platform it was
 * built for (a release binary's file name says the same), and the grants baked in.
 */
function version(baked: Baked | undefined): number {
  const grants = baked
    ? `${permissionFlags(sandboxOf(baked)).join(" ")} (baked in by deno task compile)`
    : "none baked in (main.ts run by deno run: its flags decide)";
  console.log(
    `gdp-ws ${PACKAGE.version}\ndeno ${Deno.version.deno} (v8 ${Deno.version.v8}, ` +
      `typescript ${Deno.version.typescript}) on ${Deno.build.target}\ngrants: ${grants}`,
  );
  return 0;
}

/**
 * Reports `error` on one line. Exit codes (exit_codes.ts): usage and
 * configuration mistakes 2, a CliError its own, the rest 1.
 */
function fail(error: unknown, baked: Baked | undefined): number {
  const denial = denialMessage(error, baked);
  const text = denial ??
    (error instanceof CliError || error instanceof StartupError ? error.message : describe(error));
  console.error(`gdp-ws: ${text}`);
  if (denial) return EXIT.failed;
  if (error instanceof CliError) return error.exitCode;
  return error instanceof ConfigError ? EXIT.usage : EXIT.failed;
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

async function serve(config: Config): Promise<number> {
  // A bad --trust-proxy, --allow-origin or --public-origin stops here, before anything opens.
  trustedProxies(config.trustProxies);
  new Origins({ allow: config.allowOrigins, own: config.publicOrigins });
  await setupLogging(config.logLevel, config.logFormat);
  // Listeners first: Deno sets its signal thread up lazily, with descriptors of its own, and
  // the count below leaves none for a moment. Until the gateway runs, a signal stops at once.
  const running: { gateway?: Gateway } = {};
  const signals: [Deno.Signal, () => void][] = [
    ["SIGINT", () => running.gateway ? void running.gateway.shutdown() : Deno.exit(130)],
    ["SIGTERM", () => running.gateway ? void running.gateway.drain() : Deno.exit(143)],
    ["SIGHUP", () => running.gateway && void reloadKeys(running.gateway)],
  ];
  for (const [signal, handler] of signals) Deno.addSignalListener(signal, handler);
  const fdLimit = countFdLimit(config);
  const backend = await openServedBackend(config);
  const gateway = running.gateway = await startGateway(config, backend, fdLimit ? { fdLimit } : {});
  await gateway.finished;
  await gateway.shutdown();
  for (const [signal, handler] of signals) Deno.removeSignalListener(signal, handler);
  await stopLogging();
  return 0;
}

/**
 * The open-file limit counted in the data folder, when no `--fd-limit` was
 * given and `/proc/self/limits` cannot be read (the compiled binary): before
 * the backend and the listener hold descriptors. Up to what the gateway could
 * ever use: every connection (WebSockets and requests in progress) and the
 * reserve.
 */
function countFdLimit(config: Config): FdLimit | undefined {
  if (config.fdLimit !== undefined || readableLimitsFile()) return undefined;
  if (config.backend === "embedded") {
    try {
      // The store makes it anyway; a path that cannot be a folder is reported when it opens.
      Deno.mkdirSync(config.dataDir, { recursive: true });
    } catch {
      return undefined;
    }
  }
  const { maxConnections, maxHandshakes, fdReserve } = config.limits;
  return probeFdLimit(config.dataDir, maxConnections + maxHandshakes + fdReserve + 64);
}

async function reloadKeys(gateway: Gateway): Promise<void> {
  try {
    await gateway.reloadKeys();
    log.info("Token keys reloaded");
  } catch (error) {
    log.error("Token keys not reloaded, the old ones stay: {error}", { error: describe(error) });
  }
}

/** The backend `config` names, or a StartupError naming the flag that chose what failed. */
async function openServedBackend(config: Config): Promise<Backend> {
  try {
    return await openBackend(config);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if (config.backend === "embedded") {
      // The folder itself failed (a file there, no permission): name it. The store's own
      // refusals (a newer schema, damage) already say what and where.
      throw osError(error) ? startupFailure("--data", config.dataDir, error) : error;
    }
    // Loading the library names it; anything later is the GDP's (router, log server).
    const loading = error instanceof Error && error.message.includes("cannot load libgdp");
    throw loading
      ? startupFailure("--libgdp", config.libgdp.path, (error as Error).cause ?? error)
      : startupFailure("--backend", config.backend, error);
  }
}

/** True for an operating system's error (Deno's, or Node's with an `E…` code). */
function osError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (typeof code === "string" && /^E[A-Z]+$/.test(code)) ||
    Object.values(Deno.errors).some((kind) => error instanceof kind);
}

/** A StartupError naming `flag` and `value`; a permission denial stays one (denialMessage). */
function startupFailure(flag: string, value: string, error: unknown): unknown {
  return error instanceof Deno.errors.NotCapable ? error : new StartupError(flag, value, error);
}
