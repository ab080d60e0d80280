/**
 * `deno task compile`: builds the single `gdp-ws` executable with the permission
 * set of src/permissions.ts baked in. Paths are made absolute, since the binary
 * checks them at run time, wherever it is started from.
 *
 *   deno task compile [--data DIR] [--libgdp PATH] [--cert FILE --key FILE]
 *                     [--output FILE] [--target TRIPLE] [--dry-run]
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { permissionFlags } from "../src/permissions.ts";

export const COMPILE_DEFAULTS = {
  data: "/var/lib/gdp-ws",
  libgdp: "/usr/local/lib/libgdp.so.2.1",
  output: "gdp-ws",
};

/** The `deno compile` arguments for these options. */
export function compileArgs(values: Record<string, string | boolean | undefined>): string[] {
  const str = (k: string) => typeof values[k] === "string" ? values[k] as string : undefined;
  const tls = [str("cert"), str("key")].filter((p): p is string => !!p).map((p) => resolve(p));
  const flags = permissionFlags({
    dataDir: resolve(str("data") ?? COMPILE_DEFAULTS.data),
    libgdp: resolve(str("libgdp") ?? COMPILE_DEFAULTS.libgdp),
    tlsFiles: tls,
  });
  const target = str("target");
  return [
    "compile",
    ...flags,
    ...(target ? ["--target", target] : []),
    "--output",
    str("output") ?? COMPILE_DEFAULTS.output,
    resolve(import.meta.dirname!, "../main.ts"),
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    // `deno task compile -- --data DIR` hands the "--" on.
    args: Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args,
    options: {
      data: { type: "string" },
      libgdp: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      output: { type: "string" },
      target: { type: "string" },
      "dry-run": { type: "boolean" },
    },
  });
  const args = compileArgs(values);
  console.log(`deno ${args.join(" ")}`);
  if (!values["dry-run"]) {
    const { code } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
    Deno.exit(code);
  }
}
