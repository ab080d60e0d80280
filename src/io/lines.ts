/**
 * A byte stream as text lines: `\n` or `\r\n` ends a line, and a last line
 * without an ending counts too. Used for `append`'s standard input and for
 * the log lines of child processes in tests and benchmarks.
 *
 * @example
 * ```ts
 * for await (const line of lines(Deno.stdin.readable)) console.log(line.length);
 * ```
 *
 * @module
 */

/** The lines of `stream`, decoded as UTF-8, without their line endings. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    yield* parts.map(withoutCr);
  }
  if (rest) yield withoutCr(rest);
}

function withoutCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
