/**
 * The WebSocket frame codec (RFC 6455 §5): the header of a client frame
 * decoded and checked from its bytes alone, unmasking, and the unmasked frames
 * a server sends, with the caches that let a fan-out build each text frame
 * once for every socket it goes to.
 *
 * @example
 * ```ts
 * import { FrameError, type FrameHeader, Opcode, parseClientHeader, textFrame } from "./frames.ts";
 *
 * const out = textFrame("hi"); // Uint8Array [0x81, 2, 0x68, 0x69]
 * const header: FrameHeader = { fin: false, opcode: 0, length: 0, size: 0, mask: 0 };
 * const client = new Uint8Array([0x89, 0x80, 1, 2, 3, 4]); // a masked, empty ping
 * parseClientHeader(client, 0, client.length, header); // true: header.opcode is Opcode.PING
 * try {
 *   parseClientHeader(new Uint8Array([0x89, 0x00]), 0, 2, header);
 * } catch (error) {
 *   console.log((error as FrameError).code); // 1002: not masked
 * }
 * console.log(out.length, header.opcode === Opcode.PING);
 * ```
 *
 * @module
 */

import { CloseCode, isValidCloseCode } from "./close_codes.ts";

/** Frame opcodes (RFC 6455 §5.2, §11.8). */
export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** The largest payload of a control frame (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A frame the peer sent that the socket refuses: its close code, and the limit it broke if any. */
export class FrameError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly limit?: "maxMessageBytes" | "maxFragments",
  ) {
    super(message);
  }
}

/** A decoded frame header. */
export interface FrameHeader {
  fin: boolean;
  opcode: number;
  /** Payload length, in bytes. */
  length: number;
  /** Header length, 6 to 14 bytes (a client's frames are masked). */
  size: number;
  /** The masking key, big-endian in one unsigned 32-bit number. */
  mask: number;
}

/**
 * Decodes the header of a client frame that starts at `bytes[at]` into `out`;
 * false when `bytes` ends (at `end`) before the header does. Throws
 * {@linkcode FrameError} for what RFC 6455 forbids in any header; what depends
 * on the frames before it (continuations, limits) is the reader's to check.
 */
export function parseClientHeader(
  bytes: Uint8Array,
  at: number,
  end: number,
  out: FrameHeader,
): boolean {
  if (end - at < 2) return false;
  const b0 = bytes[at]!;
  const b1 = bytes[at + 1]!;
  const opcode = b0 & 0x0f;
  const fin = (b0 & 0x80) !== 0;
  // RFC 6455 §5.2, check 1: RSV1-3 are 0 unless an extension defines them; none was agreed.
  if (b0 & 0x70) throw new FrameError(CloseCode.PROTOCOL_ERROR, "reserved bits set");
  // Check 2 (§5.2, §11.8): opcodes 3-7 and 11-15 are reserved.
  if ((opcode > Opcode.BINARY && opcode < Opcode.CLOSE) || opcode > Opcode.PONG) {
    throw new FrameError(CloseCode.PROTOCOL_ERROR, `opcode ${opcode}`);
  }
  // Check 3 (§5.1, §5.3): every frame from a client is masked.
  if (!(b1 & 0x80)) throw new FrameError(CloseCode.PROTOCOL_ERROR, "client frame not masked");
  let length = b1 & 0x7f;
  let size = 6;
  if (opcode >= Opcode.CLOSE) {
    // Check 4 (§5.5): a control frame carries at most 125 bytes, in its 7-bit length…
    if (length > MAX_CONTROL_PAYLOAD) {
      throw new FrameError(CloseCode.PROTOCOL_ERROR, "control frame over 125 bytes");
    }
    // Check 5 (§5.4, §5.5): …and is never fragmented.
    if (!fin) throw new FrameError(CloseCode.PROTOCOL_ERROR, "fragmented control frame");
  } else if (length === 126) {
    if (end - at < 8) return false;
    length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    size = 8;
  } else if (length === 127) {
    if (end - at < 14) return false;
    const high = readUint32(bytes, at + 2);
    // Check 6 (§5.2): the most significant bit of a 64-bit length is 0.
    if (high >= 0x8000_0000) {
      throw new FrameError(CloseCode.PROTOCOL_ERROR, "64-bit length with its top bit set");
    }
    // Past 2^53 a number loses bytes; any such frame is over every limit anyway.
    length = high > 0x1f_ffff ? Infinity : high * 2 ** 32 + readUint32(bytes, at + 6);
    size = 14;
  }
  // A length in more bytes than it needs (§5.2 "the minimal number of bytes") is let
  // through, as most servers do: it costs nothing, and refusing it helps no one.
  if (end - at < size) return false;
  out.fin = fin;
  out.opcode = opcode;
  out.length = length;
  out.size = size;
  out.mask = readUint32(bytes, at + size - 4);
  return true;
}

function readUint32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! * 2 ** 24) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/**
 * Copies `count` bytes of payload from `src[from]` to `dst[to]` (in place when
 * they are the same array and offsets), unmasking them with `mask` (RFC 6455
 * §5.3); `phase` is how many bytes of this frame's payload came before.
 */
export function unmaskInto(
  dst: Uint8Array,
  to: number,
  src: Uint8Array,
  from: number,
  count: number,
  mask: number,
  phase: number,
): void {
  // The key turned so that its first byte is the one for `src[from]`.
  const turn = (phase & 3) * 8;
  const key = turn === 0 ? mask : ((mask << turn) | (mask >>> (32 - turn))) >>> 0;
  const k0 = key >>> 24, k1 = (key >>> 16) & 0xff, k2 = (key >>> 8) & 0xff, k3 = key & 0xff;
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    dst[to + i] = src[from + i]! ^ k0;
    dst[to + i + 1] = src[from + i + 1]! ^ k1;
    dst[to + i + 2] = src[from + i + 2]! ^ k2;
    dst[to + i + 3] = src[from + i + 3]! ^ k3;
  }
  if (i < count) dst[to + i] = src[from + i]! ^ k0;
  if (i + 1 < count) dst[to + i + 1] = src[from + i + 1]! ^ k1;
  if (i + 2 < count) dst[to + i + 2] = src[from + i + 2]! ^ k2;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The code and reason of a peer's close frame (RFC 6455 §5.5.1: no payload,
 * or a code and UTF-8 text). No code is reported as 1005, as §7.1.5 says.
 */
export function parseClosePayload(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length === 0) return { code: CloseCode.NO_STATUS, reason: "" };
  if (payload.length === 1) {
    throw new FrameError(CloseCode.PROTOCOL_ERROR, "close frame of 1 byte");
  }
  const code = (payload[0]! << 8) | payload[1]!;
  // §7.4: only the codes a peer may send.
  if (!isValidCloseCode(code)) throw new FrameError(CloseCode.PROTOCOL_ERROR, `close code ${code}`);
  try {
    return { code, reason: utf8.decode(payload.subarray(2)) };
  } catch {
    throw new FrameError(CloseCode.INVALID_DATA, "close reason is not valid UTF-8");
  }
}

/** Text frames built lately, by their text, and how many bytes they hold. */
const textFrames = new Map<string, Uint8Array>();
let textFrameBytes = 0;
/** Frames kept at most (bytes); larger frames are not kept there. */
const TEXT_FRAME_CACHE = 1024 * 1024;
const LARGEST_KEPT_FRAME = 64 * 1024;
/**
 * The last larger frame and its text. Batch frames of 4 KiB records run to a
 * megabyte, and the sessions of one fan-out flush the same one one after
 * another: encoding it again per socket dominated the gateway's profile.
 */
let largeText = "";
let largeFrame: Uint8Array = new Uint8Array(0);

/**
 * A text frame of `text`. A fan-out sends the same strings to every socket of
 * a log, one socket after another, so recent frames are kept and shared (frames
 * are never changed once built): 1,000 sockets cost one UTF-8 encoding and one
 * frame per event, not 1,000. The cache starts over when it holds 1 MiB.
 */
export function textFrame(text: string): Uint8Array {
  if (text.length > LARGEST_KEPT_FRAME) return largeTextFrame(text);
  let out = textFrames.get(text);
  if (out === undefined) {
    out = encodeTextFrame(text);
    if (out.length <= LARGEST_KEPT_FRAME) {
      if (textFrameBytes + out.length > TEXT_FRAME_CACHE) {
        textFrames.clear();
        textFrameBytes = 0;
      }
      textFrames.set(text, out);
      textFrameBytes += out.length;
    }
  }
  return out;
}

function largeTextFrame(text: string): Uint8Array {
  if (text !== largeText) {
    largeFrame = encodeTextFrame(text);
    largeText = text;
  }
  return largeFrame;
}

/** An unmasked server frame. */
export function frame(opcode: number, payload: Uint8Array): Uint8Array {
  return frameOf(opcode, [payload]);
}

/** An unmasked server frame whose payload is `parts` one after another. */
export function frameOf(opcode: number, parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(headerSize(size) + size);
  let at = writeHeader(out, opcode, size);
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A final text frame for each line of `lines` (separated by `\n`, which JSON
 * text never holds unescaped), one after another in one buffer: stored events
 * go out a frame each without becoming strings first.
 */
export function textFramesOf(lines: Uint8Array): Uint8Array {
  let size = 0;
  for (let at = 0; at <= lines.length;) {
    const end = lineEnd(lines, at);
    size += headerSize(end - at) + end - at;
    at = end + 1;
  }
  const out = new Uint8Array(size);
  let to = 0;
  for (let at = 0; at <= lines.length;) {
    const end = lineEnd(lines, at);
    to += writeHeaderAt(out, to, Opcode.TEXT, end - at);
    out.set(lines.subarray(at, end), to);
    to += end - at;
    at = end + 1;
  }
  return out;
}

function lineEnd(lines: Uint8Array, from: number): number {
  const end = lines.indexOf(0x0a, from);
  return end < 0 ? lines.length : end;
}

/** A close frame with `code` and as much of `reason` as fits (RFC 6455 §5.5.1). */
export function closeFrame(code: number, reason: string): Uint8Array {
  const text = encoder.encode(reason).subarray(0, MAX_CONTROL_PAYLOAD - 2);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return frame(Opcode.CLOSE, payload);
}

/**
 * A text frame, its text encoded straight into it when the text is ASCII (as
 * JSON mostly is): one allocation, not two. Else encoded, then copied.
 */
function encodeTextFrame(text: string): Uint8Array {
  const header = headerSize(text.length);
  const out = new Uint8Array(header + text.length);
  const { read, written } = encoder.encodeInto(text, out.subarray(header));
  if (read !== text.length || written !== text.length) {
    return frame(Opcode.TEXT, encoder.encode(text));
  }
  writeHeader(out, Opcode.TEXT, text.length);
  return out;
}

function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** Writes the header of a final, unmasked frame at the start of `out`; returns its size. */
function writeHeader(out: Uint8Array, opcode: number, length: number): number {
  return writeHeaderAt(out, 0, opcode, length);
}

/** Writes the header of a final, unmasked frame at `out[at]`; returns its size. */
function writeHeaderAt(out: Uint8Array, at: number, opcode: number, length: number): number {
  out[at] = 0x80 | opcode;
  if (length < 126) {
    out[at + 1] = length;
    return 2;
  }
  if (length < 65_536) {
    out[at + 1] = 126;
    out[at + 2] = length >> 8;
    out[at + 3] = length & 0xff;
    return 4;
  }
  out[at + 1] = 127;
  const view = new DataView(out.buffer, out.byteOffset + at);
  view.setUint32(2, Math.floor(length / 2 ** 32));
  view.setUint32(6, length >>> 0);
  return 10;
}
