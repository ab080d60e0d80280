/**
 * Every `gdp-ws serve` flag, declared once in {@linkcode SERVE_FLAGS}. The
 * parser's options, `gdp-ws serve --help`, the mapping onto {@linkcode Config}
 * and the check of README's configuration table (tests/cli/serve_flags_test.ts)
 * all come from this table.
 *
 * To add a flag: give its default in config.ts, add one entry below, and put
 * the row the README test prints into README's configuration table.
 *
 * The command line becomes a Config in serve_config.ts, from this table too.
 *
 * @example
 * ```ts
 * const port = SERVE_FLAGS.find((f) => f.name === "port")!;
 * flagUsage(port); // "--port N"
 * defaultText(port); // "`8080`"
 * ```
 *
 * @module
 */

import { BACKENDS } from "../backend/registry.ts";
import type { FlagKinds } from "./args.ts";
import { type Config, DEFAULTS, type LibgdpConfig, type Limits } from "../config.ts";

/** A Config field, as a path: `port`, `limits.sendQueueBytes`, `libgdp.router`. */
export type ConfigField =
  | Exclude<keyof Config, "limits" | "libgdp">
  | `limits.${keyof Limits}`
  | `libgdp.${keyof LibgdpConfig}`;

/** One serve flag. */
export interface ServeFlag {
  /** The flag without its dashes: `send-queue-bytes`. */
  name: string;
  /**
   * `int` and `string` take a value, shown as `arg` in help; a `switch` takes
   * none and, when given, sets its field to the opposite of the default; a
   * `list` may be repeated and sets its field to every value given.
   */
  type: "int" | "string" | "switch" | "list";
  /** What the value is, in help: `N`, `DIR`, `HOST:PORT` (not for switches). */
  arg?: string;
  /** The Config field it sets; its default comes from config.ts's DEFAULTS. */
  field: ConfigField;
  /** One line; backticks mark code (README shows them, `--help` drops them). */
  help: string;
  /** The default as words, for a field that config.ts leaves unset. */
  unset?: string;
}

/** The serve flags, in `--help` and README order. */
export const SERVE_FLAGS: readonly ServeFlag[] = [
  { name: "port", type: "int", arg: "N", field: "port", help: "TCP port; `0` picks a free one" },
  {
    name: "hostname",
    type: "string",
    arg: "HOST",
    field: "hostname",
    help: "address to listen on",
  },
  {
    name: "backend",
    type: "string",
    arg: "KIND",
    field: "backend",
    help: BACKENDS.map((b) => `\`${b.kind}\` (${b.description})`).join(" or "),
  },
  { name: "data", type: "string", arg: "DIR", field: "dataDir", help: "embedded store folder" },
  {
    name: "no-auto-create",
    type: "switch",
    field: "autoCreate",
    help: "appends to a missing log fail with 600 instead of creating it",
  },
  {
    name: "libgdp",
    type: "string",
    arg: "PATH",
    field: "libgdp.path",
    help: "libgdp shared library (a bare name is looked up on the loader's search path)",
  },
  {
    name: "gdp-router",
    type: "string",
    arg: "HOST:PORT",
    field: "libgdp.router",
    help: "GDP router",
    unset: "libgdp's parameter files",
  },
  {
    name: "libgdp-append",
    type: "switch",
    field: "libgdp.appendable",
    help: "open GDP logs for appending too (needs the logs' writer keys)",
  },
  {
    name: "gdp-max-subscribed",
    type: "int",
    arg: "N",
    field: "libgdp.maxSubscribed",
    help:
      "GDP logs that may hold a subscription (kept until exit: see docs/libgdp.md); more are polled",
  },
  {
    name: "gdp-probe",
    type: "int",
    arg: "MS",
    field: "libgdp.probeMs",
    help: "how often a followed GDP log with no new record is checked for missed ones",
  },
  {
    name: "cert",
    type: "string",
    arg: "FILE",
    field: "cert",
    help: "PEM certificate: serve `wss://` (with `--key`)",
    unset: "none",
  },
  {
    name: "key",
    type: "string",
    arg: "FILE",
    field: "key",
    help: "PEM private key of `--cert`",
    unset: "none",
  },
  {
    name: "log-level",
    type: "string",
    arg: "LEVEL",
    field: "logLevel",
    help: "`trace`, `debug`, `info`, `warning`, `error` or `fatal`",
  },
  {
    name: "log-format",
    type: "string",
    arg: "FORMAT",
    field: "logFormat",
    help: "`pretty` or `json` (one JSON object per line)",
  },
  {
    name: "max-connections",
    type: "int",
    arg: "N",
    field: "limits.maxConnections",
    help: "open WebSockets at once; more upgrades get HTTP 503",
  },
  {
    name: "max-subscriptions",
    type: "int",
    arg: "N",
    field: "limits.maxSubscriptions",
    help: "subscriptions per connection; more get error 429",
  },
  {
    name: "max-frame-bytes",
    type: "int",
    arg: "N",
    field: "limits.maxFrameBytes",
    help: "largest request frame (later fragments count whole); more: error 413, close 1009",
  },
  {
    name: "max-fragments",
    type: "int",
    arg: "N",
    field: "limits.maxFragments",
    help: "frames one request may be split into; more get error 413 and close 1009",
  },
  {
    name: "max-record-bytes",
    type: "int",
    arg: "N",
    field: "limits.maxRecordBytes",
    help: "largest appended record (HTTP body or WebSocket append)",
  },
  {
    name: "send-queue-bytes",
    type: "int",
    arg: "N",
    field: "limits.sendQueueBytes",
    help:
      "bytes waiting for one socket, pongs included; more close it with 1013 (≥ 2 × record max)",
  },
  {
    name: "idle-timeout",
    type: "int",
    arg: "S",
    field: "limits.idleTimeoutSec",
    help: "seconds of silence before a ping; no pong within as long closes; `0` disables",
  },
  {
    name: "shutdown-grace",
    type: "int",
    arg: "MS",
    field: "limits.shutdownGraceMs",
    help: "time clients get after SHUTDOWN before the server stops",
  },
  {
    name: "feed-linger",
    type: "int",
    arg: "MS",
    field: "limits.feedLingerMs",
    help: "how long a log stays open after its last subscriber leaves",
  },
  {
    name: "max-connections-per-address",
    type: "int",
    arg: "N",
    field: "limits.maxConnectionsPerAddress",
    help: "open WebSockets from one client address; more upgrades get HTTP 503",
  },
  {
    name: "max-handshakes",
    type: "int",
    arg: "N",
    field: "limits.maxHandshakes",
    help: "connections still sending their request (head or body); one more gets HTTP 503",
  },
  {
    name: "max-handshakes-per-address",
    type: "int",
    arg: "N",
    field: "limits.maxHandshakesPerAddress",
    help: "of those, from one client address (IPv6: one /64); one more gets HTTP 503",
  },
  {
    name: "handshake-timeout",
    type: "int",
    arg: "MS",
    field: "limits.handshakeTimeoutMs",
    help: "time to send a request head (also between kept-alive requests); then 408",
  },
  {
    name: "body-timeout",
    type: "int",
    arg: "MS",
    field: "limits.bodyTimeoutMs",
    help: "time to send a request body, from the end of its head; then 408",
  },
  {
    name: "write-timeout",
    type: "int",
    arg: "MS",
    field: "limits.writeTimeoutMs",
    help: "time one write may wait for a client to read (answers, events); then it is closed",
  },
  {
    name: "fd-limit",
    type: "int",
    arg: "N",
    field: "fdLimit",
    help: "the open-file limit the process runs under (`ulimit -n`, systemd's `LimitNOFILE`)",
    unset: "read from /proc/self/limits (`-A`), else counted free at start in the data folder, " +
      "else 1024 (macOS: 256)",
  },
  {
    name: "fd-reserve",
    type: "int",
    arg: "N",
    field: "limits.fdReserve",
    help: "file descriptors kept free: past `--fd-limit` less this, connections wait or get 503",
  },
  {
    name: "max-total-subscriptions",
    type: "int",
    arg: "N",
    field: "limits.maxTotalSubscriptions",
    help: "subscriptions over all connections; more get error 503",
  },
  {
    name: "max-feeds",
    type: "int",
    arg: "N",
    field: "limits.maxFeeds",
    help: "logs followed at once; a subscription needing one more gets error 503",
  },
  {
    name: "max-request-rate",
    type: "int",
    arg: "N",
    field: "limits.maxRequestRate",
    help: "requests per second on one connection; past it, reading waits (TCP backpressure)",
  },
  {
    name: "max-history-records",
    type: "int",
    arg: "N",
    field: "limits.maxHistoryRecords",
    help: "stored records one subscription may replay; more get error 413",
  },
  {
    name: "max-log-creates",
    type: "int",
    arg: "N",
    field: "limits.maxLogCreatesPerMinute",
    help: "logs one client address may create per minute; more get 429",
  },
  {
    name: "max-list-logs",
    type: "int",
    arg: "N",
    field: "limits.maxListLogs",
    help: "logs per page of `GET /logs` (the next page is in the `Link` header)",
  },
  {
    name: "max-page-records",
    type: "int",
    arg: "N",
    field: "limits.maxPageRecords",
    help: "records per page of `GET /logs/NAME/records` (the next page is in the `Link` header)",
  },
  {
    name: "dev-no-sharing",
    type: "switch",
    field: "shareFanOut",
    help: "developer: one follow and one encoding per subscription, to measure what sharing buys",
  },
  {
    name: "drain-ms",
    type: "int",
    arg: "MS",
    field: "limits.drainMs",
    help: "lame duck: after SIGTERM, `/readyz` answers 503 this long before clients get SHUTDOWN",
  },
  {
    name: "allow-origin",
    type: "list",
    arg: "ORIGIN",
    field: "allowOrigins",
    help: "repeatable: a browser origin allowed besides the gateway's own " +
      "(`https://app.example.org`, `*.example.org`, `*`)",
    unset: "the gateway's own origin only",
  },
  {
    name: "public-origin",
    type: "list",
    arg: "ORIGIN",
    field: "publicOrigins",
    help: "repeatable: an origin clients reach the gateway under (`https://gw.example.org`): " +
      "its host is served and its pages are the gateway's own",
    unset: "loopback names and IP addresses only",
  },
  {
    name: "trust-proxy",
    type: "list",
    arg: "CIDR",
    field: "trustProxies",
    help: "repeatable: peers whose `Forwarded`/`X-Forwarded-*` headers name the client, its " +
      "scheme and host (`10.0.0.0/8`, `::1`, `loopback`, `private`)",
    unset: "none (those headers are ignored)",
  },
  {
    name: "open-appends",
    type: "switch",
    field: "openAppends",
    help: "without tokens, let any client append and create logs (else only loopback clients may)",
  },
  {
    name: "auth-secret",
    type: "string",
    arg: "FILE",
    field: "authSecretFile",
    help: "require HS256 tokens signed with the secret in this file",
    unset: "no tokens",
  },
  {
    name: "auth-keys",
    type: "string",
    arg: "FILE",
    field: "authKeyFile",
    help: "require ES256/RS256 tokens signed by a key in this PEM or JWKS file (re-read on SIGHUP)",
    unset: "no tokens",
  },
  {
    name: "auth-audience",
    type: "string",
    arg: "AUD",
    field: "authAudience",
    help: "the `aud` claim tokens must carry",
  },
];

/** The parser's view of the serve flags. */
export const SERVE_FLAG_KINDS: FlagKinds = Object.fromEntries(
  SERVE_FLAGS.map((f) => [f.name, f.type === "switch" || f.type === "list" ? f.type : "value"]),
);

/** `--port N`: the flag as written in help and README. */
export function flagUsage(flag: ServeFlag): string {
  return flag.arg ? `--${flag.name} ${flag.arg}` : `--${flag.name}`;
}

/** The default as README writes it: `` `8080` ``, `off`, or the `unset` words. */
export function defaultText(flag: ServeFlag, defaults: Config = DEFAULTS): string {
  if (flag.type === "switch") return "off";
  const value = fieldValue(defaults, flag.field);
  const empty = value === undefined || (Array.isArray(value) && value.length === 0);
  return empty ? flag.unset ?? "none" : `\`${value}\``;
}

/** The `Options:` part of `--help`: one line per flag, with the defaults of `defaults`. */
export function serveHelp(
  flags: readonly ServeFlag[] = SERVE_FLAGS,
  defaults: Config = DEFAULTS,
): string {
  const width = Math.max(...SERVE_FLAGS.map((f) => flagUsage(f).length)) + 2;
  const lines = flags.map((f) => {
    const plain = (s: string) => s.replaceAll("`", "");
    const fallback = f.type === "switch" ? "" : ` (default ${plain(defaultText(f, defaults))})`;
    return `  ${flagUsage(f).padEnd(width)}${plain(f.help)}${fallback}`;
  });
  return `Options:\n${lines.join("\n")}`;
}

/** README's configuration table row for a flag (cells without padding). */
export function readmeRow(flag: ServeFlag): [string, string, string] {
  return [`\`${flagUsage(flag)}\``, defaultText(flag), flag.help];
}

/** The value of `field` in `config`. */
export function fieldValue(config: Config, field: ConfigField): unknown {
  const [head, tail] = field.split(".") as [keyof Config, string | undefined];
  const value = config[head];
  return tail === undefined ? value : (value as unknown as Record<string, unknown>)[tail];
}
