/**
 * The libgdp symbol table (LIBGDP-ABI.md) and thin typed wrappers over it.
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
 * const gin = await gdp.open(await gdp.parseName("edu.berkeley.demo"), IoMode.RO);
 * const record = await gdp.read(gin, -1);
 * await gdp.close(gin);
 * ```
 *
 * @module
 */

import type { LogRecord, Timestamp } from "../backend.ts";
import { GdpError } from "../../errors.ts";

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
  /** EP_STAT gdp_init2(const char *router, uint32_t flags) (2.x). */
  gdp_init2: {
    parameters: [
      "buffer", // const char *router_addr (NULL: from the parameter files)
      "u32", // uint32_t flags
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
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
  /** EP_STAT gdp_name_parse(const char *, gdp_name_t, const char **) (2.x). */
  gdp_name_parse: {
    parameters: [
      "buffer", // const char *hname
      "buffer", // gdp_name_t gname (out, 32 bytes)
      "buffer", // const char **xnamep (NULL, else the caller must free it)
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
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

  // ---- logs, 2.x (gdp_gin_*) ----------------------------------------------
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
    optional: true,
  },
  /** EP_STAT gdp_gin_close(gdp_gin_t *). */
  gdp_gin_close: {
    parameters: [
      "usize", // gdp_gin_t *gin
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
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
    optional: true,
  },
  /** EP_STAT gdp_gin_unsubscribe(gdp_gin_t *, gdp_event_cbfunc_t, void *udata). */
  gdp_gin_unsubscribe: {
    parameters: [
      "usize", // gdp_gin_t *gin
      "usize", // gdp_event_cbfunc_t cbfunc (NULL)
      "usize", // void *udata (NULL: a specific one may match nothing)
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
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
    optional: true,
  },
  /** gdp_recno_t gdp_gin_getnrecs(const gdp_gin_t *): a cached count, no I/O. */
  gdp_gin_getnrecs: {
    parameters: [
      "usize", // const gdp_gin_t *gin
    ],
    result: "i64",
    optional: true,
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
    optional: true,
  },
  /** gdp_gin_t *gdp_event_getgin(gdp_event_t *). */
  gdp_event_getgin: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "usize",
    optional: true,
  },

  // ---- logs, 0.x (gdp_gcl_*) ----------------------------------------------
  /** EP_STAT gdp_gcl_open(gdp_name_t, gdp_iomode_t, gdp_gcl_open_info_t *, gdp_gcl_t **). */
  gdp_gcl_open: {
    parameters: [
      "buffer", // gdp_name_t name (32 bytes)
      "i32", // gdp_iomode_t rw
      "usize", // gdp_gcl_open_info_t *info (NULL)
      "buffer", // gdp_gcl_t **pgcl (out, one pointer)
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  /** EP_STAT gdp_gcl_close(gdp_gcl_t *). */
  gdp_gcl_close: {
    parameters: [
      "usize", // gdp_gcl_t *gcl
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  /** EP_STAT gdp_gcl_subscribe(gcl, start, numrecs, EP_TIME_SPEC *timeout, cbfunc, udata). */
  gdp_gcl_subscribe: {
    parameters: [
      "usize", // gdp_gcl_t *gcl
      "i64", // gdp_recno_t start
      "i32", // int32_t numrecs (0 = forever)
      "usize", // EP_TIME_SPEC *timeout (NULL)
      "usize", // gdp_event_cbfunc_t cbfunc (NULL)
      "usize", // void *udata
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  /** EP_STAT gdp_gcl_unsubscribe(gdp_gcl_t *, gdp_event_cbfunc_t, void *udata). */
  gdp_gcl_unsubscribe: {
    parameters: [
      "usize", // gdp_gcl_t *gcl
      "usize", // gdp_event_cbfunc_t cbfunc (NULL)
      "usize", // void *udata (NULL)
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  /** EP_STAT gdp_gcl_read(gdp_gcl_t *, gdp_recno_t, gdp_datum_t *). */
  gdp_gcl_read: {
    parameters: [
      "usize", // gdp_gcl_t *gcl
      "i64", // gdp_recno_t recno
      "usize", // gdp_datum_t *datum
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  /** Later 0.x: `gdp_gcl_subscribe` is a macro for this (same parameters). */
  gdp_gcl_subscribe_by_recno: {
    parameters: [
      "usize", // gdp_gcl_t *gcl
      "i64", // gdp_recno_t start
      "i32", // int32_t nrecs (0 = forever)
      "usize", // gdp_sub_qos_t *qos (NULL)
      "usize", // gdp_event_cbfunc_t cbfunc (NULL)
      "usize", // void *udata
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  /** Later 0.x: `gdp_gcl_read` is a macro for this (same parameters). */
  gdp_gcl_read_by_recno: {
    parameters: [
      "usize", // gdp_gcl_t *gcl
      "i64", // gdp_recno_t recno
      "usize", // gdp_datum_t *datum
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  // Presence probes, never called: Deno gives a missing optional *nonblocking*
  // symbol as a wrapper that throws, so presence is tested on synchronous twins.
  /** Probe: is `gdp_gcl_subscribe` exported? */
  probe_gdp_gcl_subscribe: {
    name: "gdp_gcl_subscribe",
    parameters: [],
    result: "void",
    optional: true,
  },
  /** Probe: is `gdp_gcl_read` exported? */
  probe_gdp_gcl_read: { name: "gdp_gcl_read", parameters: [], result: "void", optional: true },
  /** gdp_recno_t gdp_gcl_getnrecs(const gdp_gcl_t *). */
  gdp_gcl_getnrecs: {
    parameters: [
      "usize", // const gdp_gcl_t *gcl
    ],
    result: "i64",
    optional: true,
  },
  /** EP_STAT gdp_gcl_append(gdp_gcl_t *, gdp_datum_t *). */
  gdp_gcl_append: {
    parameters: [
      "usize", // gdp_gcl_t *gcl
      "usize", // gdp_datum_t *datum
    ],
    result: "u32",
    nonblocking: true,
    optional: true,
  },
  /** gdp_gcl_t *gdp_event_getgcl(gdp_event_t *). */
  gdp_event_getgcl: {
    parameters: [
      "usize", // gdp_event_t *gev
    ],
    result: "usize",
    optional: true,
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

/** The loaded symbols (optional ones are `null` when absent). */
export type LibgdpSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** libgdp event types (2.x numbering; 0.x calls DONE "EOS"). */
export const EventType = {
  DATA: 1,
  DONE: 2,
  SHUTDOWN: 3,
  CREATED: 4,
  SUCCESS: 5,
  FAILURE: 6,
  MISSING: 7,
} as const;

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
  /** Unsubscribe calls. */
  unsubscribes: number;
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
    unsubscribes: 0,
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
const libraries = new Map<string, Deno.DynamicLibrary<typeof SYMBOLS>>();

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
 * The binding: thin typed wrappers over {@linkcode SYMBOLS} that pick the
 * 2.x (`gdp_gin_*`) or 0.x (`gdp_gcl_*`) functions, turn failed EP_STATs
 * into {@linkcode GdpStatusError}s, copy datums out, and free every event and
 * datum they allocate exactly once.
 */
export class Libgdp {
  /** The raw symbols. */
  readonly symbols: LibgdpSymbols;
  /** 2 for `gdp_gin_*`, 0 for `gdp_gcl_*`. */
  readonly generation: 0 | 2;
  /** Calls and allocations made through this instance. */
  readonly counters: FfiCounters;
  readonly #ops: GinOps;

  /** Wraps loaded symbols; throws if neither generation's functions are there. */
  constructor(symbols: LibgdpSymbols, counters: FfiCounters = ffiCounters()) {
    this.symbols = symbols;
    this.counters = counters;
    const ops = ginOps(symbols);
    this.generation = ops.generation;
    this.#ops = ops;
  }

  /**
   * Loads libgdp from `path` (once per path and process: libgdp's state and
   * I/O thread are process-wide, and unloading it under that thread would
   * crash, so the library is never closed).
   */
  static open(path: string, counters?: FfiCounters): Libgdp {
    let lib = libraries.get(path);
    if (!lib) {
      try {
        lib = Deno.dlopen(path, SYMBOLS);
      } catch (error) {
        throw GdpError.of(500, `cannot load libgdp from ${path}`, { cause: error });
      }
      libraries.set(path, lib);
    }
    return new Libgdp(lib.symbols, counters);
  }

  /** `ep_stat_tostr` text of an EP_STAT. */
  statText(stat: number): string {
    const buf = new Uint8Array(200);
    this.symbols.ep_stat_tostr(stat >>> 0, buf, BigInt(buf.length));
    return fromCString(buf);
  }

  /** `[detail, text]`, as the gateway sends `ep_stat`. */
  decodeStat(stat: number): [number, string] {
    return [stat & 0x3ff, this.statText(stat)];
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

  /** The 32-byte internal name of a human or 43-character name. */
  async parseName(name: string): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(32);
    // gdp_parse_name exists in both generations and hides warning 49
    this.unwrap(await this.symbols.gdp_parse_name(cString(name), out));
    return out;
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
    this.unwrap(await this.#ops.open(name, mode, 0n, out));
    this.counters.opens++;
    const gin = out[0] ?? 0n;
    if (gin === 0n) throw GdpError.of(500, "libgdp returned a NULL handle");
    return gin;
  }

  /** Closes a handle (freed even when the call reports a failure). */
  async close(gin: bigint): Promise<void> {
    const stat = await this.#ops.close(gin);
    this.counters.closes++;
    this.unwrap(stat);
  }

  /** Subscribes with events to `gdp_event_next` (NULL callback). */
  async subscribe(gin: bigint, start: number, nrecs: number, udata: bigint): Promise<void> {
    this.unwrap(await this.#ops.subscribe(gin, BigInt(start), nrecs, 0n, 0n, udata));
    this.counters.subscribes++;
  }

  /** Ends every subscription of a handle: `(gin, NULL, NULL)`, the form that works. */
  async unsubscribe(gin: bigint): Promise<void> {
    const stat = await this.#ops.unsubscribe(gin, 0n, 0n);
    this.counters.unsubscribes++;
    this.unwrap(stat);
  }

  /** One record (negative recno: from the end); rejects 404 past the end. */
  async read(gin: bigint, recno: number): Promise<LogRecord> {
    const datum = this.#datumNew();
    try {
      const stat = await this.#ops.read(gin, BigInt(recno), datum);
      this.counters.reads++;
      this.unwrap(stat);
      return this.datumRecord(datum);
    } finally {
      this.#datumFree(datum);
    }
  }

  /** The handle's cached record count (no I/O; may lag other writers). */
  nrecs(gin: bigint): number {
    return Number(this.#ops.getnrecs(gin));
  }

  /** Appends a record; resolves to it with the recno and ts libgdp assigned. */
  async append(gin: bigint, data: Uint8Array<ArrayBuffer>): Promise<LogRecord> {
    const datum = this.#datumNew();
    try {
      const buf = this.symbols.gdp_datum_getbuf(datum);
      if (data.length > 0 && this.symbols.gdp_buf_write(buf, data, BigInt(data.length)) !== 0) {
        throw GdpError.of(500, "gdp_buf_write failed");
      }
      const stat = await this.#ops.append(gin, datum);
      this.counters.appends++;
      this.unwrap(stat);
      return this.datumRecord(datum);
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
        gin: BigInt(this.#ops.getgin(ev)),
        udata: BigInt(s.gdp_event_getudata(ev)),
      };
      const datum = BigInt(s.gdp_event_getdatum(ev));
      if (type === EventType.DATA && datum !== 0n) event.record = this.datumRecord(datum);
      return event;
    } finally {
      s.gdp_event_free(ev);
      this.counters.eventsFreed++;
    }
  }

  /** Copies a datum's recno, timestamp and bytes into a record this process owns. */
  datumRecord(datum: bigint): LogRecord {
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
    return { recno: Number(s.gdp_datum_getrecno(datum)), ts: decodeTimespec(ts), data };
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

/** The per-log functions, from whichever generation loaded. */
interface GinOps {
  generation: 0 | 2;
  open(
    name: Uint8Array<ArrayBuffer>,
    mode: number,
    info: bigint,
    out: BigUint64Array<ArrayBuffer>,
  ): Promise<number>;
  close(gin: bigint): Promise<number>;
  subscribe(
    gin: bigint,
    start: bigint,
    nrecs: number,
    qos: bigint,
    cb: bigint,
    udata: bigint,
  ): Promise<number>;
  unsubscribe(gin: bigint, cb: bigint, udata: bigint): Promise<number>;
  read(gin: bigint, recno: bigint, datum: bigint): Promise<number>;
  getnrecs(gin: bigint): number | bigint;
  append(gin: bigint, datum: bigint): Promise<number>;
  getgin(ev: bigint): number | bigint;
}

/**
 * Picks the generation. Presence is judged by synchronous symbols only:
 * Deno returns a wrapper for a missing optional *nonblocking* symbol (which
 * throws when called) instead of `null`.
 */
function ginOps(s: LibgdpSymbols): GinOps {
  if (s.gdp_gin_getnrecs && s.gdp_event_getgin) {
    const { gdp_gin_open, gdp_gin_close, gdp_gin_subscribe_by_recno, gdp_gin_unsubscribe } = s;
    const { gdp_gin_read_by_recno, gdp_gin_append } = s;
    if (
      gdp_gin_open && gdp_gin_close && gdp_gin_subscribe_by_recno && gdp_gin_unsubscribe &&
      gdp_gin_read_by_recno && gdp_gin_append
    ) {
      return {
        generation: 2,
        open: gdp_gin_open,
        close: gdp_gin_close,
        subscribe: gdp_gin_subscribe_by_recno,
        unsubscribe: gdp_gin_unsubscribe,
        read: gdp_gin_read_by_recno,
        getnrecs: s.gdp_gin_getnrecs,
        append: (gin, datum) => gdp_gin_append(gin, datum, 0n),
        getgin: s.gdp_event_getgin,
      };
    }
  }
  if (s.gdp_gcl_getnrecs && s.gdp_event_getgcl) {
    const { gdp_gcl_open, gdp_gcl_close, gdp_gcl_unsubscribe, gdp_gcl_append } = s;
    // early 0.x exports these names; later 0.x only the _by_recno ones (macros)
    const gdp_gcl_subscribe = s.probe_gdp_gcl_subscribe
      ? s.gdp_gcl_subscribe
      : s.gdp_gcl_subscribe_by_recno;
    const gdp_gcl_read = s.probe_gdp_gcl_read ? s.gdp_gcl_read : s.gdp_gcl_read_by_recno;
    if (
      gdp_gcl_open && gdp_gcl_close && gdp_gcl_subscribe && gdp_gcl_unsubscribe && gdp_gcl_read &&
      gdp_gcl_append
    ) {
      return {
        generation: 0,
        open: gdp_gcl_open,
        close: gdp_gcl_close,
        subscribe: gdp_gcl_subscribe,
        unsubscribe: gdp_gcl_unsubscribe,
        read: gdp_gcl_read,
        getnrecs: s.gdp_gcl_getnrecs,
        append: gdp_gcl_append,
        getgin: s.gdp_event_getgcl,
      };
    }
  }
  throw GdpError.of(500, "not a usable libgdp: neither the gdp_gin_* nor the gdp_gcl_* functions");
}
