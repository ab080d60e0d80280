/**
 * Fairness of the live fan-out: a burst of records to many sockets is spread
 * over turns of the event loop, so the gateway answers other requests while it
 * sends, and every socket still gets every record, in order. No timings are
 * asserted: the test checks *when* things happen relative to the burst, which
 * a fan-out that held the loop to its end could not pass. The same for the
 * sockets' own writes, which complete together in one turn.
 */

import assert from "node:assert/strict";
import { range, TestClient, waitFor } from "../helpers/client.ts";
import { embeddedFixture, serveForTest } from "../helpers/gateway.ts";
import { shippedTest } from "../helpers/shipped.ts";
import { slicesSettled } from "../../src/io/time_slice.ts";
import { ServerWebSocket } from "../../src/net/websocket/mod.ts";
import { maskedFrame } from "../helpers/raw_ws.ts";
import { FakeConn, SOCKET_OPTIONS } from "../helpers/fake_conn.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const SOCKETS = 200;
const RECORDS = 1_500;

/** A subscriber socket that keeps the recnos it receives. */
async function subscriber(
  url: string,
  logname: string,
  batch: boolean,
): Promise<{ ws: WebSocket; got: number[] }> {
  const ws = new WebSocket(batch ? `${url}?batch=1` : url);
  const got: number[] = [];
  ws.onmessage = (e) => {
    type Event = { type: number; datum?: { recno: number } };
    const parsed = JSON.parse(String(e.data)) as Event | Event[];
    for (const event of Array.isArray(parsed) ? parsed : [parsed]) {
      if (event.type === 1) got.push(event.datum!.recno);
    }
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("cannot connect"));
  });
  ws.send(JSON.stringify({ logname, startrec: 0, numrec: 0 }));
  return { ws, got };
}

for (const batch of [false, true]) {
  shippedTest(
    `a burst to many sockets (${
      batch ? "batch mode" : "one event per frame"
    }) is spread over turns of the event loop; /healthz and handshakes are served; every socket gets every record in order`,
    async (dataDir) => {
      const fixture = await embeddedFixture(dataDir);
      const gateway = await serveForTest(fixture.backend);
      const subs: { ws: WebSocket; got: number[] }[] = [];
      try {
        await fixture.createLog("burst");
        for (let i = 0; i < SOCKETS; i++) subs.push(await subscriber(gateway.url, "burst", batch));
        await waitFor(() => gateway.hub.stats().live === SOCKETS, `${SOCKETS} live subscriptions`);

        // Appends queued in one turn share one commit: the whole burst reaches the hub in one turn.
        const log = await fixture.backend.open("burst");
        const encoder = new TextEncoder();
        const appended = Promise.all(
          range(1, RECORDS).map((n) => log.append(encoder.encode(`r${n}`))),
        );
        const before = gateway.hub.stats().liveDeliveries;
        const total = SOCKETS * RECORDS;
        const base = gateway.url.replace(/^ws/, "http");

        // A timer set now runs on the loop's next turn: the burst (committed and fanned out from
        // setImmediate in this turn) must not be done by then. A fan-out that held the loop to
        // its end would be.
        const atNextTurn = await new Promise<number>((resolve) =>
          setTimeout(() => resolve(gateway.hub.stats().liveDeliveries - before), 0)
        );
        assert.ok(atNextTurn > 0, "the burst started within its turn");
        assert.ok(atNextTurn < total, `one turn sent the whole burst (${atNextTurn} deliveries)`);
        // Meanwhile the gateway serves HTTP and handshakes.
        const health = await fetch(`${base}healthz`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
        const late = await TestClient.connect(gateway.url);
        await appended;
        await log.close();

        await waitFor(
          () => subs.every((s) => s.got.length >= RECORDS),
          "every record everywhere",
          60_000,
        );
        for (const { got } of subs) assert.deepEqual(got, range(1, RECORDS));
        await late.close();
      } finally {
        await Promise.all(subs.map(({ ws }) => {
          if (ws.readyState === WebSocket.CLOSED) return;
          const closed = new Promise((resolve) => ws.onclose = resolve);
          ws.close();
          return closed;
        }));
        await gateway.shutdown();
        await fixture.teardown();
      }
    },
  );
}

/**
 * A connection whose first write stays pending until `release()`; later writes
 * complete at once after a little work, as a write syscall does.
 */
class HeldConn extends FakeConn {
  static writes = 0;
  #release: (() => void) | undefined;
  #held = true;

  write(bytes: Uint8Array): Promise<number> {
    if (this.#held) {
      this.#held = false;
      return new Promise((resolve) => this.#release = () => resolve(bytes.length));
    }
    HeldConn.writes++;
    const until = performance.now() + 0.1;
    while (performance.now() < until) { /* the syscall's cost */ }
    return Promise.resolve(bytes.length);
  }

  release(): void {
    this.#release?.();
  }
}

Deno.test("sockets whose writes complete in one turn send their next frames in time slices, each looking at the slice again when it resumes", async () => {
  const conns = Array.from({ length: 200 }, () => new HeldConn());
  const sockets = conns.map((conn) => new ServerWebSocket(conn.conn, SOCKET_OPTIONS));
  try {
    for (const socket of sockets) {
      socket.start();
      socket.send("first");
      socket.flush(); // written now, and held
      socket.send("second"); // queued behind it
    }
    HeldConn.writes = 0;
    for (const conn of conns) conn.release();
    // Timers fire in the order they were set: this one before the slice's, the next one after.
    const inFirstTurn = await new Promise<number>((resolve) =>
      setTimeout(() => resolve(HeldConn.writes), 0)
    );
    const inSecondTurn = await new Promise<number>((resolve) =>
      setTimeout(() => resolve(HeldConn.writes - inFirstTurn), 0)
    );
    assert.ok(inFirstTurn < conns.length, `${inFirstTurn} writes in the first turn`);
    // Every waiter of a slice resumes in the same turn; one that did not look again would write.
    assert.ok(inSecondTurn < conns.length / 2, `${inSecondTurn} writes in the second turn`);
    await waitFor(() => HeldConn.writes === conns.length, "every second frame written");
  } finally {
    for (const socket of sockets) socket.abort();
    await slicesSettled();
  }
});

/**
 * A connection whose peer has sent its close frame: the first read returns it
 * once `release()` is called. Writes and the close cost a little work, as their
 * syscalls do.
 */
class ClosingConn extends FakeConn {
  static writes = 0;
  static closes = 0;
  #frame = Promise.withResolvers<void>();
  #sent = false;

  release(): void {
    this.#frame.resolve();
  }

  override async read(buffer: Uint8Array): Promise<number | null> {
    if (this.#sent) return await super.read(buffer);
    await this.#frame.promise;
    this.#sent = true;
    const frame = maskedFrame(0x8, new Uint8Array([0x03, 0xe8])); // 1000
    buffer.set(frame);
    return frame.length;
  }

  write(bytes: Uint8Array): Promise<number> {
    ClosingConn.writes++;
    syscall();
    return Promise.resolve(bytes.length);
  }

  override close(): void {
    ClosingConn.closes++;
    syscall();
    super.close();
  }
}

function syscall(): void {
  const until = performance.now() + 0.05;
  while (performance.now() < until) { /* the kernel's share */ }
}

/** Started sockets on `conns`; each one's close code goes into `codes`. */
function startSockets(conns: readonly FakeConn[], codes: number[]): ServerWebSocket[] {
  return conns.map((conn) => {
    const socket = new ServerWebSocket(conn.conn, SOCKET_OPTIONS);
    socket.handler = { onClose: (info) => codes.push(info.code) };
    socket.start();
    return socket;
  });
}

/** What `count` gives at the next timer: once the work of the current turn is done. */
function atNextTimer(count: () => number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(count()), 0));
}

Deno.test("peers whose close frames arrive in one turn get their echoes and closes in time slices; every one is answered with its code", async () => {
  const conns = Array.from({ length: 200 }, () => new ClosingConn());
  const codes: number[] = [];
  const sockets = startSockets(conns, codes);
  try {
    ClosingConn.writes = ClosingConn.closes = 0;
    for (const conn of conns) conn.release();
    const inFirstTurn = await atNextTimer(() => ClosingConn.writes + ClosingConn.closes);
    // Answered at once, 200 echoes and 200 closes would all be done in that turn.
    assert.ok(inFirstTurn < conns.length, `${inFirstTurn} writes and closes in the first turn`);
    await waitFor(() => codes.length === conns.length, "every socket closed");
    assert.equal(ClosingConn.writes, conns.length);
    assert.equal(ClosingConn.closes, conns.length);
    assert.ok(codes.every((code) => code === 1000));
  } finally {
    for (const socket of sockets) socket.abort();
    await slicesSettled();
  }
});

/** A peer that has sent its close frame, and whose echo's write completes when all are let go. */
class EchoHeldConn extends ClosingConn {
  static gate = Promise.withResolvers<void>();
  static pending = 0;

  override async write(bytes: Uint8Array): Promise<number> {
    EchoHeldConn.pending++;
    await EchoHeldConn.gate.promise;
    return super.write(bytes);
  }
}

Deno.test("echoes of close frames that complete in one turn close their connections in time slices", async () => {
  EchoHeldConn.gate = Promise.withResolvers<void>();
  EchoHeldConn.pending = 0;
  const conns = Array.from({ length: 200 }, () => new EchoHeldConn());
  const codes: number[] = [];
  const sockets = startSockets(conns, codes);
  try {
    for (const conn of conns) conn.release();
    await waitFor(() => EchoHeldConn.pending === conns.length, "every echo being written");
    ClosingConn.closes = 0;
    EchoHeldConn.gate.resolve();
    const inThatTurn = await atNextTimer(() => ClosingConn.closes);
    // Closed as each write completed, all 200 would close (and tear down) in that turn.
    assert.ok(inThatTurn < conns.length, `${inThatTurn} closes in the turn the echoes completed`);
    await waitFor(() => codes.length === conns.length, "every socket closed");
    assert.equal(ClosingConn.closes, conns.length);
    assert.ok(codes.every((code) => code === 1000));
  } finally {
    for (const socket of sockets) socket.abort();
    await slicesSettled();
  }
});

/** A peer that drops its connection (no close frame) when let go. */
class DroppingConn extends FakeConn {
  static gate = Promise.withResolvers<void>();
  static closes = 0;

  override async read(_buffer: Uint8Array): Promise<number | null> {
    await DroppingConn.gate.promise;
    return null;
  }

  write(bytes: Uint8Array): Promise<number> {
    return Promise.resolve(bytes.length);
  }

  override close(): void {
    DroppingConn.closes++;
    syscall();
    super.close();
  }
}

Deno.test("peers that drop their connections in one turn are closed in time slices, each with 1006", async () => {
  DroppingConn.gate = Promise.withResolvers<void>();
  DroppingConn.closes = 0;
  const conns = Array.from({ length: 200 }, () => new DroppingConn());
  const codes: number[] = [];
  const sockets = startSockets(conns, codes);
  try {
    DroppingConn.gate.resolve();
    const inThatTurn = await atNextTimer(() => DroppingConn.closes);
    assert.ok(inThatTurn < conns.length, `${inThatTurn} closes in the turn the peers left`);
    await waitFor(() => codes.length === conns.length, "every socket closed");
    assert.ok(codes.every((code) => code === 1006));
  } finally {
    for (const socket of sockets) socket.abort();
    await slicesSettled();
  }
});
