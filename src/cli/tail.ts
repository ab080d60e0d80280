/**
 * `gdp-ws tail`: prints a log's records as they arrive through a running
 * gateway, one line each (recno, ISO timestamp, data; or `--json`). It is a
 * client of the gateway through client/gdp-ws.js, so a dropped connection or a
 * restarted gateway costs no record: it reconnects and resumes after the last
 * one printed. A gateway that cannot be reached or refuses the client ends it
 * at once with the reason (exit 3 or 4) unless `--retry`; `--wait` waits for a
 * log that does not exist yet.
 *
 * @example
 * ```ts
 * const code = await tail({
 *   url: "ws://127.0.0.1:8080/",
 *   logname: "edu.berkeley.demo.temp",
 *   startrec: -10,
 *   numrec: 0,
 * });
 * ```
 *
 * @module
 */

import { connect, type GdpRecord, type GdpWsError } from "../../client/gdp-ws.js";
import { ConfigError } from "../config.ts";
import { parseInteger } from "./args.ts";
import type { Command } from "./command.ts";
import { EXIT, exitCodeOf } from "./exit_codes.ts";
import { addressHelp, gatewayAddress } from "./gateway_address.ts";
import { lognameArgument } from "./log_commands.ts";
import { type LineWriter, stdoutLines } from "./stdout_lines.ts";
import { timeArgument } from "./time_argument.ts";

export interface TailOptions {
  url: string;
  logname: string;
  startrec: number;
  /** Instead of `startrec`: from the first record stamped at or after this RFC 3339 time. */
  since?: string;
  numrec: number;
  /** A bearer token, sent as the `bearer.TOKEN` subprotocol. */
  token?: string;
  /** Print JSON lines (a DATA event's `datum`) instead of tab-separated text. */
  json?: boolean;
  /** Wait for a log that does not exist yet instead of failing with 600. */
  wait?: boolean;
  /** Keep retrying when the gateway cannot be reached or refuses the client. */
  retry?: boolean;
  /** Where lines go (standard output by default). */
  out?: LineWriter;
  /** Where reasons go (standard error by default). */
  report?: (line: string) => void;
}

/** How often `--wait` asks again for a log that does not exist yet, at most. */
const WAIT_MAX_MS = 2000;

/** The `tail` subcommand. */
export const TAIL_COMMAND: Command = {
  summary: "print a log's records as they arrive, through a running gateway",
  usage:
    "tail NAME [--start N | --since T] [--count N] [--wait] [--json] [--retry] [--url URL] [--token T]",
  flags: {
    start: "value",
    since: "value",
    count: "value",
    url: "value",
    token: "value",
    wait: "switch",
    json: "switch",
    retry: "switch",
  },
  help: (defaults) =>
    `Options:
  --start N             startrec: -10 (default) the last ten, 0 only new ones, N from record N
  --since T             instead of --start: from the first record stamped at or after T, an
                        RFC 3339 time (2026-12-07T05:49:54Z) or how long ago (15m, 2h30m, 7d)
  --count N             numrec: records to print before exiting; 0 (default) follows forever
  --wait                wait for the log to be created instead of failing with 600
  --json                one JSON object per record: {"recno", "data", "ts"} (+ "encoding")
  --retry               keep retrying when the gateway cannot be reached or refuses the token
${addressHelp(defaults)}
Once connected, a dropped connection is retried with backoff and tail resumes after the last
record printed. Exit codes: 0 done, 1 error, 2 usage, 3 cannot connect, 4 refused.`,
  run: ({ positionals, values, switches }, defaults) => {
    const integer = (flag: string, fallback: number) => {
      const text = values.get(flag);
      return text === undefined ? fallback : parseInteger(text, flag);
    };
    const address = gatewayAddress(values, defaults);
    const since = values.get("since");
    if (since !== undefined && values.has("start")) {
      throw new ConfigError("--since and --start exclude each other: give one");
    }
    return tail({
      ...(address.token === undefined ? {} : { token: address.token }),
      ...(since === undefined ? {} : { since: timeArgument(since, "since") }),
      url: address.ws,
      logname: lognameArgument(positionals, 1),
      startrec: integer("start", -10),
      numrec: integer("count", 0),
      json: switches.has("json"),
      wait: switches.has("wait"),
      retry: switches.has("retry"),
    });
  },
};

/** Subscribes and prints until DONE, an error or a closed pipe; resolves to the exit code. */
export function tail(options: TailOptions): Promise<number> {
  const out = options.out ?? stdoutLines();
  const report = options.report ?? ((line: string) => console.error(`gdp-ws: ${line}`));
  const { url, logname } = options;
  const { promise, resolve } = Promise.withResolvers<number>();
  let connected = false;
  let finished = false;
  let waitTimer: ReturnType<typeof setTimeout> | undefined;
  const client = connect(url, {
    ...(options.token === undefined ? {} : { token: options.token }),
    retryRefused: options.retry === true,
    onState: (state) => {
      if (state === "live") connected = true;
      else if (state === "reconnecting" && connected) {
        report(`connection lost; reconnecting to ${url}`);
      }
    },
    onError: (error) => {
      // Before the first connection a failure ends tail, unless --retry; after it, a
      // restarting gateway is expected, and tail waits for it.
      if (!connected && !options.retry) return finish(failureCode(error), explain(error));
      const retrying = !error.refused || options.retry;
      if (retrying) report(`${explain(error)}; retrying`);
    },
  });
  const explain = (error: GdpWsError) => describe(error, url, options.token !== undefined);
  const finish = (code: number, reason?: string) => {
    if (finished) return;
    finished = true;
    if (reason) report(reason);
    clearTimeout(waitTimer);
    client.close();
    resolve(code);
  };
  let waited = 0;
  const subscribe = () => {
    client.subscribe(logname, {
      start: options.startrec,
      ...(options.since === undefined ? {} : { since: options.since }),
      count: options.numrec,
      onRecord: (record) => {
        if (finished) return;
        if (!out.write(options.json ? jsonRecord(record) : formatRecord(record))) finish(0);
      },
      onDone: () => finish(0),
      onError: (error: GdpWsError) => {
        if (options.wait && error.code === 600 && !finished) {
          if (waited === 0) report(`waiting for ${logname} to be created`);
          const delay = Math.min(WAIT_MAX_MS, 250 * 2 ** waited++);
          waitTimer = setTimeout(subscribe, delay);
          return;
        }
        finish(failureCode(error), explain(error));
      },
      onWarning: (error: GdpWsError) => report(error.message),
    });
  };
  subscribe();
  return promise;
}

/** The exit code of a failure: 3 nothing answered, 4 refused, 1 the rest. */
function failureCode(error: GdpWsError): number {
  return error.unreachable ? EXIT.cannotConnect : exitCodeOf(error.code);
}

/** One line on a failure: what was tried, and the gateway's reason. */
function describe(error: GdpWsError, url: string, hadToken: boolean): string {
  if (error.unreachable) {
    return error.message.replace(/^ERROR: 503 service unavailable: /, "");
  }
  if (error.refused) {
    const hint = error.code === 401 && !hadToken ? " (pass --token or set GDP_WS_TOKEN)" : "";
    return `refused by ${url}: ${error.message}${hint}`;
  }
  return error.message;
}

/** `recno<TAB>ISO time<TAB>data`; a payload that is not UTF-8 is shown as `base64:…`. */
export function formatRecord(record: GdpRecord): string {
  const data = record.encoding === "base64" ? `base64:${record.data}` : record.data;
  return `${record.recno}\t${record.date.toISOString()}\t${data}`;
}

/** A record as a DATA event's `datum`: recno, data, encoding (when base64), ts. */
export function jsonRecord(record: GdpRecord): string {
  const { recno, data, encoding, ts } = record;
  return JSON.stringify({
    recno,
    data,
    ...(encoding === "base64" ? { encoding } : {}),
    ts: { tv_sec: ts.sec, tv_nsec: ts.nsec, tv_accuracy: ts.accuracy },
  });
}
