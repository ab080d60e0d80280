/**
 * Every backend the gateway can serve logs from, declared once: its kind (the
 * `--backend` value), a few words for `--help` and README, and how to open it
 * from the configuration. The libgdp backend is imported only when asked for,
 * so an embedded gateway never loads FFI code. To add a backend, implement
 * {@linkcode Backend}, add one entry here, and run `protocolSuite` on it
 * (docs/development.md has the recipe).
 *
 * @example
 * ```ts
 * import { makeConfig } from "../config.ts";
 *
 * const backend = await openBackend(makeConfig({ backend: "embedded", dataDir: "./data" }));
 * console.log(backend.kind); // "embedded"
 * await backend.close();
 * ```
 *
 * @module
 */

import { type Config, ConfigError } from "../config.ts";
import type { Backend } from "./backend.ts";
import { openEmbedded } from "./embedded/store.ts";

/** One backend: what it is called, what it is, and how it opens. */
export interface BackendEntry {
  /** `--backend KIND`. */
  kind: string;
  /** For `--help`: `the SQLite store`. */
  description: string;
  open(config: Config): Promise<Backend>;
}

/** The backends, the default first. */
export const BACKENDS: readonly BackendEntry[] = [
  {
    kind: "embedded",
    description: "the SQLite store",
    open: (config) => Promise.resolve(openEmbedded({ dataDir: config.dataDir })),
  },
  {
    kind: "libgdp",
    description: "a real GDP",
    open: async (config) => {
      const { openLibgdpBackend } = await import("./libgdp/backend.ts");
      return await openLibgdpBackend(config.libgdp);
    },
  },
];

/** The entry of `kind`; a ConfigError naming the kinds when there is none. */
export function backendEntry(kind: string, flag = "backend"): BackendEntry {
  const entry = BACKENDS.find((b) => b.kind === kind);
  if (entry) return entry;
  const kinds = BACKENDS.map((b) => b.kind);
  throw new ConfigError(
    `${flag} must be ${kinds.slice(0, -1).join(", ")} or ${kinds.at(-1)}, not ${kind}`,
  );
}

/** Opens the backend `config.backend` names. */
export function openBackend(config: Config): Promise<Backend> {
  return backendEntry(config.backend).open(config);
}
