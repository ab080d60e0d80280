/** Starts a real gateway in this process on an ephemeral port, for tests. */

import type { Backend } from "../../src/backend/backend.ts";
import { type EmbeddedBackend, openEmbedded } from "../../src/backend/embedded/store.ts";
import { type Config, type Limits, makeConfig } from "../../src/config.ts";
import { type Gateway, startGateway } from "../../src/gateway/gateway.ts";
import { fdLimit } from "../../src/io/fd_limit.ts";
import { assertShippedGrants } from "./shipped.ts";

/** What the shared protocol suite needs from a backend under test. */
export interface SuiteFixture {
  backend: Backend;
  /** The `ep_stat` records arrive with, as the raw text of the wire. */
  recordStat: string;
  createLog(name: string): Promise<void>;
  append(name: string, data: Uint8Array): Promise<void>;
  teardown(): Promise<void>;
}

/** Limits for tests: logs close as soon as their last subscriber leaves. */
export const TEST_LIMITS: Partial<Limits> = { feedLingerMs: 0, shutdownGraceMs: 50 };

/** Settings of a test gateway other than its limits (auth, origins, ...). */
export type TestSettings = Partial<Omit<Config, "limits" | "port">>;

/**
 * This process's descriptor limit, read at load under the runner's grants. A
 * test gateway gets it as `--fd-limit` (what the systemd unit passes the
 * binary): under the binary's grants it cannot read /proc itself.
 */
const FD_LIMIT = await fdLimit();

/**
 * A gateway on 127.0.0.1 with an ephemeral port, in this process: only inside
 * a test that runs under the binary's grants (`shippedTest`, `libgdpTest`).
 */
export function serveForTest(
  backend: Backend,
  limits: Partial<Limits> = {},
  settings: TestSettings = {},
): Promise<Gateway> {
  assertShippedGrants("a test gateway");
  const config = makeConfig({
    hostname: "127.0.0.1",
    ...(FD_LIMIT.source === "proc" ? { fdLimit: FD_LIMIT.limit } : {}),
    ...settings,
    port: 0,
    limits: { ...TEST_LIMITS, ...limits },
  });
  return startGateway(config, backend);
}

/** {@linkcode withGatewayIn} for tests that need only the gateway, with `settings`. */
export function withGateway(
  dataDir: string,
  settings: TestSettings,
  fn: (gateway: Gateway) => Promise<void>,
  limits: Partial<Limits> = {},
): Promise<void> {
  return withGatewayIn(dataDir, limits, ({ gateway }) => fn(gateway), settings);
}

/** A fresh folder inside a test's data folder: the store of another gateway in the same test. */
export function freshStore(dataDir: string): Promise<string> {
  return Deno.makeTempDir({ dir: dataDir, prefix: "store-" });
}

/** The http:// URL of `path` on the gateway at `wsUrl`. */
export function httpUrl(wsUrl: string, path: string): string {
  return wsUrl.replace(/^ws/, "http").replace(/\/$/, "") + path;
}

/**
 * An embedded store in `dataDir` (a test's shipped data folder, left in place),
 * or in a fresh temporary folder removed at teardown.
 */
export async function embeddedFixture(given?: string): Promise<SuiteFixture & { dataDir: string }> {
  const dataDir = given ?? await Deno.makeTempDir({ prefix: "gdp-ws-test-" });
  const backend = openEmbedded({ dataDir, pollMs: 20 });
  return {
    dataDir,
    backend,
    recordStat: '[200, "OK"]',
    createLog: async (name) => void await backend.create(name),
    append: async (name, data) => {
      const log = await backend.open(name);
      await log.append(data);
      await log.close();
    },
    teardown: async () => {
      await backend.close();
      if (given === undefined) await Deno.remove(dataDir, { recursive: true });
    },
  };
}

const encoder = new TextEncoder();

/** Appends `record N` for N in from..to. */
export async function appendRange(
  fixture: Pick<SuiteFixture, "append">,
  name: string,
  from: number,
  to: number,
): Promise<void> {
  for (let n = from; n <= to; n++) await fixture.append(name, encoder.encode(`record ${n}`));
}

/** What {@linkcode withGatewayIn} hands a test. */
export interface EmbeddedGateway {
  gateway: Gateway;
  backend: EmbeddedBackend;
  dataDir: string;
  /** `http://127.0.0.1:PORT` + `path`. */
  http(path: string): string;
}

/**
 * Runs `fn` against a gateway on an embedded store in `dataDir` (a test's
 * shipped data folder, which it leaves in place); shuts both down afterwards,
 * also when the gateway refuses to start.
 */
export async function withGatewayIn(
  dataDir: string,
  limits: Partial<Limits>,
  fn: (g: EmbeddedGateway) => Promise<void>,
  settings: TestSettings = {},
): Promise<void> {
  const backend = openEmbedded({ dataDir, pollMs: 20 });
  try {
    const gateway = await serveForTest(backend, limits, settings);
    try {
      await fn({ gateway, backend, dataDir, http: (path) => httpUrl(gateway.url, path) });
    } finally {
      await gateway.shutdown();
    }
  } finally {
    await backend.close();
  }
}

/** Creates `name` with one empty record through `POST /logs/NAME`; throws unless 201. */
export async function postEmpty(gateway: Gateway, name: string): Promise<void> {
  const response = await fetch(httpUrl(gateway.url, `/logs/${name}`), { method: "POST" });
  await response.body?.cancel();
  if (response.status !== 201) throw new Error(`POST /logs/${name} answered ${response.status}`);
}
