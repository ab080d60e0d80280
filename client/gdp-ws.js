// @ts-check
/**
 * The gdp-ws client: one ES module, used unchanged in browsers, Deno and Node
 * (Node 22+, or Node 20 with `--experimental-websocket`, or any WebSocket class
 * passed as `options.WebSocket`, such as the `ws` package's). It subscribes to
 * GDP logs through a gdp-ws gateway and survives dropped connections: it
 * reconnects with exponential backoff and jitter, then resubscribes every open
 * subscription from its last recno + 1, so a consumer sees every record once,
 * in order, without a gap. When the gateway refuses the connection (a missing
 * or bad token, a foreign origin), it asks the gateway why over HTTP and stops
 * with that reason as a {@linkcode GdpWsError}, instead of retrying in silence.
 *
 * @example
 * ```js
 * import { connect } from "./gdp-ws.js";
 * const client = connect("ws://localhost:8080/");
 * for await (const record of client.subscribe("edu.berkeley.demo.temp", { start: -10 })) {
 *   console.log(record.recno, record.date.toISOString(), record.data);
 * }
 * ```
 *
 * @module
 */

/** The subprotocol that asks the gateway for batch mode (an array of events per frame). */
export const BATCH_PROTOCOL = "gdp-ws.batch";

/** libgdp's event types, as the gateway sends them in `type`. */
export const EventType = Object.freeze({ DATA: 1, DONE: 2, SHUTDOWN: 3, SUCCESS: 5, FAILURE: 6 });

/**
 * Where a client's connection is: `connecting` (the first attempt), `live` (open; subscriptions
 * flow), `reconnecting` (dropped; waiting or retrying) or `closed` (for good).
 * @typedef {"connecting" | "live" | "reconnecting" | "closed"} ConnectionState
 */

/**
 * A record's commit time: seconds and nanoseconds since the Unix epoch, clock accuracy in seconds.
 * @typedef {{ sec: number, nsec: number, accuracy: number }} Timestamp
 */

/**
 * One record of a log.
 * @typedef {object} GdpRecord
 * @property {string} logname the log, spelled as in the subscribe call
 * @property {number} recno its record number (from 1, without gaps)
 * @property {string} data the payload: text, or base64 when `encoding` is "base64"
 * @property {"text" | "base64"} encoding base64 when the payload is not UTF-8 or was asked so
 * @property {Timestamp} ts commit time
 * @property {Date} date commit time as a Date (millisecond precision)
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} [token] a bearer token, offered as the `bearer.TOKEN` subprotocol
 * @property {boolean} [batch] batch mode, several events per frame (default true)
 * @property {(state: ConnectionState) => void} [onState] called on every state change
 * @property {(error: GdpWsError) => void} [onError] called when an attempt to connect
 *   fails, with why; see {@linkcode GdpWsClient.onError}
 * @property {boolean} [retryRefused] keep retrying even when the gateway refuses the
 *   connection (a token or origin problem); default false: the client closes
 * @property {number} [minDelayMs] first reconnect delay before jitter (default 250)
 * @property {number} [maxDelayMs] longest reconnect delay (default 10000)
 * @property {WebSocketClass} [WebSocket] the WebSocket class (default `globalThis.WebSocket`;
 *   on Node 20 pass one, e.g. `import { WebSocket } from "ws"`)
 * @property {FetchFunction} [fetch] what asks the gateway why a connection failed
 *   (default `globalThis.fetch`)
 */

/**
 * What the client needs of a WebSocket: the browser's, Deno's, Node's and the `ws` package's
 * all have it. The handlers take `never` so that any handler type fits; the client passes
 * the events it reads (`data`, `code`, `reason`).
 * @typedef {object} WebSocketLike
 * @property {((event: never) => unknown) | null} onopen
 * @property {((event: never) => unknown) | null} onmessage
 * @property {((event: never) => unknown) | null} onclose
 * @property {((event: never) => unknown) | null} onerror
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 */

/**
 * @typedef {new (url: string, protocols?: string | string[]) => WebSocketLike} WebSocketClass
 */

/**
 * The part of `fetch` the client uses: a GET with headers and an abort signal.
 * @typedef {(url: string, init: { headers: Record<string, string>, signal: AbortSignal })
 *   => Promise<{ status: number, json(): Promise<unknown> }>} FetchFunction
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {number} [start] startrec: 0 = from the next record appended (default), n > 0 =
 *   from record n, -n = the last n records, then on
 * @property {Date | string | { tv_sec: number, tv_nsec?: number }} [since] instead of `start`:
 *   from the first record stamped at or after this time (`startts`: a Date, RFC 3339 text or
 *   `{tv_sec, tv_nsec}`); after a reconnect the subscription resumes by recno as always
 * @property {number} [count] numrec: records to deliver, then end; 0 = forever (default)
 * @property {"text" | "base64"} [encoding] "base64" sends every payload base64-encoded
 * @property {(record: GdpRecord) => void} [onRecord] callback form: records go here instead
 *   of to the async iterator
 * @property {(error: GdpWsError) => void} [onError] the subscription failed and has ended
 * @property {() => void} [onDone] the subscription has delivered `count` records or was closed
 * @property {(error: GdpWsError) => void} [onWarning] a non-fatal problem (e.g. the gateway's
 *   GDP link is down and it keeps retrying); the subscription goes on
 */

/**
 * @typedef {object} Appended
 * @property {string} logname
 * @property {number} recno the new record's number
 * @property {Timestamp} ts its commit time
 */

/**
 * @typedef {object} WireEvent
 * @property {string} [logname]
 * @property {string | number} [id]
 * @property {[number, string]} ep_stat
 * @property {number} type
 * @property {{ recno: number, data?: string, encoding?: string,
 *   ts: { tv_sec: number, tv_nsec: number, tv_accuracy: number } }} [datum]
 */

/**
 * A failure with the gateway's `ep_stat` code: 600 no such log, 400 bad request, 401 no or a bad
 * token, 403 forbidden, 413 too large, 429 too many subscriptions, 501 not implemented, 503
 * unavailable, 500 internal. Failures the client sees itself use the same codes: 503 when the
 * connection was lost before an append was confirmed, the client was closed, or no gateway
 * answered at all (then `unreachable` is true).
 */
export class GdpWsError extends Error {
  /**
   * @param {number} code `ep_stat[0]`
   * @param {string} message `ep_stat[1]`, e.g. "ERROR: 600 no route available [Berkeley:Swarm-GDP:600]"
   * @param {string} [logname] the log the failed request named
   * @param {{ unreachable?: boolean }} [options]
   */
  constructor(code, message, logname, options = {}) {
    super(message);
    this.name = "GdpWsError";
    /** `ep_stat[0]`. */
    this.code = code;
    /** The log the failed request named, when there was one. */
    this.logname = logname;
    /** True when nothing answered at the gateway's address (connection refused, no route, DNS). */
    this.unreachable = options.unreachable === true;
  }

  /**
   * True for a connection the gateway refused for who the client is (401 token, 403 origin or
   * claims, 421 host): retrying with the same credentials fails again.
   * @returns {boolean}
   */
  get refused() {
    return this.code === 401 || this.code === 403 || this.code === 421;
  }

  /** The status as the gateway sends it. @returns {[number, string]} */
  get epStat() {
    return [this.code, this.message];
  }
}

/**
 * Opens a client; it connects at once and keeps reconnecting until {@linkcode GdpWsClient.close}.
 * @param {string} url the gateway, e.g. `ws://localhost:8080/`
 * @param {ConnectOptions} [options]
 * @returns {GdpWsClient}
 */
export function connect(url, options = {}) {
  return new GdpWsClient(url, options);
}

/** A connection to a gdp-ws gateway that reconnects by itself. */
export class GdpWsClient {
  /** @type {string} */ #url;
  /** @type {Required<Pick<ConnectOptions, "batch" | "minDelayMs" | "maxDelayMs">> & ConnectOptions} */
  #options;
  /** @type {WebSocketLike | undefined} */ #socket;
  /** @type {ConnectionState} */ #state = "connecting";
  /** @type {Set<(state: ConnectionState) => void>} */ #listeners = new Set();
  /** @type {Set<(error: GdpWsError) => void>} */ #errorListeners = new Set();
  /** @type {GdpWsError | undefined} */ #error;
  /** @type {Map<string, Subscription>} */ #subs = new Map();
  /** @type {Map<string, PendingAppend>} */ #appends = new Map();
  /** Requests waiting for a live connection. @type {string[]} */ #outbox = [];
  #attempt = 0;
  #nextId = 1;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #timer;
  /** Stops the question "why did that fail?" when the client closes. @type {AbortController | undefined} */
  #asking;

  /**
   * @param {string} url
   * @param {ConnectOptions} options
   */
  constructor(url, options) {
    this.#url = url;
    this.#options = { batch: true, minDelayMs: 250, maxDelayMs: 10_000, ...options };
    if (options.onState) this.#listeners.add(options.onState);
    if (options.onError) this.#errorListeners.add(options.onError);
    this.#open();
  }

  /** The connection state now. @returns {ConnectionState} */
  get state() {
    return this.#state;
  }

  /** The gateway's URL. */
  get url() {
    return this.#url;
  }

  /**
   * Why the last attempt to connect failed; undefined while live. After the gateway refused
   * the connection (`error.refused`), the client is closed and this says why.
   * @returns {GdpWsError | undefined}
   */
  get error() {
    return this.#error;
  }

  /**
   * Calls `listener` on every state change; returns a function that stops it.
   * @param {(state: ConnectionState) => void} listener
   * @returns {() => void}
   */
  onState(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Calls `listener` each time an attempt to connect fails, with why: `unreachable` (nothing
   * answered; the client retries), a refusal (`refused`: 401, 403, 421; the client closes unless
   * `retryRefused`), or another status the gateway gave (503 at its connection limit: it
   * retries). Returns a function that stops it.
   * @param {(error: GdpWsError) => void} listener
   * @returns {() => void}
   */
  onError(listener) {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  /**
   * Subscribes to a log. Iterate the result with `for await`, or pass `onRecord`.
   * @param {string} logname a human or internal (43-character) log name
   * @param {SubscribeOptions} [options]
   * @returns {Subscription}
   */
  subscribe(logname, options = {}) {
    const id = `s${this.#nextId++}`;
    const sub = new Subscription(id, logname, options, () => this.#unsubscribe(sub));
    if (this.#state === "closed") {
      sub._end(this.#error ?? closedError());
      return sub;
    }
    this.#subs.set(id, sub);
    // Otherwise #onOpen sends it, as it resends every subscription after a reconnect.
    if (this.#state === "live") this.#socket?.send(sub._request());
    return sub;
  }

  /**
   * Appends one record; resolves when the gateway has stored it. Text is stored as UTF-8,
   * bytes as they are.
   * @param {string} logname
   * @param {string | Uint8Array} data
   * @returns {Promise<Appended>}
   */
  append(logname, data) {
    if (this.#state === "closed") {
      const error = this.#error ?? closedError();
      return Promise.reject(new GdpWsError(error.code, error.message, logname));
    }
    const id = `a${this.#nextId++}`;
    /** @type {Record<string, unknown>} */
    const request = typeof data === "string"
      ? { append: logname, data, id }
      : { append: logname, data: toBase64(data), encoding: "base64", id };
    return new Promise((resolve, reject) => {
      const pending = { logname, resolve, reject, sent: false };
      this.#appends.set(id, pending);
      if (this.#state === "live" && this.#socket) {
        this.#socket.send(JSON.stringify(request));
        pending.sent = true;
      } else {
        this.#outbox.push(JSON.stringify(request));
      }
    });
  }

  /** Ends every subscription (their iterators finish) and closes the connection for good. */
  close() {
    this.#shut();
  }

  /**
   * Closes for good; with `error`, subscriptions and waiting appends fail with it.
   * @param {GdpWsError} [error]
   */
  #shut(error) {
    if (this.#state === "closed") return;
    clearTimeout(this.#timer);
    this.#asking?.abort();
    this.#asking = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#setState("closed");
    socket?.close(1000, "client closed");
    for (const sub of this.#subs.values()) sub._end(error);
    this.#subs.clear();
    for (const [id, pending] of this.#appends) {
      this.#appends.delete(id);
      const why = error ?? closedError("the client was closed");
      pending.reject(new GdpWsError(why.code, why.message, pending.logname));
    }
    this.#outbox = [];
  }

  #open() {
    const protocols = this.#options.batch ? [BATCH_PROTOCOL] : [];
    if (this.#options.token) protocols.push(`bearer.${this.#options.token}`);
    const WebSocketClass = this.#options.WebSocket ?? globalThis.WebSocket;
    if (!WebSocketClass) {
      throw new Error(
        "no WebSocket class: pass options.WebSocket, e.g. the ws package's " +
          "(Node 20 has one behind --experimental-websocket)",
      );
    }
    /** @type {WebSocketLike} */
    let socket;
    try {
      socket = new WebSocketClass(this.#url, protocols);
    } catch (error) {
      // A malformed URL: reconnecting would not help.
      this.close();
      throw error;
    }
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      if (socket === this.#socket) this.#onOpen();
    };
    socket.onmessage = (/** @type {{ data: unknown }} */ message) =>
      socket === this.#socket && this.#onFrame(message.data);
    socket.onclose = (/** @type {{ code: number, reason: string }} */ event) =>
      socket === this.#socket && this.#onClose(event.code, event.reason, opened);
    // Node 20's WebSocket fires only error, no close, when it cannot connect.
    socket.onerror = () => socket === this.#socket && this.#onClose(1006, "", opened);
  }

  #onOpen() {
    this.#attempt = 0;
    this.#error = undefined;
    this.#setState("live");
    const queued = this.#outbox;
    this.#outbox = [];
    for (const sub of this.#subs.values()) this.#socket?.send(sub._request());
    for (const text of queued) this.#socket?.send(text);
    for (const pending of this.#appends.values()) pending.sent = true;
  }

  /** @param {unknown} data */
  #onFrame(data) {
    let parsed;
    try {
      parsed = JSON.parse(
        typeof data === "string" ? data : new TextDecoder().decode(
          /** @type {ArrayBuffer} */ (data),
        ),
      );
    } catch {
      return; // the gateway sends JSON only; nothing to route this to
    }
    const events = /** @type {WireEvent[]} */ (Array.isArray(parsed) ? parsed : [parsed]);
    for (const event of events) this.#onEvent(event);
  }

  /** @param {WireEvent} event */
  #onEvent(event) {
    const id = typeof event.id === "string" ? event.id : "";
    const sub = this.#subs.get(id);
    if (sub) {
      if (sub._onEvent(event)) this.#subs.delete(id);
      return;
    }
    const pending = this.#appends.get(id);
    if (!pending) return;
    this.#appends.delete(id);
    if (event.type === EventType.SUCCESS && event.datum) {
      const { recno, ts } = event.datum;
      pending.resolve({ logname: pending.logname, recno, ts: fromWireTs(ts) });
    } else {
      pending.reject(new GdpWsError(event.ep_stat[0], event.ep_stat[1], pending.logname));
    }
  }

  /**
   * @param {number} code
   * @param {string} reason
   * @param {boolean} opened whether this socket was ever open
   */
  #onClose(code, reason, opened) {
    this.#socket = undefined;
    this.#failAppends((p) => p.sent, "connection lost before the append was confirmed");
    if (code === 1008) {
      // Policy (origin or token): retrying with the same credentials would fail again.
      const expired = /token/i.test(reason);
      const text = expired
        ? `ERROR: 401 unauthenticated: ${reason}`
        : `ERROR: 403 forbidden: ${reason || "policy violation"}`;
      this.#failed(new GdpWsError(expired ? 401 : 403, text));
      return;
    }
    this.#setState("reconnecting");
    if (opened) {
      this.#retry();
      return;
    }
    // A refused upgrade looks like any network failure to a WebSocket: ask over HTTP why.
    const asking = new AbortController();
    this.#asking = asking;
    void this.#whyRefused(asking.signal).then((error) => {
      if (asking.signal.aborted || this.#state === "closed") return;
      this.#asking = undefined;
      this.#failed(error);
    });
  }

  /**
   * Reports a failed attempt; a refusal closes the client unless `retryRefused`.
   * @param {GdpWsError} error
   */
  #failed(error) {
    this.#error = error;
    for (const listener of this.#errorListeners) listener(error);
    if (this.#state === "closed") return; // a listener closed the client
    if (error.refused && !this.#options.retryRefused) {
      this.#shut(error);
      return;
    }
    this.#setState("reconnecting");
    this.#retry();
  }

  #retry() {
    const ceiling = Math.min(
      this.#options.maxDelayMs,
      this.#options.minDelayMs * 2 ** this.#attempt++,
    );
    // Half fixed, half random: clients dropped together do not come back together.
    const delay = ceiling / 2 + Math.random() * ceiling / 2;
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  /**
   * Why the upgrade failed, from the gateway's answer to a plain GET of its WebSocket path with
   * the same credentials: the same 401/403/421 `{ep_stat}`, 426 when those would be accepted
   * (then the failure was passing: a connection limit), nothing when nothing answers.
   * @param {AbortSignal} signal
   * @returns {Promise<GdpWsError>}
   */
  async #whyRefused(signal) {
    const fetchFunction = this.#options.fetch ?? globalThis.fetch;
    const where = this.#url;
    if (!fetchFunction) {
      return new GdpWsError(503, `ERROR: 503 service unavailable: cannot connect to ${where}`);
    }
    const target = new URL(checkUrl(where));
    /** @type {Record<string, string>} */
    const headers = {};
    const token = this.#options.token;
    // A page on another origin would need a CORS preflight for the header: the query needs none.
    const page = /** @type {{ location?: { origin?: string } }} */ (globalThis).location?.origin;
    if (token && page && page !== target.origin) target.searchParams.set("access_token", token);
    else if (token) headers.authorization = `Bearer ${token}`;
    /** @type {{ status: number, json(): Promise<unknown> }} */
    let response;
    try {
      response = await fetchFunction(target.href, { headers, signal });
    } catch (error) {
      const text = `ERROR: 503 service unavailable: cannot connect to ${where}: ${
        networkReason(error)
      }`;
      return new GdpWsError(503, text, undefined, { unreachable: true });
    }
    /** @type {unknown} */
    let body;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    const stat = /** @type {{ ep_stat?: unknown }} */ (body ?? {}).ep_stat;
    if (response.status === 426) {
      const text = "ERROR: 503 service unavailable: the gateway answers but did not take the " +
        "WebSocket (at its connection limit?)";
      return new GdpWsError(503, text);
    }
    if (Array.isArray(stat) && typeof stat[0] === "number" && typeof stat[1] === "string") {
      return new GdpWsError(stat[0], stat[1]);
    }
    const text = `ERROR: ${response.status} ${where} answered HTTP ${response.status} ` +
      "without a gdp-ws status: is it a gdp-ws gateway?";
    return new GdpWsError(response.status >= 500 ? 503 : 400, text);
  }

  /** @param {Subscription} sub */
  #unsubscribe(sub) {
    if (!this.#subs.delete(sub.id)) return;
    if (this.#state === "live") this.#socket?.send(JSON.stringify({ unsubscribe: sub.id }));
  }

  /**
   * @param {(pending: PendingAppend) => boolean} which
   * @param {string} why
   */
  #failAppends(which, why) {
    for (const [id, pending] of this.#appends) {
      if (!which(pending)) continue;
      this.#appends.delete(id);
      const text = `ERROR: 503 service unavailable: ${why}`;
      pending.reject(new GdpWsError(503, text, pending.logname));
    }
  }

  /** @param {ConnectionState} state */
  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    for (const listener of this.#listeners) listener(state);
  }
}

/**
 * The error of a call on a closed client.
 * @param {string} [why]
 * @returns {GdpWsError}
 */
function closedError(why = "the client is closed") {
  return new GdpWsError(503, `ERROR: 503 service unavailable: ${why}`);
}

/**
 * The HTTP URL that answers for a WebSocket URL's checks: `ws://host/` and `ws://host/ws` ask
 * `http://host/ws` (a plain GET of `/` is the console); a path ending in `/` gets `ws` added.
 * @param {string} url
 * @returns {string}
 */
export function checkUrl(url) {
  const http = new URL(url);
  http.protocol = http.protocol === "wss:" ? "https:" : "http:";
  if (http.pathname.endsWith("/")) http.pathname += "ws";
  return http.href;
}

/**
 * A network failure in a few words: "connection refused", "host not found", else its message.
 * @param {unknown} error
 * @returns {string}
 */
function networkReason(error) {
  /** @type {string[]} */
  const seen = [];
  for (let e = error, depth = 0; e && depth < 5; depth++) {
    const { message, code, cause } =
      /** @type {{ message?: unknown, code?: unknown, cause?: unknown }} */ (e);
    seen.push(`${String(code ?? "")} ${String(message ?? "")}`);
    e = cause;
  }
  const all = seen.join(" ");
  if (/ECONNREFUSED|connection refused/i.test(all)) return "connection refused";
  if (/ENOTFOUND|EAI_AGAIN|dns error|failed to lookup|name or service not known/i.test(all)) {
    return "host not found";
  }
  if (/ETIMEDOUT|timed out/i.test(all)) return "timed out";
  if (/ECONNRESET|connection reset/i.test(all)) return "connection reset";
  const first = /** @type {{ message?: unknown }} */ (error)?.message;
  return typeof first === "string" && first ? first : String(error);
}

/**
 * @typedef {object} PendingAppend
 * @property {string} logname
 * @property {(appended: Appended) => void} resolve
 * @property {(error: GdpWsError) => void} reject
 * @property {boolean} sent true once on a socket: a drop then leaves its fate unknown
 */

/**
 * One subscription: an async iterable of records (or callbacks), resumed after every reconnect
 * from the record after the last one it delivered.
 * @implements {AsyncIterable<GdpRecord>}
 */
export class Subscription {
  /** @type {GdpRecord[]} */ #queue = [];
  /** @type {(() => void) | undefined} */ #wake;
  /** @type {GdpWsError | undefined} */ #error;
  #ended = false;
  /** The next recno to ask for after a reconnect; 0 until the first record. */
  #next = 0;
  #delivered = 0;
  /** @type {SubscribeOptions} */ #options;
  /** @type {() => void} */ #onClose;

  /**
   * @param {string} id
   * @param {string} logname
   * @param {SubscribeOptions} options
   * @param {() => void} onClose
   * @internal use {@linkcode GdpWsClient.subscribe}
   */
  constructor(id, logname, options, onClose) {
    /** The id the client gave this subscription on the wire. */
    this.id = id;
    /** The log, as spelled in the subscribe call. */
    this.logname = logname;
    this.#options = options;
    this.#onClose = onClose;
  }

  /** The last recno delivered, 0 before the first. */
  get lastRecno() {
    return this.#next === 0 ? 0 : this.#next - 1;
  }

  /** True once the subscription has ended (done, failed or closed). */
  get ended() {
    return this.#ended;
  }

  /** Ends the subscription; its iterator finishes after the records already queued. */
  close() {
    this.#onClose();
    this._end();
  }

  /** @returns {AsyncIterator<GdpRecord>} */
  [Symbol.asyncIterator]() {
    return {
      next: () => this.#take(),
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /** @returns {Promise<IteratorResult<GdpRecord>>} */
  async #take() {
    while (this.#queue.length === 0 && !this.#ended) {
      await new Promise((resolve) => this.#wake = () => resolve(undefined));
    }
    const record = this.#queue.shift();
    if (record) return { done: false, value: record };
    if (this.#error) throw this.#error;
    return { done: true, value: undefined };
  }

  /**
   * The subscribe request, resuming after the last delivered record.
   * @internal
   * @returns {string}
   */
  _request() {
    const { start = 0, since, count = 0, encoding } = this.#options;
    // From a time until the first record arrives; from then on by recno, as any resume.
    const from = this.#next > 0 || since === undefined
      ? { startrec: this.#next > 0 ? this.#next : start }
      : { startts: since instanceof Date ? since.toISOString() : since };
    const request = {
      logname: this.logname,
      ...from,
      numrec: count === 0 ? 0 : count - this.#delivered,
      id: this.id,
      ...(encoding ? { encoding } : {}),
    };
    return JSON.stringify(request);
  }

  /**
   * Handles one event of this subscription; true when it has ended.
   * @internal
   * @param {WireEvent} event
   * @returns {boolean}
   */
  _onEvent(event) {
    if (this.#ended) return true;
    if (event.type === EventType.DATA && event.datum) {
      this.#deliver(event.datum);
      return this.#ended;
    }
    if (event.type === EventType.DONE) {
      this._end();
      return true;
    }
    if (event.type === EventType.FAILURE) {
      const error = new GdpWsError(event.ep_stat[0], event.ep_stat[1], this.logname);
      if (error.code === 503 && error.message.includes("retrying")) {
        this.#options.onWarning?.(error);
        return false;
      }
      this._end(error);
      return true;
    }
    // SHUTDOWN: the gateway is going away; the reconnect resumes this subscription.
    return false;
  }

  /** @param {NonNullable<WireEvent["datum"]>} datum */
  #deliver(datum) {
    // Never twice, whatever the wire does: a resumed request starts at #next.
    if (datum.recno < this.#next) return;
    this.#next = datum.recno + 1;
    this.#delivered++;
    const ts = fromWireTs(datum.ts);
    /** @type {GdpRecord} */
    const record = {
      logname: this.logname,
      recno: datum.recno,
      data: datum.data ?? "",
      encoding: datum.encoding === "base64" ? "base64" : "text",
      ts,
      date: new Date(ts.sec * 1000 + Math.floor(ts.nsec / 1e6)),
    };
    if (this.#options.onRecord) this.#options.onRecord(record);
    else this.#queue.push(record);
    this.#wake?.();
    const { count = 0 } = this.#options;
    // The gateway ends it too, with a DONE that finds no one.
    if (count > 0 && this.#delivered >= count) this._end();
  }

  /**
   * Ends the subscription, with an error or normally.
   * @internal
   * @param {GdpWsError} [error]
   */
  _end(error) {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#wake?.();
    if (error) this.#options.onError?.(error);
    else this.#options.onDone?.();
  }
}

/**
 * A record's payload as bytes, whether it came as text or base64.
 * @param {GdpRecord} record
 * @returns {Uint8Array}
 */
export function recordBytes(record) {
  if (record.encoding === "text") return new TextEncoder().encode(record.data);
  return Uint8Array.from(atob(record.data), (c) => c.charCodeAt(0));
}

/**
 * @param {{ tv_sec: number, tv_nsec: number, tv_accuracy: number }} ts
 * @returns {Timestamp}
 */
function fromWireTs(ts) {
  return { sec: ts.tv_sec, nsec: ts.tv_nsec, accuracy: ts.tv_accuracy };
}

/**
 * @param {Uint8Array} bytes
 * @returns {string}
 */
function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
