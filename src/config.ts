/**
 * The one Config object: every default and every limit lives here, validated
 * once. The command line (cli.ts) only maps flags onto {@linkcode Config}.
 *
 * @module
 */

import { getLogLevels, isLogLevel, type LogLevel } from "@logtape/logtape";
import { MAX_LOGNAME_LENGTH } from "./core/names.ts";

export type { LogLevel };

export type LogFormat = "pretty" | "json";

/** Limits that protect the gateway and its other clients from one client. */
export interface Limits {
  /** Open WebSocket connections at once; more are refused with HTTP 503. */
  maxConnections: number;
  /** Subscriptions one connection may hold; more are refused with 429. */
  maxSubscriptions: number;
  /**
   * Largest request message in bytes (its payload, plus the whole size of each
   * frame after its first); a larger one closes the socket with 1009.
   */
  maxFrameBytes: number;
  /** Data frames one request message may arrive in; more close the socket with 1009. */
  maxFragments: number;
  /** Bytes queued for one socket before it is closed as a slow consumer (1013). */
  sendQueueBytes: number;
  /** Records one history read fetches from the backend at a time. */
  readChunk: number;
  /** Longest accepted logname, in characters. */
  maxLognameLength: number;
  /** Largest record accepted by an append (HTTP body or WebSocket op). */
  maxRecordBytes: number;
  /** Seconds of silence before the server pings; no pong within as long closes. */
  idleTimeoutSec: number;
  /** Milliseconds given to clients to see SHUTDOWN before sockets close. */
  shutdownGraceMs: number;
  /** Milliseconds a log stays open after its last subscriber leaves. */
  feedLingerMs: number;
  /** Recent records kept per log to serve catch-up without a backend read. */
  recentRecords: number;
  /** Open connections from one client address; more are refused with HTTP 503. */
  maxConnectionsPerAddress: number;
  /**
   * Connections still sending their HTTP request (head or body, or waiting for
   * the next head kept alive); more are refused with HTTP 503.
   */
  maxHandshakes: number;
  /** Of those, from one client address (an IPv6 /64); more are refused with HTTP 503. */
  maxHandshakesPerAddress: number;
  /** Milliseconds a connection has to send its HTTP request head; then it is closed (408). */
  handshakeTimeoutMs: number;
  /** Milliseconds a request has to send its whole body after its head; then it is closed (408). */
  bodyTimeoutMs: number;
  /**
   * Milliseconds one write to a client may wait for the client to take bytes
   * (a response, an event, a refusal); then the connection is closed.
   */
  writeTimeoutMs: number;
  /** Subscriptions all connections together may hold; more are refused with 503. */
  maxTotalSubscriptions: number;
  /** Logs followed at once (one feed each); a subscription needing one more gets 503. */
  maxFeeds: number;
  /** Requests per second one connection may send; past it, its socket is read no faster. */
  maxRequestRate: number;
  /** Stored records one subscription may ask to replay; more get 413. */
  maxHistoryRecords: number;
  /** Logs one client address may create per minute; more get 429. */
  maxLogCreatesPerMinute: number;
  /** Logs per page of `GET /logs`. */
  maxListLogs: number;
  /** Records per page of `GET /logs/NAME/records` (never more than `maxHistoryRecords`). */
  maxPageRecords: number;
  /** File descriptors kept free for the store and logs: intake stops this far below the limit. */
  fdReserve: number;
  /** Lame duck: milliseconds between SIGTERM (`/readyz` turns 503) and SHUTDOWN to clients. */
  drainMs: number;
}

/** Options of the libgdp backend. */
export interface LibgdpConfig {
  /** Path of libgdp.so.2.1; the only file `--allow-ffi` grants. */
  path: string;
  /** Router `HOST:PORT`; absent means libgdp's parameter files decide. */
  router?: string;
  /** Open logs read-and-append so the append op and POST work (needs the log's writer key). */
  appendable?: boolean;
  /** Logs that may hold a libgdp subscription, kept for the process's life; past it, follows poll. */
  maxSubscribed?: number;
  /** A followed log's end is read this often (ms) when no record arrived meanwhile. */
  probeMs?: number;
}

export interface Config {
  port: number;
  hostname: string;
  /** Embedded store folder. */
  dataDir: string;
  /** Which store serves the logs: a kind of src/backend/registry.ts. */
  backend: string;
  /** Appending to a missing log creates it (embedded backend). */
  autoCreate: boolean;
  /** PEM files for wss://; both or neither. */
  cert?: string;
  key?: string;
  /**
   * The process's open-file limit, as the operator set it (`ulimit -n`,
   * systemd's `LimitNOFILE`); unset, it is read from /proc/self/limits where
   * the process may, else assumed (src/io/fd_limit.ts).
   */
  fdLimit?: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  libgdp: LibgdpConfig;
  /** Origins allowed besides the gateway's own (`https://app.example.org`, `*.example.org`, `*`). */
  allowOrigins: string[];
  /** Origins clients reach the gateway under: their hosts are served, their pages are its own. */
  publicOrigins: string[];
  /** Without tokens, any client may append and create logs (else loopback clients only). */
  openAppends: boolean;
  /**
   * Peers whose forwarding headers (`Forwarded`, `X-Forwarded-*`) name the
   * client, its scheme and host: CIDR ranges, addresses, `loopback`, `private`.
   */
  trustProxies: string[];
  /** HS256 secret file: tokens are required when this or `authKeyFile` is set. */
  authSecretFile?: string;
  /** ES256/RS256 public keys, a PEM or JWKS file (re-read on SIGHUP). */
  authKeyFile?: string;
  /** The `aud` tokens must carry. */
  authAudience: string;
  limits: Limits;
  /**
   * One live follow and one encoding per log, shared by its subscriptions. Off
   * only to measure what sharing buys (`--dev-no-sharing`, see BENCHMARKS.md):
   * then every subscription follows its log on its own, as the first gateway did.
   */
  shareFanOut: boolean;
}

/** Timing of the libgdp backend (see `src/backend/libgdp/upstream.ts`). */
export const LIBGDP_DEFAULTS = Object.freeze({
  /** A record past a gap waits this long for the missing one before it is read (ms). */
  reorderHoldMs: 200,
  /** First delay before a failed subscribe is retried (ms); doubles each try. */
  retryInitialMs: 500,
  /** Longest delay between retries (ms). */
  retryMaxMs: 30_000,
  /** How long a log may stay unreachable before its subscribers get a 503 (ms). */
  downAfterMs: 10_000,
  /** A followed log's end is read this often when no record arrived meanwhile (ms). */
  probeMs: 5_000,
  /** Logs that may hold a libgdp subscription (kept for the process's life); more poll. */
  maxSubscribed: 10_000,
});

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxConnections: 10_000,
  maxSubscriptions: 1_000,
  maxFrameBytes: 2 * 1024 * 1024,
  maxFragments: 1_024,
  sendQueueBytes: 8 * 1024 * 1024,
  readChunk: 512,
  maxLognameLength: MAX_LOGNAME_LENGTH,
  maxRecordBytes: 1024 * 1024,
  idleTimeoutSec: 30,
  shutdownGraceMs: 2_000,
  feedLingerMs: 5_000,
  recentRecords: 1024,
  maxConnectionsPerAddress: 10_000,
  maxHandshakes: 1_000,
  maxHandshakesPerAddress: 100,
  handshakeTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
  maxTotalSubscriptions: 100_000,
  maxFeeds: 10_000,
  maxRequestRate: 1_000,
  maxHistoryRecords: 10_000_000,
  maxLogCreatesPerMinute: 1_000,
  maxListLogs: 1_000,
  maxPageRecords: 10_000,
  fdReserve: 64,
  drainMs: 0,
});

/** How often the embedded store looks for records appended by another process, in ms. */
export const EMBEDDED_POLL_MS = 50;

/** Log names whose rows the embedded store keeps, so appends skip the lookup (log_rows.ts). */
export const LOG_ROWS_KEPT = 16_384;

/**
 * Up to this size the embedded store's start-up check reads every page
 * (`PRAGMA quick_check`); above it the check is bounded (docs/embedded.md).
 */
export const STORE_FULL_CHECK_BYTES = 256 * 2 ** 20;

/** Above that size, how long the start-up check may spend reading the logs' last records. */
export const BOUNDED_CHECK_MS = 1000;

export const DEFAULTS: Readonly<Config> = Object.freeze({
  port: 8080,
  hostname: "0.0.0.0",
  dataDir: "./data",
  backend: "embedded",
  autoCreate: true,
  logLevel: "info",
  logFormat: "pretty",
  libgdp: {
    path: "libgdp.so.2.1",
    maxSubscribed: LIBGDP_DEFAULTS.maxSubscribed,
    probeMs: LIBGDP_DEFAULTS.probeMs,
  },
  allowOrigins: [],
  publicOrigins: [],
  openAppends: false,
  trustProxies: [],
  authAudience: "gdp-ws",
  limits: DEFAULT_LIMITS,
  shareFanOut: true,
});

/** A configuration mistake, reported to the operator and exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** What {@linkcode makeConfig} takes: any fields, the rest from DEFAULTS. */
export type ConfigInput = Partial<Omit<Config, "limits" | "libgdp">> & {
  limits?: Partial<Limits>;
  libgdp?: Partial<LibgdpConfig>;
};

/** How errors name a field (`limits.sendQueueBytes`); the CLI names flags instead. */
export type FieldNamer = (field: string) => string;

/**
 * Fills defaults (from `base`, DEFAULTS unless given) and checks every value;
 * throws ConfigError naming the field through `name` (by default the field's
 * path, such as `limits.sendQueueBytes`).
 */
export function makeConfig(
  input: ConfigInput = {},
  name: FieldNamer = (field) => field,
  base: Config = DEFAULTS,
): Config {
  const limits = { ...base.limits, ...input.limits };
  const libgdp = { ...base.libgdp, ...input.libgdp };
  const config: Config = { ...base, ...input, limits, libgdp };
  validate(config, name);
  return config;
}

function validate(config: Config, name: FieldNamer): void {
  checkInt(name("port"), config.port, 0, 65_535);
  if (!/^[a-z][a-z0-9-]*$/.test(config.backend)) {
    throw new ConfigError(`${name("backend")} must be a backend's name, not ${config.backend}`);
  }
  if (!isLogLevel(config.logLevel)) {
    throw new ConfigError(`${name("logLevel")} must be one of ${getLogLevels().join(", ")}`);
  }
  if (config.logFormat !== "pretty" && config.logFormat !== "json") {
    throw new ConfigError(`${name("logFormat")} must be pretty or json, not ${config.logFormat}`);
  }
  if (config.authSecretFile !== undefined && config.authKeyFile !== undefined) {
    throw new ConfigError(
      `${name("authSecretFile")} and ${name("authKeyFile")} exclude each other: give one`,
    );
  }
  if ((config.cert === undefined) !== (config.key === undefined)) {
    throw new ConfigError(`${name("cert")} and ${name("key")} go together: give both or neither`);
  }
  if (config.fdLimit !== undefined) {
    checkInt(name("fdLimit"), config.fdLimit, config.limits.fdReserve + 1);
  }
  const { sendQueueBytes, maxRecordBytes } = config.limits;
  if (sendQueueBytes < 2 * maxRecordBytes) {
    throw new ConfigError(
      `${name("limits.sendQueueBytes")} (${sendQueueBytes}) must be at least twice ` +
        `${name("limits.maxRecordBytes")} (${maxRecordBytes})`,
    );
  }
  for (const [field, value] of Object.entries(config.limits)) {
    const min = (field === "idleTimeoutSec" || field.endsWith("Ms")) && !DEADLINES.has(field)
      ? 0
      : 1;
    checkInt(name(`limits.${field}`), value, min);
  }
}

/** Deadlines a client is held to: 0 would refuse every request, not lift the bound. */
const DEADLINES = new Set(["handshakeTimeoutMs", "bodyTimeoutMs", "writeTimeoutMs"]);

function checkInt(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, not ${value}`);
  }
}
