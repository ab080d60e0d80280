/**
 * The subcommands on logs: `create`, `append`, `info` and `ls`. Each talks to
 * a gateway (`--url`, `$GDP_WS_URL`, else the local one) unless `--data DIR`
 * names a store folder to open directly (log_target.ts).
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "../config.ts";
 * import { parseFlags } from "./args.ts";
 *
 * const ls = LOG_COMMANDS.ls!;
 * const code = await ls.run(parseFlags(["--json"], ls.flags, "gdp-ws ls"), DEFAULTS);
 * ```
 *
 * @module
 */

import { type Config, ConfigError } from "../config.ts";
import { lines } from "../io/lines.ts";
import type { ParsedFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { addressHelp, gatewayAddress } from "./gateway_address.ts";
import { GatewayTarget } from "./gateway_target.ts";
import { type LogTarget, TARGET_FLAGS } from "./log_target.ts";
import { StoreTarget } from "./store_target.ts";
import { stdoutLines } from "./stdout_lines.ts";

/** The `--url`, `--token` and `--data` lines of a log subcommand's help. */
function targetHelp(defaults: Config): string {
  return `Options:
${addressHelp(defaults)}
  --data DIR            work on this embedded store folder directly, without a gateway`;
}

/** The store with `--data`, else the gateway `--url` (or its defaults) names. */
export function openTarget(values: ReadonlyMap<string, string>, defaults: Config): LogTarget {
  const data = values.get("data");
  if (data === undefined) return new GatewayTarget(gatewayAddress(values, defaults));
  for (const flag of ["url", "token"]) {
    if (values.has(flag)) {
      throw new ConfigError(`--data works on a store directly; it does not go with --${flag}`);
    }
  }
  return new StoreTarget(data);
}

/** A log subcommand: parse, open the target, `act`, close. */
function logCommand(
  usage: string,
  summary: string,
  extra: { flags?: Record<string, "switch">; help?: string },
  act: (target: LogTarget, parsed: ParsedFlags) => Promise<number>,
): Command {
  return {
    summary,
    usage,
    flags: { ...TARGET_FLAGS, ...extra.flags },
    help: (defaults) => targetHelp(defaults) + (extra.help ? `\n${extra.help}` : ""),
    run: async (parsed, defaults) => {
      const target = openTarget(parsed.values, defaults);
      try {
        return await act(target, parsed);
      } finally {
        await target.close();
      }
    },
  };
}

/** The log subcommands, by name. */
export const LOG_COMMANDS: Readonly<Record<string, Command>> = {
  create: logCommand(
    "create NAME [--url URL] [--token T] [--data DIR]",
    "create a log (or find the one that exists); prints its info as JSON",
    {},
    async (target, { positionals }) => print(await target.create(lognameArgument(positionals, 1))),
  ),
  append: logCommand(
    "append NAME [TEXT] [--url URL] [--token T] [--data DIR]",
    "append TEXT, or one record per line of standard input; prints each recno",
    { help: "The log is created when missing (unless the gateway runs with --no-auto-create)." },
    async (target, { positionals }) => {
      const logname = lognameArgument(positionals, 2);
      const out = stdoutLines();
      const encoder = new TextEncoder();
      const add = async (text: string) =>
        out.write(String(await target.append(logname, encoder.encode(text))));
      const text = positionals[1];
      if (text !== undefined) {
        await add(text);
        return 0;
      }
      for await (const line of lines(Deno.stdin.readable)) {
        if (!await add(line)) break;
      }
      return 0;
    },
  ),
  info: logCommand(
    "info NAME [--url URL] [--token T] [--data DIR]",
    "name, internal name, record count, first and last timestamps of a log",
    {},
    async (target, { positionals }) => print(await target.info(lognameArgument(positionals, 1))),
  ),
  ls: logCommand(
    "ls [--json] [--url URL] [--token T] [--data DIR]",
    "list the logs: name and record count, tab-separated",
    {
      flags: { json: "switch" },
      help: "  --json                one log info object per line (as GET /logs/NAME answers)\n" +
        "The libgdp backend lists no logs; with tokens, only the logs the token may read.",
    },
    async (target, { positionals, switches }) => {
      if (positionals.length > 0) {
        throw new ConfigError(`ls takes no arguments, got ${JSON.stringify(positionals[0])}`);
      }
      const out = stdoutLines();
      for await (const info of target.list()) {
        const line = switches.has("json")
          ? JSON.stringify(info)
          : `${info.human ?? info.name}\t${info.count}`;
        if (!out.write(line)) break;
      }
      return 0;
    },
  ),
};

function print(value: unknown): number {
  console.log(JSON.stringify(value, null, 2));
  return 0;
}

/** The NAME argument, checking that at most `max` arguments were given. */
export function lognameArgument(positionals: string[], max: number): string {
  const logname = positionals[0];
  if (!logname) throw new ConfigError("NAME is required");
  if (positionals.length > max) {
    throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[max])}`);
  }
  return logname;
}
