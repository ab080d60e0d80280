/**
 * The permission set of the compiled gateway, in one place: `scripts/compile.ts`
 * bakes these flags into the binary and the tests run `main.ts` under exactly
 * the same flags. The network, the data folder (embedded mode), the one libgdp
 * file (libgdp mode) and the TLS files, and nothing else.
 *
 * @example
 * ```ts
 * permissionFlags({ dataDir: "/var/lib/gdp-ws", libgdp: "/usr/local/lib/libgdp.so.2.1" });
 * // ["--allow-net", "--allow-read=/var/lib/gdp-ws", "--allow-write=/var/lib/gdp-ws",
 * //  "--allow-ffi=/usr/local/lib/libgdp.so.2.1"]
 * ```
 *
 * @module
 */

export interface Grants {
  /** The embedded store folder; omit for a libgdp-only binary. */
  dataDir?: string;
  /** The libgdp shared library; omit for an embedded-only binary. */
  libgdp?: string;
  /** PEM files read at start-up for wss://. */
  tlsFiles?: string[];
}

/** Deno permission flags granting exactly `grants`. */
export function permissionFlags(grants: Grants): string[] {
  const reads = [grants.dataDir, ...(grants.tlsFiles ?? [])].filter((p): p is string => !!p);
  const flags = ["--allow-net"];
  if (reads.length > 0) flags.push(`--allow-read=${reads.join(",")}`);
  if (grants.dataDir) flags.push(`--allow-write=${grants.dataDir}`);
  if (grants.libgdp) flags.push(`--allow-ffi=${grants.libgdp}`);
  return flags;
}
