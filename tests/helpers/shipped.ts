/**
 * Gateways as they ship: `deno run` with exactly the permission flags and
 * baked arguments `deno task compile` gives the binary (scripts/compile.ts,
 * the same function), from a folder outside the repository. A test that needs
 * more says so in one line where it passes other flags.
 */

import { type CompilePlan, compilePlan, runArgs } from "../../scripts/compile.ts";
import { serveCommand, type ServeProcess } from "./process.ts";

/** The paths a binary is built for (`deno task compile --data … --libgdp …`). */
export interface ShippedPaths {
  data: string;
  libgdp?: string;
  cert?: string;
  key?: string;
  authSecret?: string;
  authKeys?: string;
}

/** The compile plan of a binary built for `paths`. */
function planFor(paths: ShippedPaths): CompilePlan {
  const values = new Map<string, string>([["data", paths.data]]);
  const optional: [string, string | undefined][] = [
    ["libgdp", paths.libgdp],
    ["cert", paths.cert],
    ["key", paths.key],
    ["auth-secret", paths.authSecret],
    ["auth-keys", paths.authKeys],
  ];
  for (const [flag, value] of optional) if (value !== undefined) values.set(flag, value);
  return compilePlan(values);
}

/** `deno run FLAGS main.ts BAKED…`: what the binary built for `paths` runs. */
export function shippedRun(paths: ShippedPaths): string[] {
  return runArgs(planFor(paths));
}

/** The binary's permission flags alone. */
export function shippedFlags(paths: ShippedPaths): string[] {
  return planFor(paths).permissions;
}

/** Flags that make a gateway's address and logs machine-readable. */
const FOR_TEST = ["--port", "0", "--hostname", "127.0.0.1", "--log-format", "json"];

export interface ShippedOptions {
  /** Shell commands run before the gateway in its own shell: `ulimit -n 1024`. */
  setup?: string;
  /** Working directory (default: the system's temp folder, outside the repository). */
  cwd?: string;
}

/**
 * `gdp-ws serve ARGS` as the binary built for `paths` runs it, listening on an
 * ephemeral port on 127.0.0.1 with JSON logs.
 */
export function serveShipped(
  paths: ShippedPaths,
  args: string[] = [],
  options: ShippedOptions = {},
): Promise<ServeProcess> {
  const argv = [...shippedRun(paths), "serve", ...FOR_TEST, ...args];
  const cwd = options.cwd ?? Deno.env.get("TMPDIR") ?? "/tmp";
  if (options.setup === undefined) return serveCommand(argv, { cwd });
  const quoted = [Deno.execPath(), ...argv].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  return serveCommand(["-c", `${options.setup}; exec ${quoted.join(" ")}`], {
    program: "sh",
    cwd,
  });
}

/**
 * The Deno permissions of a binary built for `paths`, for `Deno.test`'s
 * `permissions` option: a gateway run inside the test process then has exactly
 * the binary's grants while the test runs (no /proc, no other files).
 */
export function shippedPermissions(paths: ShippedPaths): Deno.PermissionOptionsObject {
  const permissions: Deno.PermissionOptionsObject = {
    net: true,
    read: false,
    write: false,
    ffi: false,
    env: false,
    run: false,
    sys: false,
    import: false,
  };
  for (const flag of shippedFlags(paths)) {
    const [name, list] = flag.replace(/^--allow-/, "").split("=") as [string, string | undefined];
    const paths = list?.split(",") ?? [];
    if (name === "read") permissions.read = paths;
    else if (name === "write") permissions.write = paths;
    else if (name === "ffi") permissions.ffi = paths;
    else if (name !== "net") throw new Error(`shippedPermissions: no mapping for ${flag}`);
  }
  return permissions;
}

/**
 * `Deno.test(name, fn)` under the binary's grants, with a fresh data folder
 * (made now, outside the grants; the test gets it and may delete it).
 */
export function shippedTest(
  name: string,
  fn: (dataDir: string) => Promise<void>,
  paths: Omit<ShippedPaths, "data"> = {},
): void {
  const dataDir = Deno.makeTempDirSync({ prefix: "gdp-ws-shipped-" });
  Deno.test({
    name,
    permissions: shippedPermissions({ ...paths, data: dataDir }),
    fn: async () => {
      try {
        await fn(dataDir);
      } finally {
        await Deno.remove(dataDir, { recursive: true });
      }
    },
  });
}
