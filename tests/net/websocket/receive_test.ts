/**
 * The server WebSocket's receive path and its bounds, on scripted connections
 * (issue 18): what one message may cost, pongs that never pile up, the cap on
 * what waits to be written, input handled a frame at a time in time slices
 * with no read pending meanwhile, and messages held back by `admit`.
 */

import { concat } from "../../../src/io/bytes.ts";
import assert from "node:assert/strict";
import { ServerWebSocket, type SocketLimit } from "../../../src/net/websocket/mod.ts";
import { HANDLED_PER_LOOK } from "../../../src/net/websocket/socket_options.ts";
import { nextSlice, sliceSpent, slicesSettled } from "../../../src/io/time_slice.ts";
import { waitFor } from "../../helpers/client.ts";
import { ScriptedConn, SOCKET_OPTIONS } from "../../helpers/fake_conn.ts";
import { maskedFrame } from "../../helpers/raw_ws.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface ServerFrame {
  opcode: number;
  payload: Uint8Array;
}

/** The (unmasked, final) frames in what the socket wrote. */
function framesWritten(conn: ScriptedConn): ServerFrame[] {
  const bytes = concat(conn.written);
  const frames: ServerFrame[] = [];
  for (let at = 0; at < bytes.length;) {
    let length = bytes[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) [length, header] = [(bytes[at + 2]! << 8) | bytes[at + 3]!, 4];
    else if (length === 127) {
      length = Number(new DataView(bytes.buffer, at + 2, 8).getBigUint64(0));
      header = 10;
    }
    frames.push({
      opcode: bytes[at]! & 0x0f,
      payload: bytes.subarray(at + header, at + header + length),
    });
    at += header + length;
  }
  return frames;
}

function closeCode(frame: ServerFrame | undefined): number | undefined {
  if (frame?.opcode !== 0x8) return undefined;
  return (frame.payload[0]! << 8) | frame.payload[1]!;
}

/** A started socket on a scripted connection; what it delivers and refuses is recorded. */
function open(conn: ScriptedConn, options: Partial<typeof SOCKET_OPTIONS> = {}) {
  const socket = new ServerWebSocket(conn.conn, { ...SOCKET_OPTIONS, ...options });
  const messages: string[] = [];
  const limits: SocketLimit[] = [];
  const closes: number[] = [];
  socket.handler = {
    onMessage: (data) =>
      messages.push(typeof data === "string" ? data : `binary ${data.byteLength}`),
    onLimit: (limit) => limits.push(limit),
    onClose: (info) => closes.push(info.code),
  };
  socket.start();
  return { socket, messages, limits, closes };
}

/** Ends the socket and waits until nothing of it is left running. */
async function end(socket: ServerWebSocket): Promise<void> {
  socket.abort();
  await slicesSettled();
}

const text = (s: string, fin = true) => maskedFrame(0x1, encoder.encode(s), { fin });
const continuation = (s: string, fin = false) => maskedFrame(0x0, encoder.encode(s), { fin });

Deno.test("a message whose frames are within --max-fragments is delivered whole; one frame more closes 1009 and names the limit", async () => {
  // SOCKET_OPTIONS allow 16 data frames per message.
  for (const [frames, delivered] of [[16, true], [17, false]] as const) {
    const conn = new ScriptedConn();
    const { socket, messages, limits } = open(conn);
    try {
      const middle = Array.from({ length: frames - 2 }, () => continuation(""));
      conn.push(concat([text("ab", false), ...middle, continuation("c", true)]));
      if (delivered) {
        await waitFor(() => messages.length === 1, "the message");
        assert.deepEqual(messages, ["abc"]);
        assert.deepEqual(limits, []);
      } else {
        await waitFor(() => closeCode(framesWritten(conn).at(-1)) !== undefined, "a close frame");
        assert.equal(closeCode(framesWritten(conn).at(-1)), 1009);
        assert.deepEqual([messages, limits], [[], ["maxFragments"]]);
      }
    } finally {
      await end(socket);
    }
  }
});

Deno.test("empty continuation frames cost their headers: they run into --max-frame-bytes though they carry nothing", async () => {
  const conn = new ScriptedConn();
  const { socket, messages, limits } = open(conn, {
    maxMessageBytes: 1000,
    maxFragments: 1_000_000,
  });
  try {
    // 6 bytes each on the wire: the 167th passes 1000 bytes.
    conn.push(concat([text("x", false), ...Array.from({ length: 200 }, () => continuation(""))]));
    await waitFor(() => closeCode(framesWritten(conn).at(-1)) !== undefined, "a close frame");
    assert.equal(closeCode(framesWritten(conn).at(-1)), 1009);
    assert.match(decoder.decode(framesWritten(conn).at(-1)!.payload.subarray(2)), /1000-byte/);
    assert.deepEqual([messages, limits], [[], ["maxMessageBytes"]]);
  } finally {
    await end(socket);
  }
});

Deno.test("control frames inside a fragmented message count against it; outside one they do not", async () => {
  const ping = maskedFrame(0x9, new Uint8Array(125)); // 131 bytes on the wire
  for (const inside of [false, true]) {
    const conn = new ScriptedConn();
    const { socket, messages, limits } = open(conn, { maxMessageBytes: 1000 });
    try {
      const pings = Array.from({ length: 10 }, () => ping);
      conn.push(
        inside
          ? concat([text("a", false), ...pings, continuation("b", true)])
          : concat([...pings, text("ab")]),
      );
      if (inside) {
        await waitFor(() => limits.length === 1, "the limit");
        assert.deepEqual([messages, limits], [[], ["maxMessageBytes"]]);
      } else {
        await waitFor(() => messages.length === 1, "the message");
        assert.deepEqual([messages, limits], [["ab"], []]);
      }
    } finally {
      await end(socket);
    }
  }
});

Deno.test("10,000 pings from a peer that reads nothing leave one pong waiting, not 10,000; the one sent next answers the latest ping", async () => {
  const conn = new ScriptedConn();
  conn.hold(); // the peer reads nothing: the first pong's write never completes
  const pings = Array.from({ length: 10_000 }, (_, i) => {
    return maskedFrame(0x9, new Uint8Array([i >> 8, i & 0xff]));
  });
  const { socket, messages } = open(conn);
  try {
    conn.push(concat([...pings, text("end")]));
    await waitFor(() => messages.length === 1, "every ping read");
    // The pong being written (4 bytes) and one waiting (4 bytes).
    assert.equal(socket.bufferedAmount, 8);
    conn.release();
    await waitFor(() => socket.bufferedAmount === 0, "the pongs written");
    const pongs = framesWritten(conn).map((f) => [f.opcode, (f.payload[0]! << 8) | f.payload[1]!]);
    // The first write starts once the pings handled in its run have replaced one another.
    assert.equal(pongs.length, 2);
    assert.ok(pongs[0]![1]! < 9_999, `the first pong answers ping ${pongs[0]![1]}`);
    assert.deepEqual(pongs.map(([opcode]) => opcode), [0xa, 0xa]);
    assert.equal(pongs[1]![1], 9_999);
  } finally {
    await end(socket);
  }
});

Deno.test("past --send-queue-bytes the socket closes with 1013, drops its queue and names the limit; the close frame still goes out", async () => {
  const conn = new ScriptedConn();
  conn.hold();
  const { socket, limits } = open(conn, { maxQueuedBytes: 1000 });
  try {
    const sent: number[] = [];
    for (let i = 0; i < 10; i++) {
      socket.send("y".repeat(200)); // 202 bytes a frame
      sent.push(socket.bufferedAmount);
    }
    assert.deepEqual(limits, ["maxQueuedBytes"]);
    assert.equal(socket.readyState, 2, "closing");
    // Four frames fit; the fifth would pass 1000 bytes: the queue behind the frame
    // being written is dropped, and the close frame takes its place.
    assert.ok(Math.max(...sent) <= 1000 + 127, `queued ${sent}`);
    conn.release();
    await waitFor(() => closeCode(framesWritten(conn).at(-1)) !== undefined, "the close frame");
    const frames = framesWritten(conn);
    assert.equal(closeCode(frames.at(-1)), 1013);
    assert.ok(frames.length < 6, `${frames.length} frames written`);
  } finally {
    await end(socket);
  }
});

Deno.test("10,000 frames in one read are not handled in one turn: the socket looks at the time slice every few messages and, once it is spent, waits for a fresh one; no read is started meanwhile", async () => {
  const frames = concat(Array.from({ length: 10_000 }, (_, i) => text(String(i))));
  const conn = new ScriptedConn();
  // Bytes that came with the upgrade are handled as one read, of any size.
  const socket = new ServerWebSocket(conn.conn, { ...SOCKET_OPTIONS, initial: frames });
  const messages: string[] = [];
  /** How many messages were handled when a slice waiter queued by a run's first resumed. */
  const handledAtResume: number[] = [];
  let readsWhileHandling = -1;
  socket.handler = {
    onMessage: (data) => {
      messages.push(String(data));
      // The first message of each of the first four runs takes the whole slice.
      if (messages.length % HANDLED_PER_LOOK === 1 && messages.length < 4 * HANDLED_PER_LOOK) {
        while (!sliceSpent()) { /* a handler that takes the whole slice */ }
        // Waiters resume in order: this one before the socket, if the socket waits at all.
        void nextSlice().then(() => handledAtResume.push(messages.length));
      }
      if (messages.length === 10_000) readsWhileHandling = conn.reads;
    },
  };
  socket.start();
  try {
    await waitFor(() => messages.length === 10_000, "every message");
    // Gone on in the same turn, the socket would have handled every message first.
    const runs = [1, 2, 3, 4].map((n) => n * HANDLED_PER_LOOK);
    assert.deepEqual(handledAtResume, runs);
    assert.equal(readsWhileHandling, 0, "a read was started while input was still being handled");
    assert.deepEqual(messages.slice(0, 3), ["0", "1", "2"]);
    assert.equal(messages.at(-1), "9999");
    await waitFor(() => conn.reads === 1, "the next read, once all was handled");
  } finally {
    await end(socket);
  }
});

Deno.test("a message `admit` holds back is delivered after the hold, in order; the socket reads nothing meanwhile", async () => {
  const conn = new ScriptedConn();
  const { socket } = open(conn);
  const events: string[] = [];
  const holds = [0, 30, 0];
  socket.handler.admit = () => {
    events.push(`admit (reads ${conn.reads})`);
    return holds.shift() ?? 0;
  };
  socket.handler.onMessage = (data) => events.push(`${data} (reads ${conn.reads})`);
  try {
    conn.push(concat([text("a"), text("b"), text("c")]));
    await waitFor(() => conn.reads === 2, "the next read");
    assert.deepEqual(events, [
      "admit (reads 1)",
      "a (reads 1)",
      "admit (reads 1)",
      "b (reads 1)",
      "admit (reads 1)",
      "c (reads 1)",
    ]);
  } finally {
    await end(socket);
  }
});

Deno.test("a close during a hold ends it: the held message is dropped, the peer's close frame is still read and answered", async () => {
  const conn = new ScriptedConn();
  const { socket, messages, closes } = open(conn);
  let held = false;
  socket.handler.admit = () => {
    held = true;
    return 60_000;
  };
  try {
    conn.push(concat([text("held"), maskedFrame(0x8, new Uint8Array([0x03, 0xe8]))]));
    await waitFor(() => held, "the message held");
    socket.close(1001, "going away");
    await waitFor(() => closes.length === 1, "the close");
    assert.deepEqual(messages, []);
    assert.deepEqual(closes, [1000], "the peer's close frame, read after the hold ended");
  } finally {
    await end(socket);
  }
});

/** Bytes `Uint8Array`'s `set` and `slice` copy while `fn` runs (how concatenation copies). */
async function bytesCopied(fn: () => Promise<void>): Promise<number> {
  const proto = Object.getPrototypeOf(Uint8Array.prototype) as {
    set(this: Uint8Array, source: ArrayLike<number>, offset?: number): void;
    slice(this: Uint8Array, start?: number, end?: number): Uint8Array;
  };
  const { set, slice } = proto;
  let copied = 0;
  proto.set = function (source, offset) {
    copied += source.length;
    return set.call(this, source, offset);
  };
  proto.slice = function (start, end) {
    const out = slice.call(this, start, end);
    copied += out.length;
    return out;
  };
  try {
    await fn();
  } finally {
    proto.set = set;
    proto.slice = slice;
  }
  return copied;
}

Deno.test("a 2 MiB message that arrives 200 bytes per read is copied about once, not once per read", async () => {
  const message = "m".repeat(2 * 1024 * 1024);
  const frame = text(message);
  const pieces = Array.from(
    { length: Math.ceil(frame.length / 200) },
    (_, i) => frame.subarray(i * 200, i * 200 + 200),
  );
  const conn = new ScriptedConn();
  const { socket, messages } = open(conn, { maxMessageBytes: 4 * 1024 * 1024 });
  try {
    const copied = await bytesCopied(async () => {
      conn.push(...pieces);
      await waitFor(() => messages.length === 1, "the message", 60_000);
    });
    assert.equal(messages[0]!.length, message.length);
    // Growing by doubling copies what came before at most about once more; copying all
    // gathered so far at every read would be about 10,000 times the message.
    assert.ok(copied < 3 * message.length, `${copied} bytes copied for ${message.length}`);
  } finally {
    await end(socket);
  }
});
