/**
 * A request body read by the front door itself, as the handler pulls it: a
 * `Content-Length` body or a chunked one (RFC 9112 §7.1: hex sizes, chunk
 * extensions, trailers read and dropped), bounded in bytes (`maxBytes`, 413
 * as soon as it is past, or at once for a longer `Content-Length`) and in time (a deadline from the end of the head,
 * 408). Nothing is read before the handler asks, so a request refused on its
 * head (401, 403) never costs its body. When the body fails the stream
 * errors and {@linkcode RequestBody.problem} says what to answer.
 *
 * @example
 * ```ts
 * import { ConnInput } from "./input.ts";
 *
 * async function bodyOf(conn: Deno.Conn, length: number): Promise<Uint8Array> {
 *   const input = new ConnInput(conn, 64 * 1024);
 *   const body = new RequestBody(input, { kind: "length", length }, {
 *     maxBytes: 1024 * 1024,
 *     timeoutMs: 30_000,
 *   });
 *   return await new Response(body.stream).bytes();
 * }
 * ```
 *
 * @module
 */

import { Deadline } from "../deadline.ts";
import type { BodyFraming } from "./head.ts";
import type { ConnInput } from "./input.ts";
import type { HttpProblem } from "./response.ts";

export interface BodyOptions {
  /** Largest body accepted, in bytes (413 past it). */
  maxBytes: number;
  /** Milliseconds from now for the whole body (408 past it). */
  timeoutMs: number;
  /** Called before the first read from the connection: a `100 Continue`, when the client waits for one. */
  beforeFirstRead?: () => Promise<void>;
  /** Called once when the body is read to its end, has failed or was cancelled. */
  onSettled?: () => void;
}

/** The error a failed body's stream gives its reader. */
export class BodyError extends Error {
  override name = "BodyError";
  constructor(readonly problem: HttpProblem) {
    super(problem.error);
  }
}

/** Longest chunk-size line (with its extensions) or trailer line. */
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILER_LINES = 32;
const CHUNK_EXT =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*$/;
const TRAILER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t \x21-\x7e\x80-\xff]*$/;

type State = "size" | "data" | "data-end" | "trailer" | "done" | "failed" | "cancelled";

export class RequestBody {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #input: ConnInput;
  readonly #framing: BodyFraming;
  readonly #options: BodyOptions;
  readonly #deadline: Deadline;
  #state: State;
  /** Bytes left in the body (length) or in the current chunk (chunked). */
  #left: number;
  #received = 0;
  #trailers = 0;
  #problem: HttpProblem | undefined;
  #readBefore = false;
  #onSettled: (() => void) | undefined;

  constructor(input: ConnInput, framing: BodyFraming, options: BodyOptions) {
    this.#input = input;
    this.#onSettled = options.onSettled;
    this.#framing = framing;
    this.#options = options;
    this.#deadline = new Deadline(options.timeoutMs);
    input.newStage();
    this.#left = framing.kind === "length" ? framing.length : 0;
    this.#state = framing.kind === "chunked" ? "size" : framing.kind === "length" ? "data" : "done";
    if (this.#state === "done") this.#settle();
    this.stream = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        if (this.#state === "done" || this.#state === "failed") return;
        this.#state = "cancelled";
        this.#settle();
      },
    }, { highWaterMark: 0 });
  }

  /**
   * The handler answered without reading all of it: its deadline stops (the
   * connection is closed after the answer).
   */
  abandon(): void {
    if (this.#state === "done" || this.#state === "failed") return;
    this.#state = "cancelled";
    this.#settle();
  }

  /** Read to its end (trailers too): the connection is ready for the next request. */
  get done(): boolean {
    return this.#state === "done";
  }

  /**
   * Why the body failed (too large, too slow, malformed, cut short), once its
   * reader has been told: then the front door answers this instead of the handler.
   */
  get problem(): HttpProblem | undefined {
    return this.#problem;
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      const chunk = await this.#next();
      if (chunk) return controller.enqueue(chunk);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      this.#fail(error.problem);
    }
    if (this.#state === "done") controller.close();
    else if (this.#problem) controller.error(new BodyError(this.#problem));
  }

  /** The next piece of the body, or undefined at its end; throws BodyError. */
  async #next(): Promise<Uint8Array | undefined> {
    if (this.#framing.kind === "length" && this.#framing.length > this.#options.maxBytes) {
      // Refused unread; a handler that checks Content-Length first never gets here.
      throw new BodyError(tooLarge(this.#options.maxBytes));
    }
    for (;;) {
      switch (this.#state) {
        case "data": {
          const bytes = await this.#some();
          const piece = bytes.slice(0, this.#left);
          this.#input.consume(piece.length);
          this.#left -= piece.length;
          this.#received += piece.length;
          if (this.#left === 0) {
            this.#state = this.#framing.kind === "chunked" ? "data-end" : "done";
          }
          if (this.#state === "done") this.#settle();
          return piece;
        }
        case "size":
          this.#chunkSize(await this.#line());
          break;
        case "data-end":
          if ((await this.#line()).length > 0) throw malformed("a chunk is longer than its size");
          this.#state = "size";
          break;
        case "trailer": {
          const line = await this.#line();
          if (line.length === 0) {
            this.#state = "done";
            this.#settle();
            return undefined;
          }
          if (++this.#trailers > MAX_TRAILER_LINES || !TRAILER_LINE.test(line)) {
            throw malformed("the chunked body's trailer is malformed");
          }
          break;
        }
        default:
          return undefined;
      }
    }
  }

  /** `size[;ext]`: the next chunk's size, or the last chunk. */
  #chunkSize(line: string): void {
    const digits = /^[0-9A-Fa-f]{1,8}/.exec(line)?.[0];
    if (!digits || !CHUNK_EXT.test(line.slice(digits.length))) {
      throw malformed("a chunk size line is malformed");
    }
    const size = parseInt(digits, 16);
    if (size === 0) {
      this.#state = "trailer";
      return;
    }
    if (this.#received + size > this.#options.maxBytes) {
      throw new BodyError(tooLarge(this.#options.maxBytes));
    }
    this.#left = size;
    this.#state = "data";
  }

  /** One CRLF-terminated line (without it), as latin1; reads until it is complete. */
  async #line(): Promise<string> {
    for (;;) {
      const bytes = this.#input.buffered;
      const lf = bytes.indexOf(10);
      if (lf >= 0) {
        if (lf === 0 || bytes[lf - 1] !== 13) throw malformed("a chunk line ends in a bare LF");
        if (lf - 1 > MAX_CHUNK_LINE) throw malformed("a chunk line is too long");
        let line = "";
        for (let i = 0; i < lf - 1; i++) line += String.fromCharCode(bytes[i]!);
        this.#input.consume(lf + 1);
        return line;
      }
      if (bytes.length > MAX_CHUNK_LINE) throw malformed("a chunk line is too long");
      await this.#fill(MAX_CHUNK_LINE + 2);
    }
  }

  /** Some buffered bytes, reading when there are none. */
  async #some(): Promise<Uint8Array> {
    const buffered = this.#input.buffered;
    if (buffered.length > 0) return buffered;
    await this.#fill();
    return this.#input.buffered;
  }

  /** Reads more; `lineRoom` for a line, which must fit whole. */
  async #fill(lineRoom = 0): Promise<void> {
    if (!this.#readBefore) {
      this.#readBefore = true;
      await this.#options.beforeFirstRead?.();
    }
    if (lineRoom > 0) this.#input.reserve(lineRoom);
    const outcome = await this.#input.fill(this.#deadline);
    if (outcome === "timeout") {
      throw new BodyError({ status: 408, error: "the request body did not arrive in time" });
    }
    if (outcome === "end") throw malformed("the request body ended before its length");
    if (outcome === "full") throw malformed("a chunk line is too long");
  }

  #fail(problem: HttpProblem): void {
    if (this.#state === "failed") return;
    this.#state = "failed";
    this.#problem = problem;
    this.#settle();
  }

  #settle(): void {
    this.#deadline.clear();
    const settled = this.#onSettled;
    this.#onSettled = undefined;
    settled?.();
  }
}

function tooLarge(max: number): HttpProblem {
  return { status: 413, error: `the body is over the ${max}-byte limit` };
}

function malformed(error: string): BodyError {
  return new BodyError({ status: 400, error });
}
