/**
 * Types of the gdp-ws client (gdp-ws.js). Written by hand for TypeScript users of the npm
 * package; tests/client/declarations_test.ts checks them against the JSDoc types of the
 * implementation in both directions, so the two cannot drift apart.
 *
 * @module
 */

/** The subprotocol that asks the gateway for batch mode (an array of events per frame). */
export declare const BATCH_PROTOCOL: "gdp-ws.batch";

/** libgdp's event types, as the gateway sends them in `type`. */
export declare const EventType: Readonly<{
  DATA: 1;
  DONE: 2;
  SHUTDOWN: 3;
  SUCCESS: 5;
  FAILURE: 6;
}>;

/**
 * Where a client's connection is: `connecting` (the first attempt), `live` (open; subscriptions
 * flow), `reconnecting` (dropped; waiting or retrying) or `closed` (for good).
 */
export type ConnectionState = "connecting" | "live" | "reconnecting" | "closed";

/** A record's commit time: seconds and nanoseconds since the Unix epoch, clock accuracy in seconds. */
export type Timestamp = { sec: number; nsec: number; accuracy: number };

/** One record of a log. */
export type GdpRecord = {
  /** The log, spelled as in the subscribe call. */
  logname: string;
  /** Its record number (from 1, without gaps). */
  recno: number;
  /** The payload: text, or base64 when `encoding` is "base64". */
  data: string;
  /** base64 when the payload is not UTF-8 or was asked so. */
  encoding: "text" | "base64";
  /** Commit time. */
  ts: Timestamp;
  /** Commit time as a Date (millisecond precision). */
  date: Date;
};

/**
 * What the client needs of a WebSocket: the browser's, Deno's, Node's and the `ws` package's
 * all have it. The handlers take `never` so that any handler type fits.
 */
export type WebSocketLike = {
  onopen: ((event: never) => unknown) | null;
  onmessage: ((event: never) => unknown) | null;
  onclose: ((event: never) => unknown) | null;
  onerror: ((event: never) => unknown) | null;
  send: (data: string) => void;
  close: (code?: number, reason?: string) => void;
};

/** A WebSocket class: `globalThis.WebSocket`, or the `ws` package's `WebSocket`. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The part of `fetch` the client uses: a GET with headers and an abort signal. */
export type FetchFunction = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
) => Promise<{ status: number; json(): Promise<unknown> }>;

/** Options of {@linkcode connect}. */
export type ConnectOptions = {
  /** A bearer token, offered as the `bearer.TOKEN` subprotocol. */
  token?: string;
  /** Batch mode, several events per frame (default true). */
  batch?: boolean;
  /** Called on every state change. */
  onState?: (state: ConnectionState) => void;
  /** Called when an attempt to connect fails, with why; see {@linkcode GdpWsClient.onError}. */
  onError?: (error: GdpWsError) => void;
  /** Keep retrying even when the gateway refuses the connection (default false: close). */
  retryRefused?: boolean;
  /** First reconnect delay before jitter (default 250). */
  minDelayMs?: number;
  /** Longest reconnect delay (default 10000). */
  maxDelayMs?: number;
  /** The WebSocket class (default `globalThis.WebSocket`; on Node 20 pass the `ws` package's). */
  WebSocket?: WebSocketClass;
  /** What asks the gateway why a connection failed (default `globalThis.fetch`). */
  fetch?: FetchFunction;
};

/** Options of {@linkcode GdpWsClient.subscribe}. */
export type SubscribeOptions = {
  /** startrec: 0 = from the next record appended (default), n > 0 = from record n, -n = the last n. */
  start?: number;
  /**
   * Instead of `start`: from the first record stamped at or after this time (`startts`: a Date,
   * RFC 3339 text or `{tv_sec, tv_nsec}`); after a reconnect it resumes by recno as always.
   */
  since?: Date | string | { tv_sec: number; tv_nsec?: number };
  /** numrec: records to deliver, then end; 0 = forever (default). */
  count?: number;
  /** "base64" sends every payload base64-encoded. */
  encoding?: "text" | "base64";
  /** Callback form: records go here instead of to the async iterator. */
  onRecord?: (record: GdpRecord) => void;
  /** The subscription failed and has ended. */
  onError?: (error: GdpWsError) => void;
  /** The subscription has delivered `count` records or was closed. */
  onDone?: () => void;
  /** A non-fatal problem (e.g. the gateway's GDP link is down and it keeps retrying). */
  onWarning?: (error: GdpWsError) => void;
};

/** What {@linkcode GdpWsClient.append} resolves to. */
export type Appended = {
  logname: string;
  /** The new record's number. */
  recno: number;
  /** Its commit time. */
  ts: Timestamp;
};

/**
 * A failure with the gateway's `ep_stat` code: 600 no such log, 400 bad request, 401 no or a bad
 * token, 403 forbidden, 413 too large, 429 too many subscriptions, 501 not implemented, 503
 * unavailable, 500 internal. 503 is also the client's own code when the connection was lost
 * before an append was confirmed, the client was closed, or nothing answered (`unreachable`).
 */
export declare class GdpWsError extends Error {
  constructor(
    code: number,
    message: string,
    logname?: string,
    options?: { unreachable?: boolean },
  );
  /** `ep_stat[0]`. */
  code: number;
  /** The log the failed request named, when there was one. */
  logname: string | undefined;
  /** True when nothing answered at the gateway's address. */
  unreachable: boolean;
  /** True for 401, 403 and 421: the gateway refused who the client is. */
  get refused(): boolean;
  /** The status as the gateway sends it. */
  get epStat(): [number, string];
}

/** Opens a client; it connects at once and keeps reconnecting until `close()`. */
export declare function connect(url: string, options?: ConnectOptions): GdpWsClient;

/** A connection to a gdp-ws gateway that reconnects by itself. */
export declare class GdpWsClient {
  constructor(url: string, options: ConnectOptions);
  /** The connection state now. */
  get state(): ConnectionState;
  /** The gateway's URL. */
  get url(): string;
  /** Why the last attempt to connect failed; undefined while live. */
  get error(): GdpWsError | undefined;
  /** Calls `listener` on every state change; returns a function that stops it. */
  onState(listener: (state: ConnectionState) => void): () => void;
  /** Calls `listener` each time an attempt to connect fails, with why. */
  onError(listener: (error: GdpWsError) => void): () => void;
  /** Subscribes to a log. Iterate the result with `for await`, or pass `onRecord`. */
  subscribe(logname: string, options?: SubscribeOptions): Subscription;
  /** Appends one record; resolves when the gateway has stored it. */
  append(logname: string, data: string | Uint8Array): Promise<Appended>;
  /** Ends every subscription and closes the connection for good. */
  close(): void;
}

/** One subscription: an async iterable of records (or callbacks), resumed after reconnects. */
export declare class Subscription implements AsyncIterable<GdpRecord> {
  /** @internal use {@linkcode GdpWsClient.subscribe} */
  constructor(id: string, logname: string, options: SubscribeOptions, onClose: () => void);
  /** The id the client gave this subscription on the wire. */
  id: string;
  /** The log, as spelled in the subscribe call. */
  logname: string;
  /** The last recno delivered, 0 before the first. */
  get lastRecno(): number;
  /** True once the subscription has ended (done, failed or closed). */
  get ended(): boolean;
  /** Ends the subscription; its iterator finishes after the records already queued. */
  close(): void;
  [Symbol.asyncIterator](): AsyncIterator<GdpRecord>;
}

/** A record's payload as bytes, whether it came as text or base64. */
export declare function recordBytes(record: GdpRecord): Uint8Array;

/** The HTTP URL that answers for a WebSocket URL's checks (`ws://host/` → `http://host/ws`). */
export declare function checkUrl(url: string): string;
