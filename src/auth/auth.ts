/**
 * Who may talk to the gateway: the `Origin` check (with CORS for the HTTP API)
 * and bearer tokens (JWT, verified with `jose`) whose claims name the logs a
 * client may read and append. The router calls {@linkcode Auth.guard} for every
 * route that touches logs (WebSocket upgrade, HTTP API, event stream); sessions
 * check each request against the {@linkcode Grant} it returned.
 *
 * @example
 * ```ts
 * import { allows, Auth } from "./auth.ts";
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

import {
  createLocalJWKSet,
  type CryptoKey,
  decodeProtectedHeader,
  importSPKI,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
  SignJWT,
} from "jose";
import { ConfigError, DEFAULTS } from "../config.ts";
import { GdpError } from "../core/errors.ts";
import { internalName } from "../core/names.ts";

/** What the auth part of the configuration says. */
export interface AuthOptions {
  /** Origins allowed besides the gateway's own: `https://app.example.org`, `*.example.org`, `*`. */
  allowOrigins?: readonly string[];
  /** HS256 shared secret, the file's bytes (a trailing newline is dropped). */
  secretFile?: string;
  /** ES256/RS256 public keys: a PEM file (one or more `PUBLIC KEY` blocks) or a JWKS JSON file. */
  keyFile?: string;
  /** The `aud` every token must carry (default: DEFAULTS.authAudience). */
  audience?: string;
}

/** What a verified token lets its holder do. */
export interface Grant {
  /** Log patterns the holder may subscribe to and read. */
  read: readonly string[];
  /** Log patterns the holder may append to. */
  append: readonly string[];
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number;
  /** The token's `sub`, for the logs. */
  subject?: string;
}

/**
 * How a route uses the gateway, which decides the checks: a WebSocket upgrade,
 * an event stream, a plain read (GET, HEAD) or an append. Each route declares
 * its kind (src/gateway/routes.ts).
 */
export type RouteKind = "upgrade" | "stream" | "read" | "append";

/** The result of {@linkcode Auth.guard}. */
export type Access =
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

/** The subprotocol prefix that carries a token from a browser. */
export const BEARER_PREFIX = "bearer.";

const ASYMMETRIC = ["ES256", "RS256"] as const;
/** A public key from a PEM file and the algorithm it verifies. */
interface PemKey {
  alg: string;
  key: CryptoKey;
}

/** The keys tokens are checked against: a secret, PEM keys, or a JWKS. */
type Verifier =
  | { kind: "secret"; secret: Uint8Array }
  | { kind: "pem"; keys: PemKey[] }
  | { kind: "jwks"; jwks: JWTVerifyGetKey };

/** Origin and token checks of one gateway; {@linkcode reload} re-reads the key files. */
export class Auth {
  readonly #options: AuthOptions;
  readonly #origins: OriginMatcher;
  #verifier: Verifier | undefined;

  private constructor(options: AuthOptions, verifier: Verifier | undefined) {
    this.#options = options;
    this.#origins = new OriginMatcher(options.allowOrigins ?? []);
    this.#verifier = verifier;
  }

  /** Reads the key files named in `options`; throws ConfigError when they are unusable. */
  static async load(options: AuthOptions): Promise<Auth> {
    return new Auth(options, await loadVerifier(options));
  }

  /** True when tokens are checked. */
  get enabled(): boolean {
    return this.#verifier !== undefined;
  }

  /** Re-reads the secret or key file (SIGHUP); on failure the old keys stay and it throws. */
  async reload(): Promise<void> {
    this.#verifier = await loadVerifier(this.#options);
  }

  /**
   * The checks of one request, before any work: its `Origin` (upgrades, event
   * streams and state-changing requests), then its token when tokens are on.
   * A CORS preflight is answered by {@linkcode preflight} and needs no token.
   */
  async guard(request: Request, kind: RouteKind): Promise<Access> {
    const origin = request.headers.get("origin");
    const originOk = origin === null || this.#origins.allows(origin, request);
    if (!originOk && kind !== "read") {
      return refuse(403, `origin ${origin} is not allowed`, "origin");
    }
    const cors = originOk && origin !== null ? corsHeaders(origin) : {};
    if (!this.#verifier || request.method === "OPTIONS") return { ok: true, cors };
    const found = tokenOf(request, kind);
    if (!found.token) return refuse(401, "a bearer token is required", "token", cors);
    try {
      const grant = await this.verify(found.token);
      return {
        ok: true,
        grant,
        cors,
        ...(found.protocol ? { bearerProtocol: found.protocol } : {}),
      };
    } catch (error) {
      return refuse(401, GdpError.from(error).message, "token", cors);
    }
  }

  /** Verifies a token and reads its claims; throws a 401 GdpError saying why not. */
  async verify(token: string): Promise<Grant> {
    const verifier = this.#verifier;
    if (!verifier) throw GdpError.of(400, "this gateway does not check tokens");
    const audience = this.#options.audience ?? DEFAULTS.authAudience;
    try {
      return grantOf(await verifyWith(verifier, token, audience));
    } catch (error) {
      if (error instanceof GdpError) throw error;
      throw GdpError.of(401, tokenProblem(error));
    }
  }

  /** Answers a CORS preflight (`OPTIONS`) that {@linkcode guard} let through. */
  preflight(access: Access & { ok: true }, methods: readonly string[]): Response {
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

/** True when `grant` (undefined: tokens are off) lets its holder `op` the log `logname`. */
export function allows(
  grant: Grant | undefined,
  op: "read" | "append",
  logname: string,
): boolean {
  if (!grant) return true;
  return grant[op].some((pattern) => matchesLog(pattern, logname));
}

/** setTimeout's longest delay; a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpiry` at the grant's `exp` (a stream must not outlive its token);
 * returns the function that cancels it. Without a grant (tokens off), never.
 */
export function atExpiry(grant: Grant | undefined, onExpiry: () => void): () => void {
  // One shared function: a closure made here would keep this call's context
  // (and `onExpiry`, and what it holds) alive for as long as the caller keeps it.
  if (!grant) return nothingToCancel;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const left = grant.expiresAt - Date.now();
    timer = left > MAX_TIMER_MS
      ? setTimeout(arm, MAX_TIMER_MS)
      : setTimeout(onExpiry, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}

const nothingToCancel = () => {};

/** Throws 403 unless `grant` lets its holder `op` the log `logname`. */
export function permit(grant: Grant | undefined, op: "read" | "append", logname: string): void {
  if (!allows(grant, op, logname)) {
    throw forbidden(op === "read" ? "reading" : "appending to", logname);
  }
}

/** The 403 of a request outside the token's claims. */
export function forbidden(what: "reading" | "appending to", logname: string): GdpError {
  return GdpError.of(403, `the token does not allow ${what} ${logname}`);
}

/**
 * True when a claim pattern covers a log name: `*` stands for any run of
 * characters, everything else is literal. A pattern without `*` also covers
 * the log's internal name, so a client may use either spelling.
 */
export function matchesLog(pattern: string, logname: string): boolean {
  if (!pattern.includes("*")) return pattern === logname || internalName(pattern) === logname;
  const regex = new RegExp(`^${pattern.split("*").map(escapeRegex).join(".*")}$`, "s");
  return regex.test(logname);
}

/** Options of {@linkcode mintToken}. */
export interface MintOptions {
  secret: Uint8Array;
  read?: readonly string[];
  append?: readonly string[];
  /** Seconds from now until `exp`. */
  lifetimeSec: number;
  audience?: string;
  subject?: string;
}

/** An HS256 token with read and append claims (the `gdp-ws token` subcommand). */
export async function mintToken(options: MintOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ read: [...(options.read ?? [])], append: [...(options.append ?? [])] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + options.lifetimeSec)
    .setAudience(options.audience ?? DEFAULTS.authAudience);
  if (options.subject !== undefined) jwt.setSubject(options.subject);
  return await jwt.sign(options.secret);
}

/** The bytes of a secret file, without the trailing newline an editor adds. */
export async function readSecret(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  if (end < 32) {
    throw new ConfigError(`the secret in ${path} is ${end} bytes; HS256 needs at least 32`);
  }
  return bytes.subarray(0, end);
}

// ---------------------------------------------------------------------------

/** `--allow-origin` entries: exact origins, `*.domain` patterns, or `*`. */
class OriginMatcher {
  readonly #exact = new Set<string>();
  readonly #patterns: RegExp[] = [];
  #any = false;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      if (entry === "*") this.#any = true;
      else if (entry.includes("*")) this.#patterns.push(originPattern(entry));
      else this.#exact.add(normalizeOrigin(entry));
    }
  }

  /** True for the gateway's own origin and for the configured ones. */
  allows(origin: string, request: Request): boolean {
    if (this.#any) return true;
    if (isSameOrigin(origin, request)) return true;
    if (this.#exact.has(origin.toLowerCase())) return true;
    return this.#patterns.some((p) => p.test(origin.toLowerCase()));
  }
}

/** `*.example.org` (any scheme) or `https://*.example.org`: subdomains only. */
function originPattern(entry: string): RegExp {
  const match = /^(?:([a-z][a-z0-9+.-]*):\/\/)?\*\.([^*/]+)$/i.exec(entry);
  if (!match) {
    throw new ConfigError(
      `--allow-origin ${entry}: a pattern is *.DOMAIN or SCHEME://*.DOMAIN (optionally :PORT)`,
    );
  }
  const scheme = match[1] ? escapeRegex(match[1].toLowerCase()) : "https?";
  return new RegExp(`^${scheme}://([a-z0-9-]+\\.)+${escapeRegex(match[2]!.toLowerCase())}$`);
}

function normalizeOrigin(entry: string): string {
  if (entry === "null") return entry;
  try {
    const url = new URL(entry);
    if (url.origin === "null" || url.pathname !== "/" || url.search || url.hash) throw 0;
    return url.origin;
  } catch {
    throw new ConfigError(
      `--allow-origin ${entry}: an origin is SCHEME://HOST[:PORT], such as https://app.example.org`,
    );
  }
}

/** The page came from this gateway: the Origin's host is the Host the request was sent to. */
function isSameOrigin(origin: string, request: Request): boolean {
  const host = request.headers.get("host");
  if (!host) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

function corsHeaders(origin: string): Record<string, string> {
  return { "access-control-allow-origin": origin, "vary": "Origin" };
}

/** The token of a request: `Authorization: Bearer`, `access_token`, or a `bearer.` subprotocol. */
function tokenOf(request: Request, kind: RouteKind): { token?: string; protocol?: string } {
  const header = request.headers.get("authorization");
  const bearer = header && /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return { token: bearer[1]! };
  const query = new URL(request.url).searchParams.get("access_token");
  if (query) return { token: query };
  if (kind !== "upgrade") return {};
  const protocol = (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",").map((p) => p.trim()).find((p) => p.startsWith(BEARER_PREFIX));
  return protocol ? { token: protocol.slice(BEARER_PREFIX.length), protocol } : {};
}

function refuse(
  status: 401 | 403,
  reason: string,
  kind: "origin" | "token",
  cors: Record<string, string> = {},
): Access {
  const error = status === 401 && reason.startsWith("ERROR: ")
    ? new GdpError(401, reason)
    : GdpError.of(status, reason);
  const headers: Record<string, string> = { "content-type": "application/json", ...cors };
  if (status === 401) headers["www-authenticate"] = 'Bearer realm="gdp-ws"';
  const response = new Response(JSON.stringify({ ep_stat: error.epStat }), { status, headers });
  return { ok: false, response, reason: error.message, kind };
}

/** A short, token-free account of why jose refused a token. */
function tokenProblem(error: unknown): string {
  const code = (error as { code?: string }).code ?? "";
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ERR_JWT_EXPIRED") return "the token has expired";
  if (code === "ERR_JOSE_ALG_NOT_ALLOWED") return "the token's algorithm is not allowed";
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return "the token's signature is invalid";
  if (code === "ERR_JWKS_NO_MATCHING_KEY") return "no key matches the token";
  if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") return `the token's claims: ${message}`;
  if (code === "ERR_JWS_INVALID" || code === "ERR_JWT_INVALID") return "the token is malformed";
  return `the token is not valid (${code || message})`;
}

function grantOf(payload: JWTPayload): Grant {
  const list = (name: "read" | "append"): string[] => {
    const value = payload[name];
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      throw GdpError.of(401, `the token's "${name}" claim must be an array of strings`);
    }
    return value;
  };
  const grant: Grant = {
    read: list("read"),
    append: list("append"),
    expiresAt: payload.exp! * 1000,
  };
  if (typeof payload.sub === "string") grant.subject = payload.sub;
  return grant;
}

/** The token's payload once its signature, algorithm, audience and expiry check out. */
async function verifyWith(
  verifier: Verifier,
  token: string,
  audience: string,
): Promise<JWTPayload> {
  const options = { audience, requiredClaims: ["exp"] };
  if (verifier.kind === "secret") {
    return (await jwtVerify(token, verifier.secret, { ...options, algorithms: ["HS256"] })).payload;
  }
  if (verifier.kind === "jwks") {
    return (await jwtVerify(token, verifier.jwks, { ...options, algorithms: [...ASYMMETRIC] }))
      .payload;
  }
  // PEM keys carry no key id: try each key of the token's algorithm.
  const alg = decodeProtectedHeader(token).alg ?? "none";
  const candidates = verifier.keys.filter((k) => k.alg === alg);
  if (candidates.length === 0) {
    throw Object.assign(new Error(alg), { code: "ERR_JOSE_ALG_NOT_ALLOWED" });
  }
  let failure: unknown;
  for (const { key } of candidates) {
    try {
      return (await jwtVerify(token, key, { ...options, algorithms: [alg] })).payload;
    } catch (error) {
      // A bad signature may just mean another key signed it; any other failure is final.
      if ((error as { code?: string }).code !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
        throw error;
      }
      failure = error;
    }
  }
  throw failure;
}

async function loadVerifier(options: AuthOptions): Promise<Verifier | undefined> {
  if (options.secretFile) return { kind: "secret", secret: await readSecret(options.secretFile) };
  if (!options.keyFile) return undefined;
  const text = await readText(options.keyFile);
  if (text.trimStart().startsWith("{")) {
    return { kind: "jwks", jwks: jwksOf(text, options.keyFile) };
  }
  return { kind: "pem", keys: await pemKeysOf(text, options.keyFile) };
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function jwksOf(text: string, path: string): JWTVerifyGetKey {
  try {
    const jwks = JSON.parse(text) as JSONWebKeySet;
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error("no keys");
    return createLocalJWKSet(jwks);
  } catch (error) {
    throw new ConfigError(`${path} is not a JWKS ({"keys": [...]}): ${(error as Error).message}`);
  }
}

/** Every `PUBLIC KEY` block of a PEM file, each imported as ES256 or RS256. */
async function pemKeysOf(text: string, path: string): Promise<PemKey[]> {
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${path} has no PEM PUBLIC KEY block`);
  const keys: PemKey[] = [];
  for (const block of blocks) {
    const imported = await importEither(block);
    if (!imported) {
      throw new ConfigError(`${path}: a key is neither a P-256 (ES256) nor an RSA (RS256) key`);
    }
    keys.push(imported);
  }
  return keys;
}

async function importEither(pem: string): Promise<PemKey | undefined> {
  for (const alg of ASYMMETRIC) {
    try {
      return { alg, key: await importSPKI(pem, alg) };
    } catch {
      // Not this kind of key; try the next.
    }
  }
  return undefined;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}
