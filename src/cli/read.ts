/**
 * `gdp-ws read`: prints a range of a log, by recno (`--start`, `--count`) or
 * by time (`--since`, `--until`: RFC 3339, or a duration ago such as `15m`),
 * through a running gateway's range endpoint (`GET /logs/NAME/records`,
 * every page of it), then exits. Lines are tail's: `recno<TAB>ISO time<TAB>data`,
 * or with `--json` a DATA event's `datum`.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "../config.ts";
 * import { parseFlags } from "./args.ts";
 *
 * const args = ["edu.berkeley.demo.temp", "--since", "1h", "--json"];
 * const code = await READ_COMMAND.run(parseFlags(args, READ_COMMAND.flags, "gdp-ws read"), DEFAULTS);
 * ```
 *
 * @module
 */

import { ConfigError } from "../config.ts";
import { parseInteger } from "./args.ts";
import type { Command } from "./command.ts";
import { addressHelp, gatewayAddress } from "./gateway_address.ts";
import { GatewayTarget } from "./gateway_target.ts";
import { lognameArgument } from "./log_commands.ts";
import { stdoutLines } from "./stdout_lines.ts";
import { timeArgument } from "./time_argument.ts";

/** A record as the range endpoint sends it. */
interface Datum {
  recno: number;
  data: string;
  encoding?: "base64";
  ts: { tv_sec: number; tv_nsec: number; tv_accuracy: number };
}

/** The `read` subcommand. */
export const READ_COMMAND: Command = {
  summary: "print a range of a log's records, by recno or by time, through a running gateway",
  usage:
    "read NAME [--start N] [--count N] [--since T] [--until T] [--json] [--url URL] [--token T]",
  flags: {
    start: "value",
    count: "value",
    since: "value",
    until: "value",
    json: "switch",
    url: "value",
    token: "value",
  },
  help: (defaults) =>
    `Options:
  --start N             the first record: N, or -N for the last N (default 1)
  --count N             at most N records
  --since T             instead of --start: from the first record stamped at or after T
  --until T             only records stamped before T
  --json                one JSON object per record: {"recno", "data", "ts"} (+ "encoding")
${addressHelp(defaults)}
T is an RFC 3339 time (2026-12-07T05:49:54Z) or how long ago (30s, 15m, 2h30m, 7d).
Exit codes: 0 done, 1 error, 2 usage, 3 cannot connect, 4 refused.`,
  run: async ({ positionals, values, switches }, defaults) => {
    const logname = lognameArgument(positionals, 1);
    const query = new URLSearchParams();
    for (const flag of ["start", "count"]) {
      const text = values.get(flag);
      if (text !== undefined) query.set(flag, String(parseInteger(text, flag)));
    }
    for (const flag of ["since", "until"]) {
      const text = values.get(flag);
      if (text !== undefined) query.set(flag, timeArgument(text, flag));
    }
    if (query.has("start") && query.has("since")) {
      throw new ConfigError("--since and --start exclude each other: give one");
    }
    const gateway = new GatewayTarget(gatewayAddress(values, defaults));
    return await read(gateway, logname, query, switches.has("json"));
  },
};

/** Prints the records `query` names, every page, until the range or the reader ends. */
export async function read(
  gateway: Pick<GatewayTarget, "records">,
  logname: string,
  query: URLSearchParams,
  json: boolean,
): Promise<number> {
  const out = stdoutLines();
  for await (const line of gateway.records(logname, query)) {
    const datum = JSON.parse(line) as Datum;
    if (!out.write(json ? JSON.stringify(datum) : formatDatum(datum))) break;
  }
  return 0;
}

/** `recno<TAB>ISO time<TAB>data`, as tail prints a record (`base64:…` when not UTF-8). */
export function formatDatum(datum: Datum): string {
  const { recno, data, encoding, ts } = datum;
  const date = new Date(ts.tv_sec * 1000 + Math.floor(ts.tv_nsec / 1e6));
  return `${recno}\t${date.toISOString()}\t${encoding === "base64" ? `base64:${data}` : data}`;
}
