/**
 * The libgdp 2.1.12 symbol table (docs/libgdp.md) and thin typed wrappers over it.
 *
 * Every opaque handle is a `"usize"` (a bigint address) and every
 * out-parameter a buffer this module owns: Deno refuses its pointer helpers
 * under a path-scoped `--allow-ffi=/path/libgdp.so.2.1`, and this file needs
 * none of them. Every call that may wait on the network is
 * `nonblocking: true`, so the event loop never stalls.
 *
 * @example
 * ```ts
 * const gdp = Libgdp.open("/usr/lib/libgdp.so.2.1");
 * await gdp.init();
 * const gin = await gdp.open((await gdp.parseName("edu.berkeley.demo")).iname, IoMode.RO);
 * const record = await gdp.read(gin, -1);
 * await gdp.close(gin);
 * ```
 *
 * @module
 */

import type { LogRecord, RecordStatus, Timestamp } from "../backend.ts";
import { EventType } from "../../core/records.ts";
import { GdpError } from "../../core/errors.ts";
import { CallGate } from "./gate.ts";

/** The libgdp functions the gateway calls, as Deno FFI declarations. */
export const SYMBOLS = {
  // ---- library ------------------------------------------------------------
  /** EP_STAT gdp_init(const char *router): connects; starts the I/O thread. */
  gdp_init: {
    parameters: [
      "buffer", // const char *gdpd_addr (NULL: from the parameter files)
    ],
    result: "u32",
    nonblocking: true,
  },
  /** char *ep_stat_tostr(EP_STAT, char *buf, size_t len). */
  ep_stat_tostr: {
    parameters: [
      "u32", // EP_STAT estat (a one-word struct, passed in a register)
      "buffer", // char *buf
      "usize", // size_t bsize
    ],
    result: "usize", // char * (= buf)
  },

  // ---- names (may query the name database) -------------------------------
  /** EP_STAT gdp_name_parse(const char *, gdp_name_t, const char **): warning 49 on fallback. */
  gdp_name_parse: {
    parameters: [
      "buffer", // const char *hname
      "buffer", // gdp_name_t gname (out, 32 bytes)
      "buffer", // const char **xnamep (NULL, else the caller must free it)
    ],
    result: "u32",
    nonblocking: true,
  },
  /** EP_STAT gdp_parse_name(const char *, gdp_name_t): hides warning 49. */
  gdp_parse_name: {
    parameters: [
      "buffer", // const char *hname
      "buffer", // gdp_name_t gname (out, 32 bytes)
    ],
    result: "u32",
    nonblocking: true,
  },
  /** char *gdp_printable_name(const gdp_name_t, gdp_pname_t). */
  gdp_printable_name: {
    parameters: [
      "buffer", // const gdp_name_t internal (32 bytes)
      "buffer", // gdp_pname_t external (out, 44 bytes)
    ],
    result: "usize", // char * (= external)
  },

  // ---- logs (gdp_gin_*) --------------------------------------------------
  /** EP_STAT gdp_gin_open(gdp_name_t, gdp_iomode_t, gdp_open_info_t *, gdp_gin_t **). */
  gdp_gin_open: {
    parameters: [
      "buffer", // gdp_name_t name (32 bytes)
      "i32", // gdp_iomode_t rw
      "usize", // gdp_open_info_t *info (NULL)
      "buffer", // gdp_gin_t **pgin (out, one pointer)
    ],
    result: "u32",
    nonblocking: true,
  },
  /** EP_STAT gdp_gin_close(gdp_gin_t *). */
  gdp_gin_close: {
    parameters: [
      "usize", // gdp_gin_t *gin
    ],
    result: "u32",
    nonblocking: true,
  },
  /** EP_STAT gdp_gin_subscribe_by_recno(gin, start, nrecs, qos, cbfunc, udata). */
  gdp_gin_subscribe_by_recno: {
    parameters: [
      "usize", // gdp_gin_t *gin
      "i64", // gdp_recno_t start
      "i32", // int32_t nrecs (0 = forever)
      "usize", // gdp_sub_qos_t *qos (NULL)
      "usize", // gdp_event_cbfunc_t cbfunc (NULL: events go to gdp_event_next)
      "usize", // void *udata
    ],
    result: "u32",
    nonblocking: true,
  },
  /** EP_STAT gdp_gin_read_by_recno(gdp_gin_t *, gdp_recno_t, gdp_datum_t *). */
  gdp_gin_read_by_recno: {
    parameters: [
      "usize", // gdp_gin_t *gin
      "i64", // gdp_recno_t recno (negative: from the end)
      "usize", // gdp_datum_t *datum (filled in)
    ],
    result: "u32",
    nonblocking: true,
  },
  /** gdp_recno_t gdp_gin_getnrecs(const gdp_gin_t *): a cached count, no I/O. */
  gdp_gin_getnrecs: {
    parameters: [
      "usize", // const gdp_gin_t *gin
    ],
    result: "i64",
  },
  /** EP_STAT gdp_gin_append(gdp_gin_t *, gdp_datum_t *, gdp_hash_t *prevhash). */
  gdp_gin_append: {
    parameters: [
      "usize", // gdp_gin_t *gin
      "usize", // gdp_datum_t *datum (recno and ts filled in)
      "usize", // gdp_hash_t *prevhash (NULL)
    ],
    result: "u32",
    nonblocking: true,
  },
  /** gdp_gin_t *gdp_event_getgin(gdp_event_t *). */
  gdp_event_getgin: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "usize",
  },

  // ---- events --------------------------------------------------------------
  /** gdp_event_t *gdp_event_next(gdp_gin_t *, EP_TIME_SPEC *timeout): waits. */
  gdp_event_next: {
    parameters: [
      "usize", // gdp_gin_t *gin (always NULL: a specific one busy-spins)
      "buffer", // EP_TIME_SPEC *timeout (relative; NULL waits forever)
    ],
    result: "usize", // gdp_event_t * (NULL on timeout; caller must free)
    nonblocking: true,
  },
  /** The same function, called synchronously with a zero timeout to drain. */
  gdp_event_poll: {
    name: "gdp_event_next",
    parameters: [
      "usize", // gdp_gin_t *gin (NULL)
      "buffer", // EP_TIME_SPEC *timeout ({0, 0}: never blocks)
    ],
    result: "usize", // gdp_event_t * (NULL when the queue is empty)
  },
  /** int gdp_event_gettype(gdp_event_t *). */
  gdp_event_gettype: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "i32",
  },
  /** EP_STAT gdp_event_getstat(gdp_event_t *). */
  gdp_event_getstat: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "u32",
  },
  /** gdp_datum_t *gdp_event_getdatum(gdp_event_t *): owned by the event. */
  gdp_event_getdatum: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "usize",
  },
  /** void *gdp_event_getudata(gdp_event_t *). */
  gdp_event_getudata: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "usize",
  },
  /** EP_STAT gdp_event_free(gdp_event_t *): exactly once; frees the datum too. */
  gdp_event_free: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "u32",
  },

  // ---- datums and buffers ----------------------------------------------------
  /** gdp_datum_t *gdp_datum_new(void). */
  gdp_datum_new: { parameters: [], result: "usize" },
  /** void gdp_datum_free(gdp_datum_t *). */
  gdp_datum_free: {
    parameters: [
      "usize", // gdp_datum_t *datum (one from gdp_datum_new only)
    ],
    result: "void",
  },
  /** gdp_recno_t gdp_datum_getrecno(const gdp_datum_t *). */
  gdp_datum_getrecno: {
    parameters: [
      "usize", // const gdp_datum_t *datum
    ],
    result: "i64",
  },
  /** void gdp_datum_getts(const gdp_datum_t *, EP_TIME_SPEC *ts). */
  gdp_datum_getts: {
    parameters: [
      "usize", // const gdp_datum_t *datum
      "buffer", // EP_TIME_SPEC *ts (out, 16 bytes, packed)
    ],
    result: "void",
  },
  /** gdp_buf_t *gdp_datum_getbuf(const gdp_datum_t *). */
  gdp_datum_getbuf: {
    parameters: [
      "usize", // const gdp_datum_t *datum
    ],
    result: "usize",
  },
  /** size_t gdp_buf_getlength(const gdp_buf_t *). */
  gdp_buf_getlength: {
    parameters: [
      "usize", // const gdp_buf_t *buf
    ],
    result: "usize",
  },
  /** size_t gdp_buf_peek(gdp_buf_t *, void *out, size_t n): copies, keeps the data. */
  gdp_buf_peek: {
    parameters: [
      "usize", // gdp_buf_t *buf
      "buffer", // void *out
      "usize", // size_t n
    ],
    result: "usize",
  },
  /** size_t gdp_buf_read(gdp_buf_t *, void *out, size_t n): copies and drains. */
  gdp_buf_read: {
    parameters: [
      "usize", // gdp_buf_t *buf
      "buffer", // void *out
      "usize", // size_t n
    ],
    result: "usize",
  },
  /** int gdp_buf_write(gdp_buf_t *, const void *in, size_t n): 0 = ok. */
  gdp_buf_write: {
    parameters: [
      "usize", // gdp_buf_t *buf
      "buffer", // const void *in
      "usize", // size_t n
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded symbols. */
export type LibgdpSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `gdp_iomode_t`. */
export const IoMode = { RO: 1, AO: 2, RA: 3 } as const;

/** A `gdp_iomode_t` value. */
export type IoMode = (typeof IoMode)[keyof typeof IoMode];

/** Registry and module of GDP's own status codes. */
const GDP_REGISTRY = 0x103;
const GDP_MODULE = 1;

/** True when an EP_STAT means success: severity 0-3 (never `stat === 0`). */
export function isOk(stat: number): boolean {
  return (stat >>> 29) < 4;
}

/** The parts of an EP_STAT: `severity<<29 | registry<<18 | module<<10 | detail`. */
export function statParts(
  stat: number,
): { severity: number; registry: number; module: number; detail: number } {
  return {
    severity: stat >>> 29,
    registry: (stat >>> 18) & 0x7ff,
    module: (stat >>> 10) & 0xff,
    detail: stat & 0x3ff,
  };
}

/** True for GDP's own codes (registry 0x103, module 1). */
export function isGdpStat(stat: number): boolean {
  const { registry, module } = statParts(stat);
  return registry === GDP_REGISTRY && module === GDP_MODULE;
}

/**
 * A failed libgdp call. `code` is GDP's detail code (404, 600, ...) for
 * GDP's own statuses and 500 for others; `stat` keeps the raw EP_STAT.
 */
export class GdpStatusError extends GdpError {
  /** The raw EP_STAT word. */
  readonly stat: number;

  /** An error for a failed EP_STAT, with its `ep_stat_tostr` text. */
  constructor(stat: number, text: string, options?: ErrorOptions) {
    super(isGdpStat(stat) ? stat & 0x3ff : 500, text, options);
    this.name = "GdpStatusError";
    this.stat = stat >>> 0;
  }
}

/** Calls made and handles allocated through one {@linkcode Libgdp}. */
export interface FfiCounters {
  /** Events returned by `gdp_event_next`. */
  eventsGot: number;
  /** Events given to `gdp_event_free` (must end equal to `eventsGot`). */
  eventsFreed: number;
  /** Datums from `gdp_datum_new`. */
  datumsAllocated: number;
  /** Datums given to `gdp_datum_free` (must end equal to `datumsAllocated`). */
  datumsFreed: number;
  /** Successful opens. */
  opens: number;
  /** Closes (a handle is freed even when its close reports failure). */
  closes: number;
  /** Successful subscribes. */
  subscribes: number;
  /** Read calls. */
  reads: number;
  /** Append calls. */
  appends: number;
}

/** A fresh set of zeroed {@linkcode FfiCounters}. */
export function ffiCounters(): FfiCounters {
  return {
    eventsGot: 0,
    eventsFreed: 0,
    datumsAllocated: 0,
    datumsFreed: 0,
    opens: 0,
    closes: 0,
    subscribes: 0,
    reads: 0,
    appends: 0,
  };
}

/** An event taken off libgdp's queue, decoded and already freed. */
export interface GdpEvent {
  /** `gdp_event_gettype`: one of {@linkcode EventType}, or another number to ignore. */
  type: number;
  /** `gdp_event_getstat`: the raw EP_STAT. */
  stat: number;
  /** The handle the event is for. */
  gin: bigint;
  /** The udata given at subscribe. */
  udata: bigint;
  /** The datum of a DATA event, copied into memory this process owns. */
  record?: LogRecord;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ZERO_TIMEOUT = new Uint8Array(16);
const libraries = new Map<string, { lib: Deno.DynamicLibrary<typeof SYMBOLS>; gates: Gates }>();

/** Blocking calls in flight at once per library (each holds a thread of Deno's pool). */
const CALLS_AT_ONCE = 64;

/** The gates every call of one loaded library passes (see `gate.ts`). */
interface Gates {
  /** Every blocking call but the event pump's wait. */
  readonly calls: CallGate;
  /** `gdp_gin_open`: libgdp runs one at a time anyway, holding a process-wide lock. */
  readonly opens: CallGate;
}

function newGates(): Gates {
  return { calls: new CallGate(CALLS_AT_ONCE), opens: new CallGate(1) };
}

/** A NUL-terminated copy of `s`. */
function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The text before the first NUL. */
function fromCString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return decoder.decode(end < 0 ? buf : buf.subarray(0, end));
}

/** An EP_TIME_SPEC (packed: int64 @0, int32 @8, float @12) as a Timestamp. */
export function decodeTimespec(buf: Uint8Array): Timestamp {
  const view = new DataView(buf.buffer, buf.byteOffset, 16);
  return {
    sec: Number(view.getBigInt64(0, true)),
    nsec: view.getInt32(8, true),
    accuracy: view.getFloat32(12, true),
  };
}

/** A relative EP_TIME_SPEC of `ms` milliseconds. */
export function encodeTimeout(ms: number): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(16);
  const view = new DataView(buf.buffer);
  const whole = Math.max(0, Math.floor(ms));
  view.setBigInt64(0, BigInt(Math.floor(whole / 1000)), true);
  view.setInt32(8, (whole % 1000) * 1_000_000, true);
  return buf;
}

/**
 * EP_STAT 200, "OK [200 = 0xc8]": the bare number libgdp gives subscription
 * DATA events and appends. Records read (205, "OK [205 = 0xcd]") are
 * reported with it too, so that a client sees one status for every record,
 * as from the original gateway.
 */
const GDP_OK = 200;

/** The detail of GDP's warning 49: a human name unknown to the name database, taken as SHA-256. */
const NAME_FALLBACK = 49;

/** Distinct EP_STATs whose `[detail, text]` is kept (records share a handful). */
const STAT_CACHE_MAX = 256;

/**
 * The binding: thin typed wrappers over {@linkcode SYMBOLS} that turn failed
 * EP_STATs into {@linkcode GdpStatusError}s, copy datums out, and free every
 * event and datum they allocate exactly once.
 *
 * There is deliberately no unsubscribe, and `subscribe` always asks for an
 * endless subscription: in libgdp 2.1.12 `gdp_gin_unsubscribe` walks freed
 * requests and a subscription that ends by its count trips an assertion and
 * lives on, both of which abort long-running processes (docs/libgdp.md).
 * Which call may run when is decided by `upstream.ts`.
 */
export class Libgdp {
  /** The raw symbols. */
  readonly symbols: LibgdpSymbols;
  /** Calls and allocations made through this instance. */
  readonly counters: FfiCounters;
  readonly #stats = new Map<number, RecordStatus>();
  readonly #gates: Gates;

  /** Wraps loaded symbols. */
  constructor(symbols: LibgdpSymbols, counters: FfiCounters = ffiCounters(), gates = newGates()) {
    this.symbols = symbols;
    this.counters = counters;
    this.#gates = gates;
  }

  /**
   * Loads libgdp from `path` (once per path and process: libgdp's state and
   * I/O thread are process-wide, and unloading it under that thread would
   * crash, so the library is never closed).
   */
  static open(path: string, counters?: FfiCounters): Libgdp {
    let loaded = libraries.get(path);
    if (!loaded) {
      try {
        loaded = { lib: Deno.dlopen(path, SYMBOLS), gates: newGates() };
      } catch (error) {
        throw GdpError.of(500, `cannot load libgdp from ${path}`, { cause: error });
      }
      libraries.set(path, loaded);
    }
    return new Libgdp(loaded.lib.symbols, counters, loaded.gates);
  }

  /** Blocking calls running and waiting for a turn, for metrics. */
  get callsInFlight(): { running: number; queued: number } {
    const { calls, opens } = this.#gates;
    return { running: calls.running, queued: calls.queued + opens.queued };
  }

  /** Runs a blocking call through the gate. */
  #call<T>(call: () => Promise<T>): Promise<T> {
    return this.#gates.calls.run(call);
  }

  /** `ep_stat_tostr` text of an EP_STAT. */
  statText(stat: number): string {
    const buf = new Uint8Array(200);
    this.symbols.ep_stat_tostr(stat >>> 0, buf, BigInt(buf.length));
    return fromCString(buf);
  }

  /** `[detail, text]`, as the gateway sends `ep_stat` (one shared array per status). */
  decodeStat(stat: number): RecordStatus {
    let decoded = this.#stats.get(stat);
    if (decoded === undefined) {
      decoded = Object.freeze([stat & 0x3ff, this.statText(stat)] as const);
      if (this.#stats.size >= STAT_CACHE_MAX) this.#stats.clear();
      this.#stats.set(stat, decoded);
    }
    return decoded;
  }

  /** Returns `stat` when it means success, else throws a {@linkcode GdpStatusError}. */
  unwrap(stat: number): number {
    if (isOk(stat)) return stat;
    throw new GdpStatusError(stat, this.statText(stat));
  }

  /** `gdp_init(router)`: call once, first. */
  async init(router?: string): Promise<void> {
    this.unwrap(await this.symbols.gdp_init(router === undefined ? null : cString(router)));
  }

  /**
   * The 32-byte internal name of a human or 43-character name; `fallback`
   * when the name database did not know the name and libgdp took its
   * SHA-256 (warning 49).
   */
  async parseName(name: string): Promise<{ iname: Uint8Array<ArrayBuffer>; fallback: boolean }> {
    const iname = new Uint8Array(32);
    const stat = await this.#call(() => this.symbols.gdp_name_parse(cString(name), iname, null));
    const fallback = (stat >>> 29) === 4 && (stat & 0x3ff) === NAME_FALLBACK;
    if (!fallback) this.unwrap(stat);
    return { iname, fallback };
  }

  /** The 43-character base64url spelling of an internal name. */
  printableName(name: Uint8Array<ArrayBuffer>): string {
    const out = new Uint8Array(44);
    this.symbols.gdp_printable_name(name, out);
    return fromCString(out);
  }

  /** Opens a log; resolves to its handle. */
  async open(name: Uint8Array<ArrayBuffer>, mode: IoMode): Promise<bigint> {
    const out = new BigUint64Array(1);
    const open = () => this.#call(() => this.symbols.gdp_gin_open(name, mode, 0n, out));
    this.unwrap(await this.#gates.opens.run(open));
    this.counters.opens++;
    const gin = out[0] ?? 0n;
    if (gin === 0n) throw GdpError.of(500, "libgdp returned a NULL handle");
    return gin;
  }

  /**
   * Closes a handle (freed even when the call reports a failure). Only for a
   * handle that never had a subscription and has no call in flight: see the
   * class docs and `upstream.ts`.
   */
  async close(gin: bigint): Promise<void> {
    const stat = await this.#call(() => this.symbols.gdp_gin_close(gin));
    this.counters.closes++;
    this.unwrap(stat);
  }

  /** Subscribes from `start` on, forever, with events to `gdp_event_next` (NULL callback). */
  async subscribe(gin: bigint, start: number, udata: bigint): Promise<void> {
    // nrecs 0: endless. A counted subscription's end trips libgdp (see the class docs).
    this.unwrap(
      await this.#call(() =>
        this.symbols.gdp_gin_subscribe_by_recno(gin, BigInt(start), 0, 0n, 0n, udata)
      ),
    );
    this.counters.subscribes++;
  }

  /** One record (negative recno: from the end); rejects 404 past the end. */
  async read(gin: bigint, recno: number): Promise<LogRecord> {
    const datum = this.#datumNew();
    try {
      const stat = await this.#call(() =>
        this.symbols.gdp_gin_read_by_recno(gin, BigInt(recno), datum)
      );
      this.counters.reads++;
      this.unwrap(stat);
      return this.datumRecord(datum, GDP_OK);
    } finally {
      this.#datumFree(datum);
    }
  }

  /** The handle's cached record count (no I/O; may lag other writers). */
  nrecs(gin: bigint): number {
    return Number(this.symbols.gdp_gin_getnrecs(gin));
  }

  /** Appends a record; resolves to it with the recno and ts libgdp assigned. */
  async append(gin: bigint, data: Uint8Array<ArrayBuffer>): Promise<LogRecord> {
    const datum = this.#datumNew();
    try {
      const buf = this.symbols.gdp_datum_getbuf(datum);
      if (data.length > 0 && this.symbols.gdp_buf_write(buf, data, BigInt(data.length)) !== 0) {
        throw GdpError.of(500, "gdp_buf_write failed");
      }
      const stat = await this.#call(() => this.symbols.gdp_gin_append(gin, datum, 0n));
      this.counters.appends++;
      this.unwrap(stat);
      return this.datumRecord(datum, stat);
    } finally {
      this.#datumFree(datum);
    }
  }

  /** Waits up to `ms` for an event on a worker thread; 0n on timeout. */
  async waitEvent(ms: number): Promise<bigint> {
    const ev = BigInt(await this.symbols.gdp_event_next(0n, encodeTimeout(ms)));
    if (ev !== 0n) this.counters.eventsGot++;
    return ev;
  }

  /** The next queued event without blocking; 0n when none is queued. */
  pollEvent(): bigint {
    const ev = BigInt(this.symbols.gdp_event_poll(0n, ZERO_TIMEOUT));
    if (ev !== 0n) this.counters.eventsGot++;
    return ev;
  }

  /** Decodes an event from `waitEvent`/`pollEvent` and frees it (with its datum). */
  takeEvent(ev: bigint): GdpEvent {
    const s = this.symbols;
    try {
      const type = s.gdp_event_gettype(ev);
      const event: GdpEvent = {
        type,
        stat: s.gdp_event_getstat(ev) >>> 0,
        gin: BigInt(s.gdp_event_getgin(ev)),
        udata: BigInt(s.gdp_event_getudata(ev)),
      };
      const datum = BigInt(s.gdp_event_getdatum(ev));
      if (type === EventType.DATA && datum !== 0n) {
        event.record = this.datumRecord(datum, event.stat);
      }
      return event;
    } finally {
      s.gdp_event_free(ev);
      this.counters.eventsFreed++;
    }
  }

  /**
   * Copies a datum's recno, timestamp and bytes into a record this process
   * owns, with the status of the call or event that brought it.
   */
  datumRecord(datum: bigint, stat: number): LogRecord {
    const s = this.symbols;
    const ts = new Uint8Array(16);
    s.gdp_datum_getts(datum, ts);
    const buf = s.gdp_datum_getbuf(datum);
    const length = Number(s.gdp_buf_getlength(buf));
    let data = new Uint8Array(length);
    if (length > 0) {
      const copied = Number(s.gdp_buf_peek(buf, data, BigInt(length)));
      if (copied < length) data = data.slice(0, copied);
    }
    return {
      recno: Number(s.gdp_datum_getrecno(datum)),
      ts: decodeTimespec(ts),
      data,
      status: this.decodeStat(stat),
    };
  }

  #datumNew(): bigint {
    const datum = BigInt(this.symbols.gdp_datum_new());
    if (datum === 0n) throw GdpError.of(500, "gdp_datum_new failed");
    this.counters.datumsAllocated++;
    return datum;
  }

  #datumFree(datum: bigint): void {
    this.symbols.gdp_datum_free(datum);
    this.counters.datumsFreed++;
  }
}
