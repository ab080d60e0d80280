/**
 * Splits a command line into flag values and positional arguments. Written
 * out instead of `node:util` `parseArgs` because that one rejects a value that
 * starts with a dash (`tail NAME --start -5`) and words its errors as advice
 * about `--`; here every mistake is one short {@linkcode ConfigError} line.
 *
 * @example
 * ```ts
 * const parsed = parseFlags(["demo", "--start", "-5"], { start: "value" }, "gdp-ws tail");
 * // parsed.positionals: ["demo"]; parsed.values.get("start"): "-5"
 * ```
 *
 * @module
 */

import { ConfigError } from "../config.ts";

/**
 * What a flag takes: a value (`--port 9000`, `--port=9000`), nothing (a
 * switch), or a value each time it is repeated (a list: `--allow-origin A --allow-origin B`).
 */
export type FlagKind = "value" | "switch" | "list";

/** The flags a command accepts, by name without the dashes. */
export type FlagKinds = Readonly<Record<string, FlagKind>>;

export interface ParsedFlags {
  positionals: string[];
  /** Values of value flags, by flag name; a repeated flag keeps its last value. */
  values: Map<string, string>;
  /** Switches given. */
  switches: Set<string>;
  /** Every value of each list flag, in order. */
  lists: Map<string, string[]>;
}

/**
 * Parses `args` against `kinds`; `command` (`gdp-ws serve`) names the command
 * in errors. `-h` is `--help`. A lone `--` ends the flags.
 */
export function parseFlags(
  args: readonly string[],
  kinds: FlagKinds,
  command: string,
): ParsedFlags {
  const parsed: ParsedFlags = {
    positionals: [],
    values: new Map(),
    switches: new Set(),
    lists: new Map(),
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      parsed.positionals.push(...args.slice(i + 1));
      break;
    }
    if (!isFlag(arg)) {
      parsed.positionals.push(arg);
      continue;
    }
    const [name, inline] = splitFlag(arg);
    const kind = kinds[name];
    if (kind === undefined) {
      throw new ConfigError(
        `unknown option ${arg.split("=")[0]} for ${command} (see ${command} --help)`,
      );
    }
    if (kind === "switch") {
      if (inline !== undefined) throw new ConfigError(`--${name} takes no value`);
      parsed.switches.add(name);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined || (inline === undefined && isFlag(value))) {
      throw new ConfigError(`--${name} needs a value`);
    }
    if (kind === "list") parsed.lists.set(name, [...(parsed.lists.get(name) ?? []), value]);
    else parsed.values.set(name, value);
  }
  return parsed;
}

/** `--x`, `-h`, but not `-5` or `-` (a negative number, standard input). */
function isFlag(arg: string): boolean {
  return arg.startsWith("-") && arg !== "-" && !/^-\d/.test(arg);
}

function splitFlag(arg: string): [string, string | undefined] {
  if (arg === "-h") return ["help", undefined];
  if (!arg.startsWith("--")) return [arg.slice(1), undefined];
  const eq = arg.indexOf("=");
  return eq === -1 ? [arg.slice(2), undefined] : [arg.slice(2, eq), arg.slice(eq + 1)];
}

/** `text` as a safe integer, or a ConfigError naming `--flag`. */
export function parseInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw new ConfigError(`--${flag} must be an integer, not ${JSON.stringify(text)}`);
  }
  return n;
}
