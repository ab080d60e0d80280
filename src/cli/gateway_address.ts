/**
 * Which gateway a client subcommand talks to, and with what token: `--url`,
 * else `$GDP_WS_URL`, else `ws://127.0.0.1:PORT/`; `--token`, else
 * `$GDP_WS_TOKEN`. The variables are read only where the process may read them
 * (`deno task cli` grants both; a compiled binary is built without them), so a
 * missing grant never stops a command that names its gateway with flags.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "../config.ts";
 *
 * const address = gatewayAddress(new Map([["url", "http://localhost:9000"]]), DEFAULTS);
 * // address.ws: "ws://localhost:9000/"; address.http: "http://localhost:9000/"
 * ```
 *
 * @module
 */

import { type Config, ConfigError } from "../config.ts";

/** The variables that stand in for `--url` and `--token`. */
export const URL_VARIABLE = "GDP_WS_URL";
export const TOKEN_VARIABLE = "GDP_WS_TOKEN";

/** A gateway, by its WebSocket and HTTP URLs, and the token to show it. */
export interface GatewayAddress {
  /** `ws://host:port/path` (or wss://). */
  ws: string;
  /** The same, as `http://` (or https://): the base of the HTTP API. */
  http: string;
  token?: string;
}

/** `--url` and `--token` help lines, for the client subcommands' help. */
export function addressHelp(defaults: Config): string {
  return `  --url URL             the gateway, ws:// or http:// (default $${URL_VARIABLE}, else ` +
    `ws://127.0.0.1:${defaults.port}/)
  --token TOKEN         a bearer token, for a gateway that requires them (default $${TOKEN_VARIABLE})`;
}

/** The gateway the flags (then the environment, then the defaults) name. */
export function gatewayAddress(
  values: ReadonlyMap<string, string>,
  defaults: Config,
): GatewayAddress {
  const flag = values.get("url");
  const text = flag ?? variable(URL_VARIABLE) ?? `ws://127.0.0.1:${defaults.port}/`;
  const source = flag === undefined && variable(URL_VARIABLE) !== undefined
    ? `$${URL_VARIABLE}`
    : "--url";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `${source} must be a ws://, wss://, http:// or https:// URL, not ${JSON.stringify(text)}`,
    );
  }
  const secure = url.protocol === "wss:" || url.protocol === "https:";
  if (!secure && url.protocol !== "ws:" && url.protocol !== "http:") {
    throw new ConfigError(
      `${source} must be a ws://, wss://, http:// or https:// URL, not ${JSON.stringify(text)}`,
    );
  }
  url.protocol = secure ? "wss:" : "ws:";
  const ws = url.href;
  url.protocol = secure ? "https:" : "http:";
  const token = values.get("token") ?? variable(TOKEN_VARIABLE);
  return { ws, http: url.href, ...(token ? { token } : {}) };
}

/** An environment variable, when the process may read it. */
function variable(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name) || undefined;
}
