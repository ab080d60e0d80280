/**
 * The permission set of the compiled gateway, in one place. `deno task compile`
 * bakes two things into the binary: the permission flags, and the same paths
 * as leading `--baked-*` arguments, which become the binary's defaults. So a
 * binary started with no flags uses exactly the folder and library it may
 * touch, and can say what it was granted when something is refused.
 *
 * @example
 * ```ts
 * const baked = { data: "/var/lib/gdp-ws", libgdp: "/usr/local/lib/libgdp.so.2.1" };
 * permissionFlags(sandboxOf(baked));
 * // ["--allow-net", "--allow-read=/var/lib/gdp-ws", "--allow-write=/var/lib/gdp-ws",
 * //  "--allow-ffi=/usr/local/lib/libgdp.so.2.1"]
 * bakedArgs(baked);
 * // ["--baked-data=/var/lib/gdp-ws", "--baked-libgdp=/usr/local/lib/libgdp.so.2.1"]
 * ```
 *
 * @module
 */

/** What a binary is built for: the serve flags whose values it may use, by flag name. */
export interface Baked {
  /** The embedded store folder (read and write). */
  data?: string;
  /** The libgdp shared library (FFI). */
  libgdp?: string;
  /** PEM certificate and key for wss:// (read). */
  cert?: string;
  key?: string;
  /** Token keys: an HS256 secret, or a PEM/JWKS file re-read on SIGHUP (read). */
  "auth-secret"?: string;
  "auth-keys"?: string;
}

const BAKED_KEYS = [
  "data",
  "libgdp",
  "cert",
  "key",
  "auth-secret",
  "auth-keys",
] as const satisfies (keyof Baked)[];
const PREFIX = "--baked-";

/**
 * What a process may touch besides the network: the Deno permissions of its
 * sandbox (not to be confused with a token's grant, auth/grants.ts).
 */
export interface Sandbox {
  /** The embedded store folder; omit for a libgdp-only process. */
  dataDir?: string;
  /** The libgdp shared library; omit for an embedded-only process. */
  libgdp?: string;
  /** PEM files read at start-up for wss://. */
  tlsFiles?: string[];
  /** Token key files, read at start-up and on SIGHUP. */
  authFiles?: string[];
}

/** Deno permission flags granting exactly `sandbox`, and the network. */
export function permissionFlags(sandbox: Sandbox): string[] {
  // Not /proc/self/limits: Deno 2.9.6 refuses reads under /proc without --allow-all, so the
  // binary learns its descriptor limit otherwise (src/io/fd_limit.ts).
  const reads = [sandbox.dataDir, ...(sandbox.tlsFiles ?? []), ...(sandbox.authFiles ?? [])]
    .filter((p): p is string => !!p);
  const flags = ["--allow-net"];
  if (reads.length > 0) flags.push(`--allow-read=${reads.join(",")}`);
  if (sandbox.dataDir) flags.push(`--allow-write=${sandbox.dataDir}`);
  if (sandbox.libgdp) flags.push(`--allow-ffi=${sandbox.libgdp}`);
  return flags;
}

/** The sandbox a binary built for `baked` runs in. */
export function sandboxOf(baked: Baked): Sandbox {
  const tlsFiles = [baked.cert, baked.key].filter((p): p is string => !!p);
  const authFiles = [baked["auth-secret"], baked["auth-keys"]].filter((p): p is string => !!p);
  return {
    ...(baked.data ? { dataDir: baked.data } : {}),
    ...(baked.libgdp ? { libgdp: baked.libgdp } : {}),
    ...(tlsFiles.length > 0 ? { tlsFiles } : {}),
    ...(authFiles.length > 0 ? { authFiles } : {}),
  };
}

/** The arguments `deno compile` embeds after the script, carrying `baked`. */
export function bakedArgs(baked: Baked): string[] {
  return BAKED_KEYS.filter((k) => baked[k]).map((k) => `${PREFIX}${k}=${baked[k]}`);
}

/** Splits the leading `--baked-*` arguments (a compiled binary's) off a command line. */
export function takeBaked(args: readonly string[]): { baked?: Baked; rest: string[] } {
  const baked: Baked = {};
  let i = 0;
  for (; i < args.length && args[i]!.startsWith(PREFIX); i++) {
    const [key, ...value] = args[i]!.slice(PREFIX.length).split("=");
    if (!(BAKED_KEYS as readonly string[]).includes(key!)) break;
    baked[key as keyof Baked] = value.join("=");
  }
  return { ...(i > 0 ? { baked } : {}), rest: args.slice(i) };
}

/** How to build a binary with other grants. */
export const REBUILD = "deno task compile --data DIR --libgdp PATH";

/**
 * A one-line explanation of a permission denial: what was refused, what this
 * process may use, and (for a compiled binary) how to rebuild it. Undefined
 * when `error` and its causes hold no denial.
 */
export function denialMessage(error: unknown, baked: Baked | undefined): string | undefined {
  const denial = findDenial(error);
  if (!denial) return undefined;
  const match = /^Requires (\w+) access to (.*?), (?:run again|specify)/.exec(denial.message);
  const refused = match ? `${match[1]} access to ${match[2]}` : denial.message;
  if (!baked) {
    return `refused ${refused}: deno run was not granted it (see README's Configuration)`;
  }
  const grants = permissionFlags(sandboxOf(baked)).join(" ");
  return `refused ${refused}: this binary was built with ${grants}; ` +
    `use those paths, or rebuild it with ${REBUILD}`;
}

function findDenial(error: unknown): Error | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof Deno.errors.NotCapable) return e;
  }
  return undefined;
}
