/**
 * The `gdp-ws serve` command line as a validated {@linkcode Config}, by the
 * table of serve_flags.ts: errors name the flag, a switch flips its default, a
 * list flag takes every value given.
 *
 * @example
 * ```ts
 * const config = serveConfig(["--port", "9000", "--no-auto-create"]);
 * // config.port === 9000, config.autoCreate === false
 * ```
 *
 * @module
 */

import { backendEntry } from "../backend/registry.ts";
import { type ParsedFlags, parseFlags, parseInteger } from "./args.ts";
import { type Config, ConfigError, type ConfigInput, DEFAULTS, makeConfig } from "../config.ts";
import { type ConfigField, fieldValue, SERVE_FLAG_KINDS, SERVE_FLAGS } from "./serve_flags.ts";

/** The serve command line as a validated Config; errors name the flag. */
export function serveConfig(args: readonly string[]): Config {
  return serveConfigFrom(parseFlags(args, SERVE_FLAG_KINDS, "gdp-ws serve"));
}

/** {@linkcode serveConfig} of a command line already parsed, over `defaults`. */
export function serveConfigFrom(
  { positionals, values, switches, lists }: ParsedFlags,
  defaults: Config = DEFAULTS,
): Config {
  if (positionals.length > 0) {
    throw new ConfigError(
      `serve takes no arguments, got ${JSON.stringify(positionals[0])}` +
        " (subcommands come first: gdp-ws SUBCOMMAND …)",
    );
  }
  const input: Record<string, unknown> = {};
  for (const flag of SERVE_FLAGS) {
    const text = values.get(flag.name);
    if (flag.type === "switch") {
      if (switches.has(flag.name)) setField(input, flag.field, !fieldValue(defaults, flag.field));
    } else if (flag.type === "list") {
      const all = lists.get(flag.name);
      if (all) setField(input, flag.field, all);
    } else if (text !== undefined) {
      setField(input, flag.field, flag.type === "int" ? parseInteger(text, flag.name) : text);
    }
  }
  const config = makeConfig(input as ConfigInput, flagName, defaults);
  backendEntry(config.backend, flagName("backend"));
  return config;
}

/** How config.ts names a field in its errors: by its flag, when it has one. */
function flagName(field: string): string {
  const flag = SERVE_FLAGS.find((f) => f.field === field);
  return flag ? `--${flag.name}` : field;
}

function setField(target: Record<string, unknown>, field: ConfigField, value: unknown): void {
  const [head, tail] = field.split(".") as [string, string | undefined];
  if (tail === undefined) {
    target[head] = value;
    return;
  }
  const group = (target[head] ??= {}) as Record<string, unknown>;
  group[tail] = value;
}
