/**
 * Lines to standard output that notice when the reader has gone: `gdp-ws tail
 * LOG | head -2` must end once `head` exits, quietly and with status 0, as
 * `yes | head` does. Writes are synchronous: a reader slower than the records
 * holds the writer up (and so, for `tail`, the socket, until the gateway drops
 * it as a slow consumer and it resumes), instead of filling memory.
 *
 * @example
 * ```ts
 * const out = stdoutLines();
 * if (!out.write("1\t2026-12-07T05:49:54.000Z\t21.5")) Deno.exit(0); // the reader left
 * ```
 *
 * @module
 */

/** Where a command's lines go. */
export interface LineWriter {
  /** Writes `line` and a newline; false once the reader has closed the pipe. */
  write(line: string): boolean;
}

/** Standard output as a {@linkcode LineWriter}. */
export function stdoutLines(
  stdout: Pick<typeof Deno.stdout, "writeSync"> = Deno.stdout,
): LineWriter {
  const encoder = new TextEncoder();
  let closed = false;
  return {
    write: (line) => {
      if (closed) return false;
      const bytes = encoder.encode(`${line}\n`);
      try {
        for (let at = 0; at < bytes.length;) at += stdout.writeSync(bytes.subarray(at));
        return true;
      } catch (error) {
        if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
        closed = true;
        return false;
      }
    },
  };
}
