/** Starts a real gateway in this process on an ephemeral port, for tests. */

import type { Backend } from "../../src/backend/backend.ts";
import { type EmbeddedBackend, openEmbedded } from "../../src/backend/embedded.ts";
import { type Config, type Limits, makeConfig } from "../../src/config.ts";
import { type Gateway, startGateway } from "../../src/server.ts";

/** What the shared protocol suite needs from a backend under test. */
export interface SuiteFixture {
  backend: Backend;
  createLog(name: string): Promise<void>;
  append(name: string, data: Uint8Array): Promise<void>;
  teardown(): Promise<void>;
}

/** Limits for tests: logs close as soon as their last subscriber leaves. */
export const TEST_LIMITS: Partial<Limits> = { feedLingerMs: 0, shutdownGraceMs: 50 };

/** Settings of a test gateway other than its limits (auth, origins, ...). */
export type TestSettings = Partial<Omit<Config, "limits" | "port" | "hostname">>;

/** A gateway on 127.0.0.1 with an ephemeral port. */
export function serveForTest(
  backend: Backend,
  limits: Partial<Limits> = {},
  settings: TestSettings = {},
): Promise<Gateway> {
  const config = makeConfig({
    ...settings,
    port: 0,
    hostname: "127.0.0.1",
    limits: { ...TEST_LIMITS, ...limits },
  });
  return startGateway(config, backend);
}

/** A gateway on a fresh embedded store for `fn`, both removed afterwards even on failure. */
export async function withGateway(
  settings: TestSettings,
  fn: (gateway: Gateway) => Promise<void>,
  limits: Partial<Limits> = {},
): Promise<void> {
  const fixture = await embeddedFixture();
  const gateway = await serveForTest(fixture.backend, limits, settings);
  try {
    await fn(gateway);
  } finally {
    await gateway.shutdown();
    await fixture.teardown();
  }
}

/** The http:// URL of `path` on the gateway at `wsUrl`. */
export function httpUrl(wsUrl: string, path: string): string {
  return wsUrl.replace(/^ws/, "http").replace(/\/$/, "") + path;
}

/** An embedded store in a fresh temporary folder. */
export async function embeddedFixture(): Promise<SuiteFixture & { dataDir: string }> {
  const dataDir = await Deno.makeTempDir({ prefix: "gdp-ws-test-" });
  const backend = openEmbedded({ dataDir, pollMs: 20 });
  return {
    dataDir,
    backend,
    createLog: async (name) => void await backend.create(name),
    append: async (name, data) => {
      const log = await backend.open(name);
      await log.append(data);
      await log.close();
    },
    teardown: async () => {
      await backend.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

const encoder = new TextEncoder();

/** Appends `record N` for N in from..to. */
export async function appendRange(
  fixture: SuiteFixture,
  name: string,
  from: number,
  to: number,
): Promise<void> {
  for (let n = from; n <= to; n++) await fixture.append(name, encoder.encode(`record ${n}`));
}

/** What {@linkcode withEmbeddedGateway} hands a test. */
export interface EmbeddedGateway {
  gateway: Gateway;
  backend: EmbeddedBackend;
  dataDir: string;
  /** `http://127.0.0.1:PORT` + `path`. */
  http(path: string): string;
}

/** Runs `fn` against a gateway on a fresh embedded store; removes both afterwards. */
export async function withEmbeddedGateway(
  limits: Partial<Limits>,
  fn: (g: EmbeddedGateway) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "gdp-ws-test-" });
  const backend = openEmbedded({ dataDir, pollMs: 20 });
  const gateway = await serveForTest(backend, limits);
  const base = gateway.url.replace(/^ws/, "http").replace(/\/$/, "");
  try {
    await fn({ gateway, backend, dataDir, http: (path) => base + path });
  } finally {
    await gateway.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
}
