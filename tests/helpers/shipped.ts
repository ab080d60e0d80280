/**
 * Gateways as they ship: `deno run` with exactly the permission flags and
 * baked arguments `deno task compile` gives the binary (scripts/compile.ts,
 * the same function), from a folder outside the repository; and tests whose
 * body, and the gateway it starts in the test process, runs under exactly the
 * binary's permissions (`shippedTest`, `libgdpTest`). A test that needs more
 * says so in one line where it passes other flags (`// needs more: REASON`,
 * checked by tests/grants_test.ts).
 *
 * @example
 * ```ts
 * import { withGatewayIn } from "./gateway.ts";
 *
 * shippedTest("a gateway under the binary's grants", (dataDir) =>
 *   withGatewayIn(dataDir, {}, async ({ http }) => {
 *     await (await fetch(http("/healthz"))).body?.cancel();
 *   }));
 * const process = await serveShipped({ data: "/tmp/data" }, [], { setup: "ulimit -n 1024" });
 * await process.stop();
 * ```
 *
 * @module
 */

import { resolve } from "node:path";
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
  /** The shell that runs `setup` and then the gateway (default `sh -c`): `unshare -rm sh -c`. */
  shell?: string[];
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
  const [program, ...shell] = options.shell ?? ["sh", "-c"];
  return serveCommand([...shell, `${options.setup}; exec ${quoted.join(" ")}`], {
    program: program!,
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
 * The binary's permissions without its data folder: `--allow-net
 * --allow-ffi=LIB`, all a libgdp gateway uses (stricter than the binary).
 */
export function libgdpPermissions(libgdp: string): Deno.PermissionOptionsObject {
  return { ...shippedPermissions({ data: "/nonexistent", libgdp }), read: false, write: false };
}

/** Both sanitizers, always (the house rule). */
const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

/** What a binary under test is built for besides its data folder, and `Deno.test`'s `ignore`. */
export interface ShippedTestOptions extends Omit<ShippedPaths, "data"> {
  /**
   * `authSecret`, `authKeys`, `cert` and `key` may be relative: names in the
   * data folder, which the test writes (and may rewrite) there.
   */
  ignore?: boolean;
}

let root: string | undefined;

/** A fresh folder for one test's data, under one folder per module removed when it unloads. */
function freshDataDir(): string {
  if (root === undefined) {
    const made = root = Deno.makeTempDirSync({ prefix: "gdp-ws-shipped-" });
    addEventListener("unload", () => {
      try {
        Deno.removeSync(made, { recursive: true });
      } catch {
        // already gone
      }
    });
  }
  return Deno.makeTempDirSync({ dir: root });
}

/**
 * `Deno.test(name, fn)` under the binary's grants, with both sanitizers and a
 * fresh data folder (made now, under the runner's grants; `fn` gets it, and
 * it is removed afterwards). The binary is built for that folder and
 * `options` (the libgdp file, token keys, TLS files). Top-level code runs
 * under the runner's grants: compile, generate and write fixtures there.
 */
export function shippedTest(
  name: string,
  fn: (dataDir: string, t: Deno.TestContext) => Promise<void>,
  options: ShippedTestOptions = {},
): void {
  const { ignore, ...built } = options;
  const data = freshDataDir();
  const paths: ShippedPaths = { ...built, data };
  for (const key of ["authSecret", "authKeys", "cert", "key"] as const) {
    const path = built[key];
    if (path !== undefined) paths[key] = resolve(data, path);
  }
  Deno.test({
    name,
    ...SANITIZED,
    ...(ignore === undefined ? {} : { ignore }),
    permissions: shippedPermissions(paths),
    fn: async (t) => {
      try {
        await fn(data, t);
      } finally {
        await Deno.remove(data, { recursive: true });
      }
    },
  });
}

/**
 * `Deno.test(name, fn)` with both sanitizers under {@linkcode libgdpPermissions}:
 * for gateways on the libgdp double, loaded at the module's top.
 */
export function libgdpTest(
  name: string,
  libgdp: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  options: { ignore?: boolean } = {},
): void {
  Deno.test({ name, ...SANITIZED, ...options, permissions: libgdpPermissions(libgdp), fn });
}

/**
 * Throws unless this code runs under no more than the binary's grants: no
 * subprocess, environment, system information or reading of arbitrary files.
 * In-process test gateways call it, so a test that starts one outside
 * {@linkcode shippedTest} or {@linkcode libgdpTest} fails.
 */
export function assertShippedGrants(what: string): void {
  const more = (["run", "env", "sys", "read"] as const)
    .filter((name) => Deno.permissions.querySync({ name }).state === "granted");
  if (more.length === 0) return;
  throw new Error(
    `${what} runs with more than the binary's grants (${more.join(", ")}): register the test ` +
      "with shippedTest or libgdpTest (tests/helpers/shipped.ts)",
  );
}
