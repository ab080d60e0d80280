/**
 * Byte-array helpers shared by the modules that read from sockets.
 *
 * @example
 * ```ts
 * concat([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * bytesOver("é", 1); // true: two bytes in UTF-8
 * ```
 *
 * @module
 */

/** `parts` one after another in one new array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const encoder = new TextEncoder();

/** Whether `data` (text counted as UTF-8) is longer than `limit` bytes. */
export function bytesOver(data: string | ArrayBuffer, limit: number): boolean {
  if (typeof data !== "string") return data.byteLength > limit;
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: only encode when the length alone cannot tell.
  if (data.length > limit) return true;
  return data.length * 3 > limit && encoder.encode(data).byteLength > limit;
}
