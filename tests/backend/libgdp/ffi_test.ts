/**
 * The FFI binding (`src/backend/libgdp/ffi.ts`) against the libgdp test
 * double: layouts, status codes, names, ownership, and the double's hazards
 * (so that a wrong binding fails here instead of hanging in production).
 */

import assert from "node:assert/strict";
import {
  decodeTimespec,
  encodeTimeout,
  type GdpEvent,
  GdpStatusError,
  IoMode,
  isOk,
  Libgdp,
  statParts,
  SYMBOLS,
} from "../../../src/backend/libgdp/ffi.ts";
import { EventType } from "../../../src/core/records.ts";
import { assertNoLeaks, libgdpDouble, uniqueLog } from "../../helpers/libgdp_double.ts";
import { HAZARDS, runHazard } from "../../helpers/libgdp_hazards.ts";
import { sanitizedWithLibgdpLoaded } from "../../helpers/sanitize.ts";

// Sanitizers on; the libgdp loaded before the first test is their one exemption (see sanitize.ts).
await sanitizedWithLibgdpLoaded();
Deno.test.sanitizer({ ops: true, resources: true });

const dbl = await libgdpDouble();
const gdp = Libgdp.open(dbl.path);
await gdp.init();

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NO_ROUTE = 0xa40c0658;
const NOT_FOUND = 0xa40c0594;
const OK_200 = 200; // libgdp answers success with the bare number
const WARN_SHA = 0x840c0431;

/**
 * The next event of subscription `udata` (waiting in short slices), decoded
 * and freed; events of other tests' subscriptions (kept open, as the
 * backend keeps them) are freed and skipped.
 */
async function nextEvent(udata: bigint): Promise<GdpEvent> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const ev = await gdp.waitEvent(50);
    if (ev === 0n) continue;
    const event = gdp.takeEvent(ev);
    if (event.udata === udata) return event;
  }
  throw new Error("no event within 5 s");
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** A log in the double holding `records`. */
function makeLog(...records: string[]): string {
  const name = uniqueLog("ffi");
  dbl.createLog(name);
  for (const record of records) dbl.append(name, record);
  return name;
}

async function openLog(name: string, mode: IoMode = IoMode.RO): Promise<bigint> {
  return await gdp.open((await gdp.parseName(name)).iname, mode);
}

/**
 * Everything this test allocated is back and nothing was misused; handles
 * holding a subscription stay open, as the backend keeps them.
 */
function assertClean(): void {
  assertNoLeaks(dbl);
  assert.equal(gdp.counters.eventsGot, gdp.counters.eventsFreed, "events freed");
  assert.equal(gdp.counters.datumsAllocated, gdp.counters.datumsFreed, "datums freed");
}

Deno.test("the symbol table needs no pointer helpers and blocks the event loop nowhere", async () => {
  for (const file of ["ffi.ts", "backend.ts", "upstream.ts", "pump.ts", "reorder.ts"]) {
    const source = await Deno.readTextFile(
      new URL(`../../../src/backend/libgdp/${file}`, import.meta.url),
    );
    assert.doesNotMatch(source, /Unsafe(Pointer|PointerView|Callback|FnPointer)\b/, file);
  }
  for (const [name, def] of Object.entries(SYMBOLS)) {
    const types: readonly string[] = [...def.parameters, def.result];
    for (const type of types) {
      assert.ok(!["pointer", "function"].includes(type), `${name}: ${type}`);
    }
  }
  const blocking = [
    "gdp_init",
    "gdp_name_parse",
    "gdp_parse_name",
    "gdp_gin_open",
    "gdp_gin_close",
    "gdp_gin_subscribe_by_recno",
    "gdp_gin_read_by_recno",
    "gdp_gin_append",
    "gdp_event_next",
  ] as const;
  for (const name of blocking) assert.equal(SYMBOLS[name].nonblocking, true, name);
  assert.equal(SYMBOLS.gdp_event_poll.name, "gdp_event_next");
  assert.ok(!("nonblocking" in SYMBOLS.gdp_event_poll), "the draining twin is synchronous");
  assert.ok(!("gdp_gin_unsubscribe" in SYMBOLS), "unsubscribe aborts libgdp 2.1.12: not bound");
});

Deno.test("EP_STAT: success is severity < 4; failures decode to [detail, ep_stat_tostr]", () => {
  assert.ok(isOk(0));
  assert.ok(isOk(OK_200), "200 OK is not 0 and still success");
  assert.ok(!isOk(WARN_SHA), "a warning is not success");
  assert.ok(!isOk(NO_ROUTE));
  assert.deepEqual(statParts(NO_ROUTE), { severity: 5, registry: 0x103, module: 1, detail: 600 });
  assert.equal(gdp.unwrap(OK_200), OK_200);
  assert.throws(() => gdp.unwrap(NO_ROUTE), (error: unknown) => {
    assert.ok(error instanceof GdpStatusError);
    assert.equal(error.code, 600);
    assert.equal(error.stat, NO_ROUTE);
    assert.equal(error.message, "ERROR: 600 no route available [Berkeley:Swarm-GDP:600]");
    assert.deepEqual(error.epStat, [600, error.message]);
    return true;
  });
  assert.deepEqual(gdp.decodeStat(NOT_FOUND), [
    404,
    "ERROR: 404 not found [Berkeley:Swarm-GDP:404]",
  ]);
  assert.deepEqual(
    gdp.decodeStat(OK_200),
    [200, "OK [200 = 0xc8]"],
    "as the real library prints it",
  );
  assert.equal(gdp.statText(0), "OK");
  const errno = (5 << 29 | 0x001 << 18 | 0xfe << 10 | 110) >>> 0;
  assert.equal(new GdpStatusError(errno, "x").code, 500, "other registries are 500");
});

Deno.test("EP_TIME_SPEC is packed: int64 tv_sec @0, int32 tv_nsec @8, float tv_accuracy @12", async () => {
  assert.deepEqual(decodeTimespec(encodeTimeout(1_500)), {
    sec: 1,
    nsec: 500_000_000,
    accuracy: 0,
  });
  const name = makeLog();
  const stamps = [
    { sec: 1498143987, nsec: 662371000, accuracy: 0.25 },
    { sec: 2 ** 40 + 7, nsec: 999_999_999, accuracy: 1.5 },
  ];
  for (const ts of stamps) dbl.appendAt(name, "x", ts);
  const gin = await openLog(name);
  assert.deepEqual((await gdp.read(gin, 1)).ts, stamps[0]);
  assert.deepEqual((await gdp.read(gin, 2)).ts, stamps[1]);
  await gdp.close(gin);
  assertClean();
});

Deno.test("names: human names are SHA-256, printed as 43 base64url characters", async () => {
  const human = "edu.berkeley.eecs.swarmlab.demo";
  const { iname, fallback } = await gdp.parseName(human);
  assert.deepEqual(iname, await sha256(human));
  assert.ok(fallback, "no name database here: warning 49, the SHA-256 fallback");
  const pname = gdp.printableName(iname);
  assert.match(pname, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(pname, base64url(iname));
  assert.deepEqual(await gdp.parseName(pname), { iname, fallback: false }, "an internal name");

  const out = new Uint8Array(32);
  const cstr = (s: string) => encoder.encode(`${s}\0`);
  assert.equal(await gdp.symbols.gdp_name_parse(cstr(human), out, null), WARN_SHA);
  assert.equal(await gdp.symbols.gdp_parse_name(cstr(human), out), 0, "gdp_parse_name hides it");
});

Deno.test("open, read, and libgdp's cached record count", async () => {
  const name = makeLog("one", "two", "three");
  const gin = await openLog(name);
  assert.equal(gdp.nrecs(gin), 3);
  const first = await gdp.read(gin, 1);
  assert.equal(first.recno, 1);
  assert.equal(decoder.decode(first.data), "one");
  assert.equal((await gdp.read(gin, -1)).recno, 3, "negative recnos count from the end");
  await assert.rejects(gdp.read(gin, 4), (error: unknown) => {
    assert.ok(error instanceof GdpStatusError);
    assert.equal(error.code, 404);
    return true;
  });
  dbl.append(name, "four");
  assert.equal(gdp.nrecs(gin), 3, "another writer's record is not in the cached count");
  assert.equal((await gdp.read(gin, -1)).recno, 4);
  assert.equal(gdp.nrecs(gin), 4, "a read refreshes it");
  await gdp.close(gin);
  assertClean();
});

Deno.test("a missing log is 600 with ep_stat_tostr's text", async () => {
  await assert.rejects(openLog(uniqueLog("missing")), (error: unknown) => {
    assert.ok(error instanceof GdpStatusError);
    assert.equal(error.code, 600);
    assert.equal(error.message, "ERROR: 600 no route available [Berkeley:Swarm-GDP:600]");
    return true;
  });
  assertClean();
});

Deno.test("subscriptions deliver DATA events that own their datum; each is freed once", async () => {
  const name = makeLog("a", "b", "c");
  const gin = await openLog(name);
  await gdp.subscribe(gin, 1, 42n);
  const events = [await nextEvent(42n), await nextEvent(42n), await nextEvent(42n)];
  for (const [i, event] of events.entries()) {
    assert.equal(event.type, EventType.DATA);
    assert.equal(event.gin, gin);
    assert.ok(isOk(event.stat));
    assert.equal(event.record?.recno, i + 1);
    assert.deepEqual(event.record?.status, gdp.decodeStat(event.stat), "libgdp's own status");
  }
  assert.equal(events[0]?.record?.status, events[1]?.record?.status, "one shared array");
  assert.equal(decoder.decode(events[2]?.record?.data), "c");
  dbl.append(name, "d");
  assert.equal((await nextEvent(42n)).record?.recno, 4, "then live records, endlessly");
  assert.equal(dbl.counters().liveSubs, 1, "the handle keeps its subscription");
  assertClean();
});

Deno.test("waiting times out with 0n; the draining twin never blocks", async () => {
  assert.equal(gdp.pollEvent(), 0n);
  assert.equal(await gdp.waitEvent(20), 0n);
  assertClean();
});

Deno.test("the waiting gdp_event_next runs off the event loop", async () => {
  const name = makeLog();
  const gin = await openLog(name);
  await gdp.subscribe(gin, 0, 1n);
  let timerRan = false;
  const waiting = gdp.waitEvent(5_000);
  // if the wait blocked the event loop, this timer could not run before it timed out
  setTimeout(() => {
    timerRan = true;
    dbl.append(name, "wake up");
  }, 10);
  const ev = await waiting;
  assert.ok(timerRan);
  assert.notEqual(ev, 0n);
  assert.equal(gdp.takeEvent(ev).record?.recno, 1);
  assertClean();
});

Deno.test("append assigns recno and ts; a read-only handle cannot append", async () => {
  const name = makeLog("first");
  const gin = await openLog(name, IoMode.RA);
  const record = await gdp.append(gin, encoder.encode("hello"));
  assert.equal(record.recno, 2);
  assert.ok(record.ts.sec > 1_600_000_000);
  assert.equal(decoder.decode(record.data), "hello");
  const { status: _, ...stored } = await gdp.read(gin, 2);
  assert.deepEqual(stored, { recno: record.recno, ts: record.ts, data: record.data });
  assert.equal(gdp.nrecs(gin), 2);
  await gdp.close(gin);

  const readOnly = await openLog(name);
  await assert.rejects(gdp.append(readOnly, encoder.encode("no")), GdpStatusError);
  await gdp.close(readOnly);
  assertClean();
});

Deno.test("a displaced append still counts at gdplogd: -1 reads 404, a later opener skips numbers", async () => {
  const name = makeLog("first");
  const gin = await openLog(name, IoMode.RA);
  dbl.raceAppend(name, "theirs"); // stored as 2 just before ours reaches gdplogd
  const mine = await gdp.append(gin, encoder.encode("mine"));
  assert.equal(mine.recno, 2, "answered OK under the number taken");
  assert.equal(decoder.decode((await gdp.read(gin, 2)).data), "theirs", "reads find the first");
  await assert.rejects(gdp.read(gin, -1), (error: unknown) => {
    assert.ok(error instanceof GdpStatusError);
    assert.equal(error.code, 404, "gdplogd counts 3 records and holds 2");
    return true;
  });
  await gdp.close(gin);
  const later = await openLog(name, IoMode.RA); // as another process would, later
  assert.equal(gdp.nrecs(later), 3, "an open carries gdplogd's count");
  assert.equal((await gdp.append(later, encoder.encode("later"))).recno, 4);
  await assert.rejects(gdp.read(later, 3), GdpStatusError, "record 3 is a hole");
  assert.equal(decoder.decode((await gdp.read(later, 4)).data), "later");
  await gdp.close(later);
  assertClean();
});

Deno.test("the double counts libgdp's survivable misuses", async () => {
  dbl.reset();
  const s = gdp.symbols;
  const name = makeLog("x");
  const gin = await openLog(name);
  await gdp.subscribe(gin, 1, 42n);

  // raw calls from here: the binding itself never does any of this
  const ev = BigInt(await s.gdp_event_next(0n, encodeTimeout(5_000)));
  assert.notEqual(ev, 0n);
  s.gdp_datum_free(s.gdp_event_getdatum(ev));
  assert.equal(dbl.counters().badFrees, 1, "the event owns its datum");
  assert.ok(isOk(s.gdp_event_free(ev)));
  assert.ok(!isOk(s.gdp_event_free(ev)));
  assert.equal(dbl.counters().badFrees, 2, "an event is freed once");
  gdp.counters.eventsGot++; // taken by hand above
  gdp.counters.eventsFreed++;

  s.gdp_event_poll(gin, new Uint8Array(16));
  assert.equal(dbl.counters().nextWithGin, 1, "gdp_event_next with a gin is counted");

  const twice = await openLog(name);
  assert.equal(dbl.counters().doubleOpens, 1, "a second open of one log is counted");
  await gdp.close(twice);
  dbl.reset();
  assertClean();
});

for (const hazard of HAZARDS) {
  Deno.test(`the double dies as libgdp 2.1.12 does: ${hazard.name}`, async () => {
    const { code, signal, stderr } = await runHazard(dbl.path, hazard.script);
    assert.equal(signal, "SIGABRT", `exit ${code}: ${stderr}`);
    assert.match(stderr, hazard.message);
  });
}

Deno.test("link loss: calls fail 600, subscriptions end with FAILURE, opens fail", async () => {
  dbl.reset();
  const name = makeLog("x");
  const other = makeLog("y");
  const gin = await openLog(name);
  await gdp.subscribe(gin, 2, 9n);
  dbl.breakLink(60_000);
  try {
    const failure = await nextEvent(9n);
    assert.equal(failure.type, EventType.FAILURE);
    assert.equal(failure.udata, 9n);
    assert.equal(failure.stat, NO_ROUTE);
    await assert.rejects(
      gdp.read(gin, 1),
      (e: unknown) => e instanceof GdpStatusError && e.code === 600,
    );
    await assert.rejects(
      openLog(other),
      (e: unknown) => e instanceof GdpStatusError && e.code === 600,
    );
    assert.equal(dbl.counters().liveSubs, 0, "the subscription is gone");
  } finally {
    dbl.restoreLink();
  }
  assert.equal(decoder.decode((await gdp.read(gin, 1)).data), "x");
  await gdp.close(gin);
  dbl.reset();
  assertClean();
});

Deno.test("reordering: the first record after a subscribe arrives after later ones", async () => {
  dbl.reset();
  dbl.setReorder(100);
  try {
    const name = makeLog("1", "2", "3");
    const gin = await openLog(name);
    await gdp.subscribe(gin, 1, 77n);
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await nextEvent(77n)).record?.recno);
    assert.deepEqual(order, [2, 3, 1]);
  } finally {
    dbl.reset();
  }
  assertClean();
});

Deno.test("the backend runs with nothing but a path-scoped --allow-ffi", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-scoped-" });
  try {
    const script = `${dir}/scoped.ts`;
    const backendUrl = new URL("../../../src/backend/libgdp/backend.ts", import.meta.url);
    await Deno.writeTextFile(script, scopedScript(backendUrl.href));
    const config = new URL("../../../deno.json", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--config=${config}`,
        `--allow-ffi=${dbl.path}`,
        script,
        dbl.path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, decoder.decode(stderr));
    assert.equal(decoder.decode(stdout).trim(), "[1,2,3] [1,2,3]");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Follows and reads a log through the backend, printing the recnos. */
function scopedScript(backendUrl: string): string {
  return `
import { openLibgdpBackend } from "${backendUrl}";
const path = Deno.args[0];
const dbl = Deno.dlopen(path, {
  gdpdbl_create_log: { parameters: ["buffer"], result: "i32" },
  gdpdbl_append: { parameters: ["buffer", "buffer", "usize"], result: "i64" },
}).symbols;
const c = (s) => new TextEncoder().encode(s + "\\0");
const append = (s) => dbl.gdpdbl_append(c("scoped.log"), new TextEncoder().encode(s), BigInt(s.length));
dbl.gdpdbl_create_log(c("scoped.log"));
append("one");
append("two");
const backend = await openLibgdpBackend({ path, retryInitialMs: 10 });
const log = await backend.open("scoped.log");
const followed = [];
await new Promise((resolve) => {
  const stop = log.follow(1, (r) => {
    followed.push(r.recno);
    if (followed.length === 3) { stop(); resolve(); }
  }, (e) => console.error(e));
  append("three");
});
const read = [];
for await (const r of log.read(1, 10)) read.push(r.recno);
await log.close();
await backend.close();
console.log(JSON.stringify(followed), JSON.stringify(read));
`;
}
