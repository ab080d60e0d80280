/** The line splitter shared by the CLI and the tests. */

import assert from "node:assert/strict";
import { lines } from "../../src/io/lines.ts";

Deno.test.sanitizer({ ops: true, resources: true });

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => encoder.encode(c)));
}

Deno.test("lines: split across chunks, \\r\\n endings, a last line without an ending", async () => {
  const got = await Array.fromAsync(lines(streamOf("a\nb", "c\r\n\nd\r", "\ne")));
  assert.deepEqual(got, ["a", "bc", "", "d", "e"]);
});

Deno.test("lines: a multi-byte character split between chunks stays whole", async () => {
  const bytes = new TextEncoder().encode("é\n");
  const stream = ReadableStream.from([bytes.subarray(0, 1), bytes.subarray(1)]);
  assert.deepEqual(await Array.fromAsync(lines(stream)), ["é"]);
});
