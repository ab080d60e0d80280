/**
 * What a subcommand of `gdp-ws` is: its usage line, its flags, its help text
 * and what it runs. cli.ts keeps the table of them; adding a subcommand is one
 * more entry there.
 *
 * @example
 * ```ts
 * const hello: Command = {
 *   summary: "say hello",
 *   usage: "hello",
 *   flags: {},
 *   help: () => "No options.",
 *   run: () => Promise.resolve(0),
 * };
 * ```
 *
 * @module
 */

import type { FlagKinds, ParsedFlags } from "./args.ts";
import type { Config } from "../config.ts";

/** One subcommand. */
export interface Command {
  summary: string;
  usage: string;
  flags: FlagKinds;
  /** The `Options:` text, showing `defaults`. */
  help(defaults: Config): string;
  /** Runs it; resolves to the exit code. Throws ConfigError (exit 2) or CliError. */
  run(parsed: ParsedFlags, defaults: Config): Promise<number>;
}
