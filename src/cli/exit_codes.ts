/**
 * The exit codes of `gdp-ws`, one per kind of failure, so scripts can tell a
 * gateway that is down from one that refused them: 0 success, 1 the gateway or
 * store reported an error, 2 a usage error, 3 no gateway answered, 4 the
 * gateway refused the client (token, origin or host). docs/cli.md lists them.
 *
 * @example
 * ```ts
 * throw new CliError(EXIT.cannotConnect, "cannot connect to http://127.0.0.1:8080/: connection refused");
 * ```
 *
 * @module
 */

/** The exit codes. */
export const EXIT = {
  ok: 0,
  /** The gateway or the store answered with an error (a missing log, a limit, a failure). */
  failed: 1,
  /** The command line is wrong: an unknown option, a bad value, a missing argument. */
  usage: 2,
  /** Nothing answered at the gateway's address. */
  cannotConnect: 3,
  /** The gateway refused this client: no or a bad token, claims, origin or host (401, 403, 421). */
  refused: 4,
} as const;

/** A failure the command line reports in one line and exits with `exitCode`. */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;

  constructor(exitCode: number, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The exit code of a gateway's `ep_stat` code: refusals 4, everything else 1. */
export function exitCodeOf(code: number): number {
  return code === 401 || code === 403 || code === 421 ? EXIT.refused : EXIT.failed;
}
