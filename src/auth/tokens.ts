/**
 * Bearer tokens: JWTs verified with `jose` against an HS256 secret or ES256/
 * RS256 public keys (PEM or JWKS, re-read on SIGHUP), found in a request's
 * `Authorization` header, `access_token` parameter or `bearer.` subprotocol,
 * and turned into the {@linkcode Grant} their claims give.
 *
 * @example
 * ```ts
 * const tokens = await TokenVerifier.load({ secretFile: "/etc/gdp-ws/secret" });
 * const grant = await tokens.verify("eyJhbGciOiJIUzI1NiJ9…"); // throws a 401 GdpError when bad
 * console.log(grant.read, new Date(grant.expiresAt));
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
import type { Grant } from "./grants.ts";

/** Where the token keys come from: one of the two files, and the audience. */
export interface TokenOptions {
  /** HS256 shared secret, the file's bytes (a trailing newline is dropped). */
  secretFile?: string;
  /** ES256/RS256 public keys: a PEM file (one or more `PUBLIC KEY` blocks) or a JWKS JSON file. */
  keyFile?: string;
  /** The `aud` every token must carry (default: DEFAULTS.authAudience). */
  audience?: string;
}

/** How a request uses the gateway, which decides where its token may be: see routes.ts. */
export type TokenRoute = "upgrade" | "stream" | "read" | "append";

/** The subprotocol prefix that carries a token from a browser. */
export const BEARER_PREFIX = "bearer.";

/** The last second a JavaScript Date holds comfortably: 9999-12-31T23:59:59Z. */
const MAX_EXP_SEC = 253_402_300_799;

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

/** The token checks of one gateway; {@linkcode reload} re-reads the key file. */
export class TokenVerifier {
  readonly #options: TokenOptions;
  #verifier: Verifier | undefined;

  private constructor(options: TokenOptions, verifier: Verifier | undefined) {
    this.#options = options;
    this.#verifier = verifier;
  }

  /** Reads the key file named in `options` (none: tokens are off); ConfigError when unusable. */
  static async load(options: TokenOptions): Promise<TokenVerifier> {
    return new TokenVerifier(options, await loadVerifier(options));
  }

  /** True when tokens are checked. */
  get enabled(): boolean {
    return this.#verifier !== undefined;
  }

  /** Re-reads the secret or key file (SIGHUP); on failure the old keys stay and it throws. */
  async reload(): Promise<void> {
    this.#verifier = await loadVerifier(this.#options);
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
}

/** The token of a request: `Authorization: Bearer`, `access_token`, or a `bearer.` subprotocol. */
export function tokenOf(request: Request, kind: TokenRoute): { token?: string; protocol?: string } {
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
  // jose checked that exp is a number in the future; a Date must still hold it.
  if (!(payload.exp! <= MAX_EXP_SEC)) {
    throw GdpError.of(401, `the token's "exp" claim is past the year 9999`);
  }
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

async function loadVerifier(options: TokenOptions): Promise<Verifier | undefined> {
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
