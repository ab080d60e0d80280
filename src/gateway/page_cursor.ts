/**
 * Opaque positions in the list of logs. A page of `GET /logs` for a token that
 * may read only some logs must still move past the others, yet naming one of
 * them in the next page's `Link` would tell the client it exists; so such a
 * position is sealed (AES-GCM, under a key made when the gateway starts) and
 * only this process can open it again.
 *
 * @example
 * ```ts
 * const cursors = new PageCursors();
 * const sealed = await cursors.seal("edu.berkeley.secret");
 * await cursors.open(sealed); // "edu.berkeley.secret"
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** The mark that starts a sealed cursor; a plain one is a log's label. */
export const SEALED = "~";
const IV_BYTES = 12;

/** Seals and opens list positions with one key per process. */
export class PageCursors {
  #key: Promise<CryptoKey> | undefined;

  /** `label`, sealed: `~` and base64url. */
  async seal(label: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const plain = new TextEncoder().encode(label);
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await this.#keyOf(), plain);
    const bytes = new Uint8Array(IV_BYTES + sealed.byteLength);
    bytes.set(iv);
    bytes.set(new Uint8Array(sealed), IV_BYTES);
    return SEALED + Buffer.from(bytes).toString("base64url");
  }

  /** The label a sealed cursor holds; undefined when this process did not seal it. */
  async open(cursor: string): Promise<string | undefined> {
    try {
      const bytes = new Uint8Array(Buffer.from(cursor.slice(SEALED.length), "base64url"));
      const iv = bytes.subarray(0, IV_BYTES);
      const key = await this.#keyOf();
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv },
        key,
        bytes.subarray(IV_BYTES),
      );
      return new TextDecoder().decode(plain);
    } catch {
      return undefined;
    }
  }

  #keyOf(): Promise<CryptoKey> {
    return this.#key ??= crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, [
      "encrypt",
      "decrypt",
    ]) as Promise<CryptoKey>;
  }
}
