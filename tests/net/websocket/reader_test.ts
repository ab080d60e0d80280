/**
 * The frame reader on its own: whatever way a client's bytes are cut into
 * reads, the same messages and control frames come out, in order; what RFC
 * 6455 forbids in a header is refused from the header alone.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { FrameError } from "../../../src/net/websocket/frames.ts";
import { FrameReader, ReadResult } from "../../../src/net/websocket/reader.ts";
import { maskedFrame } from "../../helpers/raw_ws.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const LIMITS = { maxMessageBytes: 1 << 20, maxFragments: 64 };

/** Everything the reader makes of `reads`, one after another: `kind:payload` as text. */
function readAll(reads: readonly Uint8Array[], limits = LIMITS): string[] {
  const reader = new FrameReader(limits);
  const out: string[] = [];
  for (const read of reads) {
    // The reader unmasks in place: give it a copy, as a socket gives it its own buffer.
    const bytes = read.slice();
    for (let at = 0; at < bytes.length;) {
      const result = reader.next(bytes, at, bytes.length);
      at = reader.at;
      if (result !== ReadResult.NEED_MORE) {
        out.push(`${reader.kind}:${new TextDecoder().decode(reader.take())}`);
      }
    }
  }
  return out;
}

/** The close code of the FrameError `fn` throws; `what` names the case if it throws none. */
function refusal(what: string, fn: () => unknown): number {
  try {
    fn();
  } catch (error) {
    if (error instanceof FrameError) return error.code;
    throw error;
  }
  assert.fail(`not refused: ${what}`);
}

function cut(bytes: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [0, ...at, bytes.length];
  return points.slice(1).map((end, i) => bytes.subarray(points[i]!, end));
}

const encoder = new TextEncoder();

Deno.test("a frame cut at any byte, header or payload, reads the same, in each length encoding", () => {
  for (const length of [5, 300, 70_000]) {
    const frame = maskedFrame(0x1, encoder.encode("é".repeat(length / 2 | 0) + "x"));
    const whole = readAll([frame]);
    assert.equal(whole.length, 1);
    for (let at = 1; at < Math.min(frame.length, 40); at++) {
      assert.deepEqual(readAll(cut(frame, [at])), whole, `${length}, cut at ${at}`);
    }
    const everyByte = Array.from({ length: frame.length - 1 }, (_, i) => i + 1);
    if (length < 1000) assert.deepEqual(readAll(cut(frame, everyByte)), whole);
  }
});

Deno.test("a length written in more bytes than it needs is read as the length it says", () => {
  const payload = encoder.encode("hi");
  for (const declared of [126, 65_536]) {
    // maskedFrame picks the encoding from the declared length; the payload is then cut.
    const frame = maskedFrame(0x1, new Uint8Array(declared), { declaredLength: declared });
    const header = frame.length - declared;
    const longForm = new Uint8Array(header + payload.length);
    longForm.set(frame.subarray(0, header));
    if (declared === 126) longForm.set([0, 2], 2);
    else longForm.set([0, 0, 0, 0, 0, 0, 0, 2], 2);
    longForm.set(payload.map((b, i) => b ^ frame[header - 4 + (i % 4)]!), header);
    assert.deepEqual(readAll([longForm]), ["1:hi"]);
  }
});

Deno.test("what RFC 6455 forbids in a header is refused from the header alone, with its code", () => {
  const header = (b0: number, b1: number, ...rest: number[]) => new Uint8Array([b0, b1, ...rest]);
  const cases: [string, Uint8Array, number][] = [
    ["RSV1", header(0xc1, 0x80), 1002],
    ["opcode 3", header(0x83, 0x80), 1002],
    ["opcode 11", header(0x8b, 0x80), 1002],
    ["unmasked", header(0x81, 0x05), 1002],
    ["a ping of 126 bytes", header(0x89, 0x80 | 126, 0, 126), 1002],
    ["a fragmented pong", header(0x0a, 0x80), 1002],
    ["a continuation first", header(0x80, 0x80, 0, 0, 0, 0), 1002],
    [
      "a 64-bit length with its top bit set",
      header(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4),
      1002,
    ],
    ["2^60 bytes", header(0x82, 0xff, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4), 1009],
    [
      "one byte over the limit",
      maskedFrame(0x2, new Uint8Array(0), { declaredLength: 1025 }),
      1009,
    ],
  ];
  for (const [what, bytes, code] of cases) {
    const reader = new FrameReader({ maxMessageBytes: 1024, maxFragments: 4 });
    assert.equal(refusal(what, () => reader.next(bytes.slice(), 0, bytes.length)), code, what);
  }
});

/** One message, as the client fragments it, with control frames between its fragments. */
const message = fc.record({
  opcode: fc.constantFrom(0x1, 0x2),
  parts: fc.array(fc.string({ unit: "grapheme-ascii", maxLength: 300 }), {
    minLength: 1,
    maxLength: 6,
  }),
  pings: fc.array(fc.string({ unit: "grapheme-ascii", maxLength: 40 }), { maxLength: 3 }),
});

Deno.test("property: fragmented messages with control frames among their fragments come out whole, in order, however the bytes are cut", () => {
  fc.assert(
    fc.property(
      fc.array(message, { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (messages, cuts) => {
        const frames: Uint8Array[] = [];
        const expected: string[] = [];
        for (const { opcode, parts, pings } of messages) {
          parts.forEach((part, i) => {
            const fin = i === parts.length - 1;
            frames.push(maskedFrame(i === 0 ? opcode : 0x0, encoder.encode(part), { fin }));
            // A ping between this fragment and the next, when there is one.
            const ping = pings[i];
            if (!fin && ping !== undefined) {
              frames.push(maskedFrame(0x9, encoder.encode(ping)));
              expected.push(`9:${ping}`);
            }
          });
          expected.push(`${opcode}:${parts.join("")}`);
        }
        const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
        let at = 0;
        for (const frame of frames) {
          bytes.set(frame, at);
          at += frame.length;
        }
        const points = [...new Set(cuts.map((c) => c % bytes.length))].sort((a, b) => a - b)
          .filter((c) => c > 0);
        assert.deepEqual(readAll(cut(bytes, points)), expected);
      },
    ),
    { seed: 6455, numRuns: 500 },
  );
});
