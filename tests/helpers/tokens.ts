/**
 * Keys and tokens for the auth tests: an HS256 secret file, ES256 and RS256
 * key pairs written as PEM or JWKS, and tokens signed with any of them.
 */

import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
} from "jose";
import { join } from "node:path";

/** A secret of 32 random bytes, hex-encoded with a trailing newline, written to `dir/secret`. */
export async function writeSecret(dir: string, name = "secret"): Promise<{
  path: string;
  secret: Uint8Array;
}> {
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(32)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const path = join(dir, name);
  await Deno.writeTextFile(path, `${hex}\n`);
  return { path, secret: new TextEncoder().encode(hex) };
}

/** A signing key pair and its algorithm. */
export interface KeyPair {
  alg: "ES256" | "RS256";
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

export async function keyPair(alg: "ES256" | "RS256"): Promise<KeyPair> {
  return { alg, ...await generateKeyPair(alg, { extractable: true }) };
}

/** The public keys as concatenated PEM `PUBLIC KEY` blocks. */
export async function pemOf(...pairs: KeyPair[]): Promise<string> {
  return (await Promise.all(pairs.map((p) => exportSPKI(p.publicKey)))).join("\n");
}

/** The public keys as a JWKS document, each with a `kid` and `alg`. */
export async function jwksOf(...pairs: KeyPair[]): Promise<string> {
  const keys = await Promise.all(pairs.map(async (p, i) => ({
    ...await exportJWK(p.publicKey),
    kid: `k${i}`,
    alg: p.alg,
    use: "sig",
  })));
  return JSON.stringify({ keys });
}

/** Claims a test token carries; `exp` in seconds from now unless given absolutely. */
export interface TestClaims {
  read?: string[];
  append?: string[];
  aud?: string;
  /** Seconds from now (default 60); negative for an expired token. */
  expiresIn?: number;
  /** An absolute `exp` in seconds since the epoch (wins over expiresIn). */
  exp?: number;
  /** Leave `exp` out. */
  noExp?: boolean;
}

/** A token signed with `key` (a secret or a key pair). */
export async function signToken(
  key: Uint8Array | KeyPair,
  claims: TestClaims = {},
  kid?: string,
): Promise<string> {
  const payload: JWTPayload = { read: claims.read ?? [], append: claims.append ?? [] };
  const now = Math.floor(Date.now() / 1000);
  const alg = key instanceof Uint8Array ? "HS256" : key.alg;
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg, typ: "JWT", ...(kid ? { kid } : {}) })
    .setIssuedAt(now)
    .setAudience(claims.aud ?? "gdp-ws");
  if (!claims.noExp) jwt.setExpirationTime(claims.exp ?? now + (claims.expiresIn ?? 60));
  return await jwt.sign(key instanceof Uint8Array ? key : key.privateKey);
}

/** An unsigned token (`"alg": "none"`), which every gateway must refuse. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}
