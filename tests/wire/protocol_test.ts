/**
 * The wire protocol (src/wire/requests.ts, src/wire/events.ts) on its own: request parsing and response encoding, without a
 * gateway. The protocol suite checks the same rules end to end over sockets;
 * these pin the exact values and bytes.
 */

import assert from "node:assert/strict";
import type { LogRecord } from "../../src/backend/backend.ts";
import { GdpError } from "../../src/core/errors.ts";
import {
  type ClientRequest,
  isFailure,
  type ParseFailure,
  parseFrame,
  parseTime,
} from "../../src/wire/requests.ts";
import { EventType } from "../../src/core/records.ts";
import {
  COMPACT_STYLE,
  encodeDatum,
  encodeError,
  encodeRecord,
  encodeStatus,
  PYTHON_STYLE,
  replyKey,
} from "../../src/wire/events.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const LIMITS = { maxLognameLength: 16, maxRecordBytes: 8 };
const encoder = new TextEncoder();

function parsed(frame: string | ArrayBuffer): ClientRequest {
  const result = parseFrame(frame, LIMITS);
  if (isFailure(result)) assert.fail(`expected a request, got ${result.error.message}`);
  return result;
}

function failed(frame: string | ArrayBuffer): ParseFailure {
  const result = parseFrame(frame, LIMITS);
  if (!isFailure(result)) assert.fail(`expected a failure, got ${JSON.stringify(result)}`);
  return result;
}

Deno.test("parseFrame: a bare logname is a subscribe with the original's defaults", () => {
  assert.deepEqual(parsed('{"logname": "demo"}'), {
    op: "subscribe",
    logname: "demo",
    startrec: 0,
    numrec: 1,
    encoding: "text",
  });
  assert.deepEqual(
    parsed('{"logname": "demo", "startrec": null, "numrec": null, "encoding": null}'),
    parsed('{"logname": "demo"}'),
    "null means the default",
  );
});

Deno.test("parseFrame: every subscribe field, in a text or a binary frame", () => {
  const text = '{"op": "subscribe", "logname": "demo", "startrec": -5, "numrec": 0, ' +
    '"id": "a", "encoding": "base64", "unknown": true}';
  const expected = {
    op: "subscribe",
    logname: "demo",
    startrec: -5,
    numrec: 0,
    id: "a",
    encoding: "base64",
  };
  assert.deepEqual(parsed(text), expected);
  assert.deepEqual(parsed(encoder.encode(text).buffer), expected);
});

Deno.test("parseFrame: the request kind follows op, else the key present", () => {
  assert.deepEqual(parsed('{"unsubscribe": 7}'), { op: "unsubscribe", id: 7 });
  assert.deepEqual(parsed('{"op": "unsubscribe", "unsubscribe": "a"}'), {
    op: "unsubscribe",
    id: "a",
  });
  const append = parsed('{"append": "demo", "data": "hi", "id": 3}');
  assert.deepEqual(append, { op: "append", logname: "demo", data: encoder.encode("hi"), id: 3 });
});

Deno.test("parseFrame: append data is UTF-8 text, or base64 when asked", () => {
  const text = parsed('{"append": "demo", "data": "héllo"}');
  assert.ok(text.op === "append");
  assert.deepEqual(text.data, encoder.encode("héllo"));
  const binary = parsed('{"append": "demo", "data": "AAEC/w==", "encoding": "base64"}');
  assert.ok(binary.op === "append");
  assert.deepEqual(binary.data, new Uint8Array([0, 1, 2, 255]));
});

Deno.test("parseFrame: limits give 400 for a long logname and 413 for a big record", () => {
  const long = failed(`{"logname": "${"x".repeat(17)}"}`);
  assert.equal(long.error.code, 400);
  assert.match(long.error.message, /logname is longer than 16 characters/);
  assert.ok(!isFailure(parseFrame(`{"logname": "${"x".repeat(16)}"}`, LIMITS)), "16 is allowed");

  const big = failed('{"append": "demo", "data": "123456789"}');
  assert.equal(big.error.code, 413);
  assert.match(big.error.message, /data is 9 bytes; the limit is 8/);
  assert.ok(!isFailure(parseFrame('{"append": "demo", "data": "12345678"}', LIMITS)));
});

Deno.test("parseFrame: a failure keeps the logname and id it could read, to echo them", () => {
  const bad = failed('{"logname": "demo", "id": 9, "numrec": -1}');
  assert.equal(bad.logname, "demo");
  assert.equal(bad.id, 9);
  assert.match(bad.error.message, /^ERROR: 400 bad request: numrec must be from 0 to 2147483647$/);
  const append = failed('{"append": "demo", "data": 5}');
  assert.equal(append.logname, "demo", "the append key names the log too");
  const noJson = failed("{nope");
  assert.equal(noJson.logname, undefined);
  assert.match(noJson.error.message, /frame is not JSON/);
});

Deno.test("parseFrame: integers are checked for type and range", () => {
  const cases: [string, RegExp][] = [
    ['{"logname": "x", "startrec": 1.5}', /startrec must be an integer/],
    ['{"logname": "x", "startrec": "1"}', /startrec must be an integer/],
    ['{"logname": "x", "numrec": 2147483648}', /numrec must be from 0 to 2147483647/],
    ['{"logname": "x", "startrec": -9007199254740992}', /startrec must be from/],
  ];
  for (const [frame, message] of cases) assert.match(failed(frame).error.message, message, frame);
  const edge = parsed(
    '{"logname": "x", "startrec": -9007199254740991, "numrec": 2147483647}',
  );
  assert.ok(edge.op === "subscribe");
  assert.equal(edge.startrec, -Number.MAX_SAFE_INTEGER);
  assert.equal(edge.numrec, 2 ** 31 - 1);
});

const RECORD: LogRecord = {
  recno: 7,
  ts: { sec: 1_700_000_000, nsec: 5, accuracy: 0 },
  data: encoder.encode("hi"),
};

Deno.test("encodeRecord: the original's bytes, with Python's separators", () => {
  assert.equal(
    encodeRecord(RECORD, { logname: "demo" }, PYTHON_STYLE),
    '{"logname": "demo", "ep_stat": [200, "OK"], "datum": {"recno": 7, "data": "hi", ' +
      '"ts": {"tv_sec": 1700000000, "tv_nsec": 5, "tv_accuracy": 0.0}}, "type": 1}',
  );
});

Deno.test("encodeRecord: batch mode's compact separators, and the id after the logname", () => {
  assert.equal(
    encodeRecord(RECORD, { logname: "demo", id: 'a"b' }, COMPACT_STYLE),
    '{"logname":"demo","id":"a\\"b","ep_stat":[200,"OK"],"datum":{"recno":7,"data":"hi",' +
      '"ts":{"tv_sec":1700000000,"tv_nsec":5,"tv_accuracy":0.0}},"type":1}',
  );
});

Deno.test("encodeRecord: non-UTF-8 data, or encoding base64, is sent as base64 and says so", () => {
  const bytes: LogRecord = { ...RECORD, data: new Uint8Array([0xff, 0x00, 0x41]) };
  const binary = JSON.parse(encodeRecord(bytes, { logname: "demo" }, PYTHON_STYLE));
  assert.deepEqual(binary.datum.data, "/wBB");
  assert.equal(binary.datum.encoding, "base64");

  const asked = JSON.parse(encodeRecord(RECORD, { encoding: "base64" }, PYTHON_STYLE));
  assert.equal(asked.datum.data, "aGk=");
  assert.equal(asked.datum.encoding, "base64");
  assert.equal(asked.logname, undefined, "nothing echoed that was not given");

  const text = JSON.parse(encodeRecord(RECORD, {}, PYTHON_STYLE));
  assert.equal(text.datum.encoding, undefined, "text is the default and is not labelled");
});

Deno.test("encodeDatum: a DATA event's datum on its own, byte for byte, base64 labelled", () => {
  for (const style of [PYTHON_STYLE, COMPACT_STYLE]) {
    for (const record of [RECORD, { ...RECORD, data: new Uint8Array([0xff]) }]) {
      for (const encoding of ["text", "base64"] as const) {
        const event = encodeRecord(record, { encoding }, style);
        const datum = encodeDatum(record, encoding, style);
        assert.ok(event.includes(`"datum"${style.key}${datum}${style.item}"type"`), datum);
      }
    }
  }
  assert.equal(
    encodeDatum(RECORD, "text", COMPACT_STYLE),
    '{"recno":7,"data":"hi","ts":{"tv_sec":1700000000,"tv_nsec":5,"tv_accuracy":0.0}}',
  );
});

Deno.test("parseTime: RFC 3339 or {tv_sec, tv_nsec}; anything else is a 400 naming the field", () => {
  const at = { sec: 1_796_622_594, nsec: 500_000_000, accuracy: 0 };
  assert.deepEqual(parseTime("2026-12-07T05:49:54.5Z", "since"), at);
  assert.deepEqual(parseTime({ tv_sec: at.sec, tv_nsec: at.nsec, tv_accuracy: 0.5 }, "t"), at);
  assert.deepEqual(parseTime({ tv_sec: 5 }, "t"), { sec: 5, nsec: 0, accuracy: 0 });
  const bad: [unknown, RegExp][] = [
    [1e400, /^ERROR: 400 bad request: since must be an RFC 3339 time \("2026/],
    [1796622594, /since must be an RFC 3339 time/],
    [null, /since must be an RFC 3339 time/],
    [["2026-12-07T05:49:54Z"], /since must be an RFC 3339 time/],
    ["yesterday", /since must be an RFC 3339 time such as 2026-12-07T05:49:54.5Z$/],
    [{ tv_sec: "1" }, /since.tv_sec must be an integer$/],
    [{ tv_sec: 1.5 }, /since.tv_sec must be an integer$/],
    [{ tv_sec: 253_402_300_800 }, /since.tv_sec must be from -62167219200 to 253402300799$/],
    [{ tv_sec: 1, tv_nsec: -1 }, /since.tv_nsec must be from 0 to 999999999$/],
    [{ tv_sec: 1, tv_nsec: 1e9 }, /since.tv_nsec must be from 0 to 999999999$/],
    [{ tv_nsec: 1 }, /since.tv_sec is required$/],
  ];
  for (const [value, message] of bad) {
    assert.throws(() => parseTime(value, "since"), (e: GdpError) => {
      assert.equal(e.code, 400);
      assert.match(e.message, message);
      return true;
    }, JSON.stringify(value));
  }
});

Deno.test("startts: a time instead of startrec, not both; startrec 0 then", () => {
  const parsed = parseFrame(
    '{"logname": "x", "startts": "2026-12-07T05:49:54Z", "numrec": 0}',
    LIMITS,
  );
  assert.ok(!isFailure(parsed) && parsed.op === "subscribe");
  assert.deepEqual(parsed.startts, { sec: 1_796_622_594, nsec: 0, accuracy: 0 });
  assert.equal(parsed.startrec, 0);
  const nulls = parseFrame('{"logname": "x", "startts": null, "startrec": null}', LIMITS);
  assert.ok(!isFailure(nulls) && nulls.op === "subscribe" && nulls.startts === undefined);
  const both = parseFrame(
    '{"logname": "x", "startts": "2026-12-07T05:49:54Z", "startrec": 0}',
    LIMITS,
  );
  assert.ok(isFailure(both));
  assert.match(both.error.message, /startts and startrec exclude each other: give one/);
  assert.equal(both.logname, "x", "the failure echoes the logname");
});

Deno.test("encodeRecord: a slice of a larger buffer encodes only its own bytes", () => {
  const backing = new Uint8Array([0xff, 0xfe, 0x01, 0x02, 0xff]);
  const slice: LogRecord = { ...RECORD, data: backing.subarray(1, 4) };
  const event = JSON.parse(encodeRecord(slice, {}, COMPACT_STYLE));
  assert.equal(event.datum.data, "/gEC");
});

Deno.test("encodeRecord: text that needs JSON escaping round-trips", () => {
  const data = 'quote " backslash \\ newline \n tab \t ✓';
  const record: LogRecord = { ...RECORD, data: encoder.encode(data) };
  assert.equal(JSON.parse(encodeRecord(record, {}, PYTHON_STYLE)).datum.data, data);
});

Deno.test("encodeRecord: a fractional tv_accuracy is sent as it is", () => {
  const record: LogRecord = { ...RECORD, ts: { sec: 1, nsec: 2, accuracy: 0.25 } };
  assert.match(encodeRecord(record, {}, PYTHON_STYLE), /"tv_accuracy": 0\.25\}/);
});

Deno.test("encodeStatus and encodeError: DONE and FAILURE events", () => {
  assert.equal(
    encodeStatus(EventType.DONE, [200, "OK"], { logname: "demo", id: 1 }, PYTHON_STYLE),
    '{"logname": "demo", "id": 1, "ep_stat": [200, "OK"], "type": 2}',
  );
  assert.equal(
    encodeError(GdpError.noRoute(), { logname: "x" }, COMPACT_STYLE),
    '{"logname":"x","ep_stat":[600,"ERROR: 600 no route available [Berkeley:Swarm-GDP:600]"],' +
      '"type":6}',
  );
});

Deno.test("replyKey: equal exactly when the encoded event would be equal", () => {
  const base = { logname: "demo", id: 1 };
  const key = replyKey(base, PYTHON_STYLE);
  assert.equal(replyKey({ id: 1, logname: "demo" }, PYTHON_STYLE), key);
  assert.equal(replyKey({ ...base, encoding: "text" }, PYTHON_STYLE), key, "text is the default");
  const others = [
    replyKey(base, COMPACT_STYLE),
    replyKey({ ...base, encoding: "base64" }, PYTHON_STYLE),
    replyKey({ ...base, id: "1" }, PYTHON_STYLE),
    replyKey({ logname: "demo" }, PYTHON_STYLE),
    replyKey({ ...base, logname: "Demo" }, PYTHON_STYLE),
  ];
  for (const other of others) assert.notEqual(other, key);
  assert.equal(new Set(others).size, others.length);
});
