/**
 * `deno task compile`: builds the single `gdp-ws` executable. It bakes in the
 * permission flags of src/cli/permissions.ts and, after the script, the same paths
 * as `--baked-*` arguments, which become the binary's defaults: started with
 * no flags, it uses the folder and library it may touch. Paths are made
 * absolute, since the binary checks them at run time wherever it is started.
 *
 * @module
 */

import { resolve } from "node:path";
import { parseFlags } from "../src/cli/args.ts";
import { ConfigError } from "../src/config.ts";
import { type Baked, bakedArgs, permissionFlags, sandboxOf } from "../src/cli/permissions.ts";

const HELP = `Usage: deno task compile [--data DIR] [--libgdp PATH] [--cert FILE --key FILE]
                         [--auth-secret FILE | --auth-keys FILE]
                         [--output FILE] [--target TRIPLE] [--dry-run]

Builds gdp-ws as one executable that may use only the network, the data folder
and the libgdp file it is built for; those are also its defaults.

Options:
  --data DIR        embedded store folder (default /var/lib/gdp-ws)
  --libgdp PATH     libgdp shared library (default /usr/local/lib/libgdp.so.2.1)
  --cert FILE       PEM certificate and key for wss://: granted and used by default
  --key FILE
  --auth-secret FILE  HS256 token secret: granted and used by default (tokens required)
  --auth-keys FILE  ES256/RS256 PEM or JWKS token keys: granted and used by default
  --output FILE     the executable (default gdp-ws)
  --target TRIPLE   cross-compile, e.g. aarch64-unknown-linux-gnu
  --dry-run         print the deno compile command without running it
  --help            this text`;

const OPTIONS = {
  data: "value",
  libgdp: "value",
  cert: "value",
  key: "value",
  "auth-secret": "value",
  "auth-keys": "value",
  output: "value",
  target: "value",
  "dry-run": "switch",
  help: "switch",
} as const;

const DEFAULT_DATA = "/var/lib/gdp-ws";
const DEFAULT_LIBGDP = "/usr/local/lib/libgdp.so.2.1";
const MAIN = resolve(import.meta.dirname!, "../main.ts");

/** What `deno compile` is given: the grants, the script and the baked defaults. */
export interface CompilePlan {
  /** Deno permission flags: exactly what the binary may touch. */
  permissions: string[];
  /** `--baked-*` arguments after the script: the binary's defaults. */
  baked: string[];
  target?: string;
  output: string;
}

/**
 * The plan for a command line's options (`data`, `libgdp`, `cert`, `key`,
 * `auth-secret`, `auth-keys`, `output`, `target`). Tests start gateways under
 * exactly these grants (tests/helpers/shipped.ts).
 */
export function compilePlan(values: ReadonlyMap<string, string>): CompilePlan {
  const path = (flag: string) => values.has(flag) ? resolve(values.get(flag)!) : undefined;
  const baked: Baked = {
    data: path("data") ?? DEFAULT_DATA,
    libgdp: path("libgdp") ?? DEFAULT_LIBGDP,
    ...(values.has("cert") ? { cert: path("cert")! } : {}),
    ...(values.has("key") ? { key: path("key")! } : {}),
    ...(values.has("auth-secret") ? { "auth-secret": path("auth-secret")! } : {}),
    ...(values.has("auth-keys") ? { "auth-keys": path("auth-keys")! } : {}),
  };
  if ((baked.cert === undefined) !== (baked.key === undefined)) {
    throw new ConfigError("--cert and --key go together: give both or neither");
  }
  const target = values.get("target");
  return {
    permissions: permissionFlags(sandboxOf(baked)),
    baked: bakedArgs(baked),
    ...(target ? { target } : {}),
    output: values.get("output") ?? "gdp-ws",
  };
}

/** The `deno compile` arguments of a plan. */
export function compileArgs(plan: CompilePlan): string[] {
  return [
    "compile",
    ...plan.permissions,
    ...(plan.target ? ["--target", plan.target] : []),
    "--output",
    plan.output,
    MAIN,
    ...plan.baked,
  ];
}

/** The `deno run` arguments that run what a plan's binary runs, under its grants. */
export function runArgs(plan: CompilePlan): string[] {
  return ["run", "--no-prompt", ...plan.permissions, MAIN, ...plan.baked];
}

async function main(argv: string[]): Promise<number> {
  // `deno task compile -- --data DIR` hands the "--" on.
  const args = argv[0] === "--" ? argv.slice(1) : argv;
  const { positionals, values, switches } = parseFlags(args, OPTIONS, "deno task compile");
  if (switches.has("help")) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new ConfigError(
      `deno task compile takes no arguments, got ${JSON.stringify(positionals[0])}`,
    );
  }
  const compile = compileArgs(compilePlan(values));
  console.log(`deno ${compile.join(" ")}`);
  if (switches.has("dry-run")) return 0;
  const { code } = await new Deno.Command(Deno.execPath(), { args: compile }).spawn().status;
  return code;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(2);
  }
}
