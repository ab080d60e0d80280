/**
 * Turns the bytes a client sends into whole messages and control frames, one
 * at a time, each byte looked at once: a header is decoded when its last byte
 * arrives, a payload is unmasked as it arrives, in place when a frame is whole
 * in one read, else into one buffer per message that grows by doubling (a 2 MiB
 * message sent in 200-byte pieces is copied about twice, not 10,000 times).
 *
 * What one message may cost is bounded from frame headers alone, before any of
 * their payload is kept: its payload plus, for every frame after the first (a
 * continuation, or a control frame sent in the middle of it), that frame's
 * whole size, at most `maxMessageBytes`; and at most `maxFragments` data
 * frames. So 100,000 empty continuations cost what 600 KB of payload would,
 * and are refused as such.
 *
 * @example
 * ```ts
 * import { FrameReader, ReadResult } from "./reader.ts";
 *
 * const reader = new FrameReader({ maxMessageBytes: 1024, maxFragments: 16 });
 * const bytes = new Uint8Array([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]); // "hi", mask 0
 * if (reader.next(bytes, 0, bytes.length) === ReadResult.MESSAGE) {
 *   console.log(new TextDecoder().decode(reader.take())); // "hi"
 * }
 * ```
 *
 * @module
 */

import { CloseCode } from "./close_codes.ts";
import {
  FrameError,
  type FrameHeader,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  parseClientHeader,
  unmaskInto,
} from "./frames.ts";

/** What {@linkcode FrameReader.next} found. */
export const ReadResult = {
  /** The bytes given ran out first (a partial frame is kept). */
  NEED_MORE: 0,
  /** A whole message: `kind` is TEXT or BINARY, `data` its payload. */
  MESSAGE: 1,
  /** A control frame: `kind` is CLOSE, PING or PONG, `data` its payload. */
  CONTROL: 2,
} as const;
export type ReadResult = typeof ReadResult[keyof typeof ReadResult];

export interface ReaderLimits {
  /** A message's payload, plus the whole size of each frame after its first. */
  maxMessageBytes: number;
  /** Data frames one message may arrive in. */
  maxFragments: number;
}

const EMPTY = new Uint8Array(0);
/** The largest header: 2 bytes, a 64-bit length and the mask. */
const MAX_HEADER = 14;
/** A message buffer starts at most this large, however much its header promises. */
const FIRST_MESSAGE_BUFFER = 64 * 1024;

export class FrameReader {
  /** After MESSAGE or CONTROL: the opcode of what was read. */
  kind = 0;
  /** Where the last call to {@linkcode next} stopped in the bytes it was given. */
  at = 0;
  /** After MESSAGE or CONTROL, until taken: its unmasked payload. */
  #data: Uint8Array = EMPTY;

  readonly #maxMessageBytes: number;
  readonly #maxFragments: number;
  /** The frame being read, once its header is whole. */
  readonly #frame: FrameHeader = { fin: false, opcode: 0, length: 0, size: 0, mask: 0 };
  #inPayload = false;
  /** Payload bytes of the frame read so far. */
  #done = 0;
  /** A header split between reads, as far as it came. */
  #head: Uint8Array | undefined;
  #headLength = 0;
  /** A control frame's payload split between reads. */
  #control: Uint8Array | undefined;
  /** The message in progress: its opcode (0: none), data frames, bytes counted. */
  #messageOpcode = 0;
  #fragments = 0;
  #counted = 0;
  /** Its payload so far, when it did not come whole in one read. */
  #message: Uint8Array | undefined;
  #messageLength = 0;

  constructor(limits: ReaderLimits) {
    this.#maxMessageBytes = limits.maxMessageBytes;
    this.#maxFragments = limits.maxFragments;
  }

  /**
   * Reads `bytes[at..end)` up to the end of the next message or control frame,
   * or to `end`. Unmasks in place: `bytes` must be the caller's to change.
   * Throws {@linkcode FrameError} for a frame the socket must refuse; after
   * that the reader's state is undefined and it must not be called again.
   */
  next(bytes: Uint8Array, at: number, end: number): ReadResult {
    const frame = this.#frame;
    while (at < end || (this.#inPayload && frame.length === 0)) {
      if (!this.#inPayload) {
        at = this.#readHeader(bytes, at, end);
        continue;
      }
      const count = Math.min(frame.length - this.#done, end - at);
      const whole = this.#done === 0 && count === frame.length;
      let payload: Uint8Array | undefined;
      if (whole && (frame.opcode >= Opcode.CLOSE || (frame.fin && this.#messageLength === 0))) {
        // The usual case, a frame whole in one read: no copy.
        unmaskInto(bytes, at, bytes, at, count, frame.mask, 0);
        payload = bytes.subarray(at, at + count);
      } else if (frame.opcode >= Opcode.CLOSE) {
        this.#control ??= new Uint8Array(MAX_CONTROL_PAYLOAD);
        unmaskInto(this.#control, this.#done, bytes, at, count, frame.mask, this.#done);
      } else if (count > 0) {
        this.#grow(count);
        unmaskInto(this.#message!, this.#messageLength, bytes, at, count, frame.mask, this.#done);
        this.#messageLength += count;
      }
      this.#done += count;
      at += count;
      if (this.#done < frame.length) break;
      const result = this.#frameEnd(payload ?? this.#gathered());
      if (result !== ReadResult.NEED_MORE) {
        this.at = at;
        return result;
      }
    }
    this.at = at;
    return ReadResult.NEED_MORE;
  }

  /**
   * The payload of the message or control frame just read, unmasked, valid
   * until the next call to {@linkcode next}. Taken, so that the reader does not
   * keep a message alive after it was handled.
   */
  take(): Uint8Array {
    const data = this.#data;
    this.#data = EMPTY;
    return data;
  }

  /** Forgets every buffer (the socket is done). */
  release(): void {
    this.#head = this.#control = this.#message = undefined;
    this.#data = EMPTY;
  }

  /** Decodes the next header, from `bytes` or from a part kept from before; returns where it ends. */
  #readHeader(bytes: Uint8Array, at: number, end: number): number {
    if (this.#headLength === 0) {
      if (parseClientHeader(bytes, at, end, this.#frame)) {
        this.#startFrame();
        return at + this.#frame.size;
      }
      // Partial: keep it. At most 13 bytes; the next read completes it.
      this.#head ??= new Uint8Array(MAX_HEADER);
      this.#head.set(bytes.subarray(at, end));
      this.#headLength = end - at;
      return end;
    }
    const head = this.#head!;
    const take = Math.min(MAX_HEADER - this.#headLength, end - at);
    head.set(bytes.subarray(at, at + take), this.#headLength);
    const had = this.#headLength;
    if (!parseClientHeader(head, 0, had + take, this.#frame)) {
      this.#headLength += take;
      return at + take;
    }
    this.#headLength = 0;
    this.#startFrame();
    return at + this.#frame.size - had;
  }

  /** The checks of a frame's header against the frames before it; then its payload. */
  #startFrame(): void {
    const { opcode, length, size } = this.#frame;
    this.#inPayload = true;
    this.#done = 0;
    if (opcode >= Opcode.CLOSE) {
      // Check 7 (§5.4 lets control frames come between fragments): one inside a
      // message counts against it whole, so pings cannot stretch a message forever.
      if (this.#messageOpcode !== 0) this.#count(size + length);
      return;
    }
    if (opcode === Opcode.CONTINUATION) {
      // Check 8 (§5.4): a continuation continues a message begun without FIN.
      if (this.#messageOpcode === 0) {
        throw new FrameError(CloseCode.PROTOCOL_ERROR, "continuation without a message");
      }
      // Check 9 (§10.4 asks for limits; this one is ours): data frames per message.
      const max = this.#maxFragments;
      if (++this.#fragments > max) {
        throw new FrameError(
          CloseCode.TOO_BIG,
          `message in more than ${max} fragments`,
          "maxFragments",
        );
      }
      this.#count(size + length);
      return;
    }
    // Check 10 (§5.4): a new message may not begin inside a fragmented one.
    if (this.#messageOpcode !== 0) {
      throw new FrameError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one");
    }
    this.#messageOpcode = opcode;
    this.#fragments = 1;
    this.#counted = 0;
    this.#count(length);
  }

  /**
   * Check 11 (§10.4, ours): counts `bytes` against the message in progress and
   * refuses it (1009) past `maxMessageBytes`, from the header, before a byte of
   * the frame's payload is kept.
   */
  #count(bytes: number): void {
    this.#counted += bytes;
    const max = this.#maxMessageBytes;
    if (this.#counted > max) {
      throw new FrameError(
        CloseCode.TOO_BIG,
        `message over the ${max}-byte limit`,
        "maxMessageBytes",
      );
    }
  }

  /** A frame whose payload is all read: a control frame or a whole message is returned. */
  #frameEnd(payload: Uint8Array): ReadResult {
    const { opcode, fin } = this.#frame;
    this.#inPayload = false;
    if (opcode >= Opcode.CLOSE) {
      this.#control = undefined;
      this.kind = opcode;
      this.#data = payload;
      return ReadResult.CONTROL;
    }
    if (!fin) return ReadResult.NEED_MORE;
    this.kind = this.#messageOpcode;
    this.#data = payload;
    this.#messageOpcode = 0;
    this.#message = undefined;
    this.#messageLength = 0;
    return ReadResult.MESSAGE;
  }

  /** The payload gathered in a buffer: a control frame's, or the message's so far. */
  #gathered(): Uint8Array {
    if (this.#frame.opcode >= Opcode.CLOSE) {
      return this.#control?.subarray(0, this.#frame.length) ?? EMPTY;
    }
    return this.#message?.subarray(0, this.#messageLength) ?? EMPTY;
  }

  /**
   * Room for `count` more bytes of message: doubled when short (the copies add
   * up to at most twice the message), never past what the limit allows.
   */
  #grow(count: number): void {
    const needed = this.#messageLength + count;
    const have = this.#message?.length ?? 0;
    if (needed <= have) return;
    const promised = this.#messageLength + (this.#frame.length - this.#done);
    const size = Math.min(
      Math.max(needed, have * 2, Math.min(promised, FIRST_MESSAGE_BUFFER)),
      this.#maxMessageBytes,
    );
    const grown = new Uint8Array(Math.max(size, needed));
    if (this.#message) grown.set(this.#message.subarray(0, this.#messageLength));
    this.#message = grown;
  }
}
