// @ts-check
/**
 * The client library's tests, written once and run twice: under Deno (client_test.ts) and under
 * Node (node_runner.js, started by client_node_test.ts). Each test drives client/gdp-ws.js
 * against a real gateway process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { checkUrl, connect, GdpWsError } from "../../client/gdp-ws.js";
import { secretAndToken, startGatewayProcess } from "./gateway_process.js";

/** @typedef {import("../../client/gdp-ws.js").GdpRecord} GdpRecord */
/** @typedef {import("../../client/gdp-ws.js").ConnectionState} ConnectionState */

/** Fast reconnects keep the tests short; the backoff itself is the same code. */
const FAST = { minDelayMs: 20, maxDelayMs: 200 };

/**
 * Polls until `condition` holds; fails after `timeoutMs` rather than hanging.
 * @param {() => boolean} condition
 * @param {string} what
 */
async function until(condition, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A port nothing listens on: one the system just gave out and took back.
 * @returns {Promise<number>}
 */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** @param {number} from @param {number} to */
function range(from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * A WebSocket class that counts the frames it receives (to see batch mode at work) and keeps
 * the requests it sends (to see what a resumed subscription asks for).
 * @returns {{ WebSocket: import("../../client/gdp-ws.js").WebSocketClass, frames: () => number,
 *   sent: Record<string, unknown>[] }}
 */
function watchedWebSocket() {
  let frames = 0;
  /** @type {Record<string, unknown>[]} */
  const sent = [];
  class Watched extends WebSocket {
    /** @param {string} url @param {string | string[]} [protocols] */
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener("message", () => frames++);
    }

    /** @override @param {string} text */
    send(text) {
      sent.push(JSON.parse(text));
      super.send(text);
    }
  }
  return { WebSocket: Watched, frames: () => frames, sent };
}

/**
 * @typedef {object} ClientTest
 * @property {string} name
 * @property {() => Promise<void>} fn
 */

/** @type {ClientTest[]} */
export const clientTests = [
  {
    name: "client resumes after a gateway crash and restart with no gap and no duplicate",
    fn: async () => {
      const gateway = await startGatewayProcess();
      /** @type {ConnectionState[]} */
      const states = [];
      const socket = watchedWebSocket();
      const onState = (/** @type {ConnectionState} */ s) => states.push(s);
      const client = connect(gateway.url, { ...FAST, onState, WebSocket: socket.WebSocket });
      try {
        for (const n of range(1, 20)) await gateway.append("resume.me", `${n}`);
        /** @type {number[]} */
        const seen = [];
        const iterating = (async () => {
          for await (const record of client.subscribe("resume.me", { start: 1 })) {
            assert.equal(record.data, `${record.recno}`);
            seen.push(record.recno);
            if (record.recno === 40) break;
          }
        })();
        await until(() => seen.length === 20, "the first 20 records");
        await gateway.restart(); // SIGKILL: no SHUTDOWN, no close frame
        // Appended while the client is still away: it must fetch them after it reconnects.
        for (const n of range(21, 40)) await gateway.append("resume.me", `${n}`);
        await iterating;
        assert.deepEqual(seen, range(1, 40));
        assert.deepEqual(states.slice(0, 3), ["live", "reconnecting", "live"]);
        const resumed = socket.sent.filter((r) => r.logname === "resume.me")[1];
        assert.equal(resumed?.startrec, 21, "resubscribed from the last recno + 1");
      } finally {
        client.close();
        await gateway.stop();
      }
      assert.equal(client.state, "closed");
    },
  },
  {
    name: "client subscribes from a time (since), then resumes by recno after a restart",
    fn: async () => {
      const gateway = await startGatewayProcess();
      const socket = watchedWebSocket();
      const client = connect(gateway.url, { ...FAST, WebSocket: socket.WebSocket });
      try {
        for (const n of range(1, 10)) await gateway.append("since.me", `${n}`);
        const url = `${gateway.http}/logs/since.me/records?start=6&count=1`;
        const [sixth] = /** @type {{ ts: { tv_sec: number, tv_nsec: number } }[]} */ (
          await (await fetch(url)).json()
        );
        const since = { tv_sec: sixth?.ts.tv_sec ?? 0, tv_nsec: sixth?.ts.tv_nsec ?? 0 };
        /** @type {number[]} */
        const seen = [];
        const iterating = (async () => {
          for await (const record of client.subscribe("since.me", { since })) {
            seen.push(record.recno);
            if (record.recno === 12) break;
          }
        })();
        await until(() => seen.length === 5, "records 6 to 10");
        await gateway.restart();
        for (const n of range(11, 12)) await gateway.append("since.me", `${n}`);
        await iterating;
        assert.deepEqual(seen, range(6, 12));
        const asked = socket.sent.filter((r) => r.logname === "since.me");
        assert.deepEqual(asked[0]?.startts, since, "first from the time");
        assert.equal(asked[0]?.startrec, undefined);
        assert.equal(asked[1]?.startrec, 11, "then resumed by recno");
        assert.equal(asked[1]?.startts, undefined);
        // A Date is sent as RFC 3339 text: an hour ago, every record.
        const all = [];
        const hourAgo = new Date(Date.now() - 3_600_000);
        for await (const record of client.subscribe("since.me", { since: hourAgo, count: 12 })) {
          all.push(record.recno);
        }
        assert.deepEqual(all, range(1, 12));
        assert.equal(socket.sent.at(-1)?.startts, hourAgo.toISOString());
      } finally {
        client.close();
        await gateway.stop();
      }
    },
  },
  {
    name: "client errors are GdpWsError with the ep_stat code; the connection survives them",
    fn: async () => {
      const gateway = await startGatewayProcess(["--max-record-bytes", "16"]);
      const client = connect(gateway.url, FAST);
      try {
        await assert.rejects(
          async () => {
            for await (const _ of client.subscribe("no.such.log")) assert.fail("no records");
          },
          (error) => {
            assert.ok(error instanceof GdpWsError);
            assert.equal(error.code, 600);
            assert.equal(error.logname, "no.such.log");
            assert.match(error.message, /^ERROR: 600 no route available/);
            assert.deepEqual(error.epStat, [600, error.message]);
            return true;
          },
        );
        await assert.rejects(client.append("big", "x".repeat(17)), { code: 413 });
        await assert.rejects(client.append("", "x"), { code: 400 });
        /** @type {GdpWsError[]} */
        const errors = [];
        client.subscribe("x", { start: 1, count: -1, onError: (e) => errors.push(e) });
        await until(() => errors.length === 1, "a 400 for count -1");
        assert.equal(errors[0]?.code, 400);
        assert.match(errors[0]?.message ?? "", /numrec must be from 0/);
        const appended = await client.append("after.errors", "still here");
        assert.equal(appended.recno, 1);
        assert.equal(client.state, "live");
      } finally {
        client.close();
        await gateway.stop();
      }
      await assert.rejects(client.append("x", "closed"), { code: 503 });
    },
  },
  {
    name: "client batch mode (the default) and plain mode deliver the same records",
    fn: async () => {
      const gateway = await startGatewayProcess();
      try {
        for (const n of range(1, 100)) await gateway.append("modes", `r${n}`);
        for (const batch of [true, false]) {
          const counter = watchedWebSocket();
          const client = connect(gateway.url, { batch, WebSocket: counter.WebSocket });
          /** @type {GdpRecord[]} */
          const records = [];
          for await (const record of client.subscribe("modes", { start: 1, count: 100 })) {
            records.push(record);
          }
          client.close();
          assert.deepEqual(records.map((r) => r.recno), range(1, 100));
          assert.deepEqual(records.map((r) => r.data), range(1, 100).map((n) => `r${n}`));
          assert.ok(records.every((r) => r.date instanceof Date && r.encoding === "text"));
          // Plain mode: one frame per event. Batch mode: stored records share frames.
          if (batch) assert.ok(counter.frames() < 50, `batch: ${counter.frames()} frames`);
          else assert.ok(counter.frames() >= 100, `plain: ${counter.frames()} frames`);
        }
      } finally {
        await gateway.stop();
      }
    },
  },
  {
    name: "client callback form, appends of text and bytes, count and close",
    fn: async () => {
      const gateway = await startGatewayProcess();
      const client = connect(gateway.url, FAST);
      try {
        assert.equal((await client.append("cb", "one")).recno, 1);
        assert.equal((await client.append("cb", new Uint8Array([0xff, 0xfe, 0]))).recno, 2);
        /** @type {GdpRecord[]} */
        const records = [];
        let done = false;
        const sub = client.subscribe("cb", {
          start: 1,
          count: 3,
          onRecord: (r) => records.push(r),
          onDone: () => done = true,
        });
        await until(() => records.length === 2, "the stored records");
        assert.equal((await client.append("cb", "three")).recno, 3);
        await until(() => done, "DONE after 3 records");
        assert.deepEqual(records.map((r) => r.recno), [1, 2, 3]);
        assert.equal(records[1]?.encoding, "base64");
        assert.equal(records[1]?.data, "//4A");
        assert.equal(sub.lastRecno, 3);
        assert.ok(sub.ended);

        const forever = client.subscribe("cb", { start: 1 });
        const iterator = forever[Symbol.asyncIterator]();
        assert.equal((await iterator.next()).value?.recno, 1);
        forever.close();
        client.close();
        const rest = [];
        for (let r = await iterator.next(); !r.done; r = await iterator.next()) rest.push(r.value);
        assert.ok(rest.length <= 2, "close ends the iterator after what was queued");
      } finally {
        client.close();
        await gateway.stop();
      }
    },
  },
  {
    name: "client says why it cannot connect: nothing answers (it retries), a refusal (it stops)",
    fn: async () => {
      assert.equal(checkUrl("ws://h:1/"), "http://h:1/ws");
      assert.equal(checkUrl("wss://h/gw/?batch=1"), "https://h/gw/ws?batch=1");
      assert.equal(checkUrl("ws://h/ws"), "http://h/ws");
      const port = await freePort();
      /** @type {GdpWsError[]} */
      const unreachable = [];
      const nowhere = connect(`ws://127.0.0.1:${port}/`, {
        ...FAST,
        onError: (e) => unreachable.push(e),
      });
      try {
        await until(() => unreachable.length >= 2, "two failed attempts, each with a reason");
        assert.ok(unreachable.every((e) => e instanceof GdpWsError && e.unreachable));
        assert.match(
          unreachable[0]?.message ?? "",
          /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/: connection refused$/,
        );
        assert.equal(nowhere.state, "reconnecting", "a gateway that is down may come back");
        assert.equal(nowhere.error, unreachable.at(-1));
      } finally {
        nowhere.close();
      }

      const auth = secretAndToken(["--read", "x.*"]);
      const gateway = await startGatewayProcess(["--auth-secret", auth.secretFile]);
      try {
        /** @type {ConnectionState[]} */
        const states = [];
        const refused = connect(gateway.url, { ...FAST, onState: (s) => states.push(s) });
        await assert.rejects(
          async () => {
            for await (const _ of refused.subscribe("x.log")) assert.fail("no records");
          },
          (error) => {
            assert.ok(error instanceof GdpWsError);
            assert.equal(error.code, 401);
            assert.equal(error.message, "ERROR: 401 unauthenticated: a bearer token is required");
            assert.ok(error.refused && !error.unreachable);
            return true;
          },
        );
        assert.deepEqual(states, ["reconnecting", "closed"], "no endless retries");
        await assert.rejects(refused.append("x.log", "1"), { code: 401 });

        /** @type {GdpWsError[]} */
        const again = [];
        const stubborn = connect(gateway.url, {
          ...FAST,
          token: "not-a-jwt",
          retryRefused: true,
          onError: (e) => again.push(e),
        });
        await until(() => again.length >= 2, "a refusal reported on every attempt");
        assert.equal(again[0]?.code, 401);
        assert.match(again[0]?.message ?? "", /malformed/);
        assert.equal(stubborn.state, "reconnecting");
        stubborn.close();
      } finally {
        await gateway.stop();
        auth.remove();
      }
    },
  },
  {
    name: "client with a token: allowed logs work, others fail with 403 and the socket stays",
    fn: async () => {
      const auth = secretAndToken(["--read", "tok.*", "--append", "tok.*"]);
      const gateway = await startGatewayProcess(["--auth-secret", auth.secretFile]);
      const client = connect(gateway.url, { ...FAST, token: auth.token });
      try {
        assert.equal((await client.append("tok.a", "21.5")).recno, 1);
        const records = [];
        for await (const record of client.subscribe("tok.a", { start: 1, count: 1 })) {
          records.push(record.data);
        }
        assert.deepEqual(records, ["21.5"]);
        await assert.rejects(client.append("other.log", "x"), { name: "GdpWsError", code: 403 });
        await assert.rejects(async () => {
          for await (const _ of client.subscribe("other.log", { start: 1 })) assert.fail();
        }, { code: 403 });
        assert.equal(client.state, "live");
      } finally {
        client.close();
        await gateway.stop();
        auth.remove();
      }
    },
  },
];
