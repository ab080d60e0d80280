/**
 * Who may talk to the gateway: the `Host` it was reached under (hosts.ts), the
 * `Origin` (origins.ts, with CORS for the HTTP API) and bearer tokens
 * (tokens.ts) whose claims name the logs a client may read and append. The
 * router calls {@linkcode Auth.guard} before every route that is not public;
 * sessions check each request against the {@linkcode Grant} it returned.
 *
 * @example
 * ```ts
 * import { allows } from "./grants.ts";
 *
 * const auth = await Auth.load({ allowOrigins: ["*.example.org"], secretFile: "/etc/gdp-ws/secret" });
 * async function handle(request: Request): Promise<Response> {
 *   const access = await auth.guard(request, "read");
 *   if (!access.ok) return access.response; // 401 or 403
 *   const readable = allows(access.grant, "read", "edu.berkeley.demo.temp"); // per request
 *   return new Response(readable ? "yes" : "no", { headers: access.cors });
 * }
 * ```
 *
 * @module
 */

import { GdpError } from "../core/errors.ts";
import type { Grant } from "./grants.ts";
import { Hosts } from "./hosts.ts";
import { corsHeaders, Origins, type RequestTarget } from "./origins.ts";
import { tokenOf, type TokenOptions, type TokenRoute, TokenVerifier } from "./tokens.ts";

/** What the auth part of the configuration says. */
export interface AuthOptions extends TokenOptions {
  /** Origins allowed besides the gateway's own: `https://app.example.org`, `*.example.org`, `*`. */
  allowOrigins?: readonly string[];
  /** The gateway's own public origins (`https://gw.example.org`): their hosts are served. */
  publicOrigins?: readonly string[];
  /** The gateway serves TLS: its own origin is `https://HOST`. */
  tls?: boolean;
  /** The address it listens on (`--hostname`); a name there is served as a host too. */
  listen?: string;
}

/**
 * How a route uses the gateway, which decides the checks: a WebSocket upgrade,
 * an event stream, a plain read (GET, HEAD) or an append. Each route declares
 * its kind (src/gateway/routes.ts).
 */
export type RouteKind = TokenRoute;

/** The result of {@linkcode Auth.guard}. */
export type GuardResult =
  | {
    ok: true;
    /** Undefined when tokens are off: everything is allowed. */
    grant?: Grant;
    /** CORS headers to add to the response (empty for no or the gateway's own origin). */
    cors: Record<string, string>;
    /** The `bearer.<token>` subprotocol the token came in, to echo only when nothing else is chosen. */
    bearerProtocol?: string;
  }
  | { ok: false; response: Response; reason: string; kind: "origin" | "token" };

/** Host, origin and token checks of one gateway; {@linkcode reload} re-reads the key files. */
export class Auth {
  readonly #origins: Origins;
  readonly #hosts: Hosts;
  readonly #scheme: "http" | "https";
  readonly #tokens: TokenVerifier;

  private constructor(options: AuthOptions, tokens: TokenVerifier) {
    const own = options.publicOrigins ?? [];
    this.#origins = new Origins({ allow: options.allowOrigins ?? [], own });
    this.#hosts = new Hosts({ own, ...(options.listen ? { listen: options.listen } : {}) });
    this.#scheme = options.tls ? "https" : "http";
    this.#tokens = tokens;
  }

  /** Reads the key files named in `options`; throws ConfigError when they are unusable. */
  static async load(options: AuthOptions): Promise<Auth> {
    return new Auth(options, await TokenVerifier.load(options));
  }

  /** True when tokens are checked. */
  get enabled(): boolean {
    return this.#tokens.enabled;
  }

  /** Re-reads the secret or key file (SIGHUP); on failure the old keys stay and it throws. */
  reload(): Promise<void> {
    return this.#tokens.reload();
  }

  /** Verifies a token and reads its claims; throws a 401 GdpError saying why not. */
  verify(token: string): Promise<Grant> {
    return this.#tokens.verify(token);
  }

  /**
   * The reason a request is not served under the host the client used (421),
   * or undefined when it is: checked before every route, public ones too.
   * `host` is the request's `Host`, or what a trusted proxy said it was
   * (src/auth/proxies.ts); null when there is none (HTTP/1.0).
   */
  hostProblem(host: string | null): GdpError | undefined {
    if (this.#hosts.allows(host)) return undefined;
    return GdpError.of(
      421,
      `this gateway does not answer to ${JSON.stringify(host)}; ` +
        "add its origin with --public-origin",
    );
  }

  /**
   * The checks of one request, before any work: its `Origin` (upgrades, event
   * streams and appends), then its token when tokens are on. A CORS preflight
   * is answered by {@linkcode preflight} and needs no token. `sent` is where
   * the client sent it, when a trusted proxy said (the scheme and host of the
   * gateway's own origin); by default the gateway's scheme and the `Host`.
   */
  async guard(
    request: Request,
    kind: RouteKind,
    sent: { scheme?: RequestTarget["scheme"]; host?: string | null } = {},
  ): Promise<GuardResult> {
    const origin = request.headers.get("origin");
    const target: RequestTarget = {
      scheme: sent.scheme ?? this.#scheme,
      host: sent.host !== undefined ? sent.host : request.headers.get("host"),
    };
    const originOk = origin === null || this.#origins.allows(origin, target);
    if (!originOk && kind !== "read") {
      return denied(403, `origin ${origin} is not allowed`, "origin");
    }
    const cors = originOk && origin !== null ? corsHeaders(origin) : {};
    if (!this.#tokens.enabled || request.method === "OPTIONS") return { ok: true, cors };
    const found = tokenOf(request, kind);
    if (!found.token) return denied(401, "a bearer token is required", "token", cors);
    try {
      const grant = await this.#tokens.verify(found.token);
      return {
        ok: true,
        grant,
        cors,
        ...(found.protocol ? { bearerProtocol: found.protocol } : {}),
      };
    } catch (error) {
      return denied(401, GdpError.from(error).message, "token", cors);
    }
  }

  /** Answers a CORS preflight (`OPTIONS`) that {@linkcode guard} let through. */
  preflight(access: GuardResult & { ok: true }, methods: readonly string[]): Response {
    return new Response(null, {
      status: 204,
      headers: {
        ...access.cors,
        "access-control-allow-methods": methods.join(", "),
        "access-control-allow-headers": "authorization, content-type",
        "access-control-max-age": "600",
      },
    });
  }
}

function denied(
  status: 401 | 403,
  reason: string,
  kind: "origin" | "token",
  cors: Record<string, string> = {},
): GuardResult {
  const error = status === 401 && reason.startsWith("ERROR: ")
    ? new GdpError(401, reason)
    : GdpError.of(status, reason);
  const headers: Record<string, string> = { "content-type": "application/json", ...cors };
  if (status === 401) headers["www-authenticate"] = 'Bearer realm="gdp-ws"';
  const response = new Response(JSON.stringify({ ep_stat: error.epStat }), { status, headers });
  return { ok: false, response, reason: error.message, kind };
}
