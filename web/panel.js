// @ts-check
/**
 * One watched log: a header with its status, live records per second (the history replay is
 * received, not counted as a rate) and counts, a live chart when the payloads are numbers, the
 * error (in words, with its code) if the subscription failed, and a table of the newest records. The table keeps at most MAX_ROWS rows; table and chart are
 * redrawn at most every RENDER_MS, in an animation frame, so a log sending hundreds or thousands
 * of records a second costs the page a few redraws a second, not one per record.
 *
 * @module
 */

import { LiveChart, numberIn } from "./chart.js";

/** @typedef {import("../client/gdp-ws.js").GdpRecord} GdpRecord */
/** @typedef {import("../client/gdp-ws.js").GdpWsClient} GdpWsClient */
/** @typedef {import("../client/gdp-ws.js").GdpWsError} GdpWsError */
/** @typedef {import("../client/gdp-ws.js").Subscription} Subscription */

/** Rows a table keeps: the newest. */
export const MAX_ROWS = 200;

/** Shortest time between two redraws of a panel, in ms. */
const RENDER_MS = 100;

/** What an ep_stat code means, in words (the console's notices use them too). */
export const CODE_WORDS = /** @type {Record<number, string>} */ ({
  400: "The request was malformed",
  401: "A token is needed",
  403: "Not allowed",
  413: "Too large",
  429: "Too many subscriptions on this connection",
  500: "The gateway failed",
  501: "The backend cannot do this",
  503: "The gateway or the GDP is unavailable",
  600: "No such log",
});

/**
 * @typedef {object} PanelOptions
 * @property {string} logname
 * @property {number} start
 * @property {Date} [since] instead of `start`: from the first record stamped at or after it
 * @property {number} count
 * @property {Promise<number | undefined>} storedCount the log's record count when the panel
 *   opened: records after it are live, those up to it the replay (undefined: unknown, then
 *   records committed before the panel opened count as replay)
 * @property {(logname: string, lastRecno: number) => void} [onProgress] after each redraw
 */

export class Panel {
  /** @type {HTMLElement} */ element;
  /** @type {Subscription} */ #sub;
  /** @type {LiveChart} */ #chart;
  /** @type {GdpRecord[]} */ #pending = [];
  #received = 0;
  /** Live records (not the replay) so far, and at the last tick. */
  #live = 0;
  #liveAtTick = 0;
  /** Records after this recno are live; undefined until the stored count is known. @type {number | undefined} */
  #liveAfter;
  /** Recnos that arrived before it was known. @type {number[]} */
  #undecided = [];
  #openedAt = Date.now();
  /** @type {PanelOptions["onProgress"]} */ #onProgress;
  #renderQueued = false;
  #renderedAt = 0;
  /** @type {ReturnType<typeof setInterval>} */ #ticker;
  /** @type {Parts} */ #parts;
  #closedByUser = false;

  /**
   * @param {GdpWsClient} client
   * @param {PanelOptions} options
   * @param {() => void} onRemove
   */
  constructor(client, options, onRemove) {
    this.element = panelElement(options.logname);
    this.#parts = parts(this.element);
    this.#chart = new LiveChart(this.#parts.chart, this.#parts.readout);
    this.#onProgress = options.onProgress;
    void options.storedCount.then((count) => this.#decideLive(count));
    this.#sub = client.subscribe(options.logname, {
      start: options.start,
      ...(options.since ? { since: options.since } : {}),
      count: options.count,
      onRecord: (record) => this.#onRecord(record),
      onDone: () => this.#status(this.#sub.ended && this.#closedByUser ? "closed" : "done"),
      onError: (error) => this.#onError(error),
      onWarning: (error) => this.#showError(error),
    });
    this.#parts.close.addEventListener("click", () => {
      this.close();
      onRemove();
    });
    this.#ticker = setInterval(() => this.#tick(), 1000);
    this.#status(client.state === "live" ? "live" : "resuming");
  }

  /** The log this panel watches. */
  get logname() {
    return this.#sub.logname;
  }

  /**
   * The connection changed state: show whether this subscription is flowing.
   * @param {string} state
   */
  connection(state) {
    if (this.#sub.ended) return;
    this.#status(state === "live" ? "live" : "resuming");
  }

  /** Unsubscribes and stops updating. */
  close() {
    this.#closedByUser = true;
    clearInterval(this.#ticker);
    this.#sub.close();
    this.element.remove();
  }

  /**
   * The stored count is known: records after it are live (without it, those committed after the
   * panel opened, a second of clock difference allowed).
   * @param {number | undefined} count
   */
  #decideLive(count) {
    this.#liveAfter = count ?? Number.MAX_SAFE_INTEGER;
    for (const recno of this.#undecided) if (recno > this.#liveAfter) this.#live++;
    this.#undecided = [];
  }

  /** @param {GdpRecord} record */
  #onRecord(record) {
    this.#received++;
    if (this.#liveAfter === undefined) this.#undecided.push(record.recno);
    else if (
      record.recno > this.#liveAfter ||
      (this.#liveAfter === Number.MAX_SAFE_INTEGER && record.date.getTime() > this.#openedAt - 1000)
    ) this.#live++;
    if (record.encoding === "text") {
      const value = numberIn(record.data);
      if (value !== undefined) this.#chart.add(record.recno, value, record.date.getTime());
    }
    this.#pending.push(record);
    if (this.#pending.length > MAX_ROWS) {
      this.#pending.splice(0, this.#pending.length - MAX_ROWS);
    }
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    const wait = Math.max(0, this.#renderedAt + RENDER_MS - performance.now());
    setTimeout(() => requestAnimationFrame(() => this.#render()), wait);
  }

  /** Adds the records that arrived since the last frame at the top, and trims the bottom. */
  #render() {
    this.#renderQueued = false;
    this.#renderedAt = performance.now();
    const body = this.#parts.rows;
    const fragment = document.createDocumentFragment();
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      fragment.append(row(/** @type {GdpRecord} */ (this.#pending[i])));
    }
    body.prepend(fragment);
    this.#pending = [];
    while (body.childElementCount > MAX_ROWS) body.lastElementChild?.remove();
    this.#parts.capped.hidden = this.#received <= MAX_ROWS;
    this.#parts.total.textContent = String(this.#received);
    this.#parts.last.textContent = String(this.#sub.lastRecno);
    this.#parts.chart.hidden = this.#chart.size < 2;
    if (!this.#parts.chart.hidden) this.#chart.draw();
    this.#onProgress?.(this.logname, this.#sub.lastRecno);
  }

  #tick() {
    this.#parts.rate.textContent = String(this.#live - this.#liveAtTick);
    this.#liveAtTick = this.#live;
  }

  /** @param {GdpWsError} error */
  #onError(error) {
    this.#showError(error);
    this.#status("failed");
    if (this.#received === 0) this.#parts.records.hidden = true;
    clearInterval(this.#ticker);
  }

  /** @param {GdpWsError} error */
  #showError(error) {
    const box = this.#parts.error;
    box.hidden = false;
    box.dataset.code = String(error.code);
    box.replaceChildren(
      `${CODE_WORDS[error.code] ?? "Error"} (code ${error.code})`,
      Object.assign(document.createElement("code"), {
        textContent: error.message,
      }),
    );
  }

  /** @param {string} status */
  #status(status) {
    const badge = this.#parts.status;
    if (badge.dataset.status === "failed") return;
    badge.dataset.status = status;
    badge.textContent = status;
  }
}

/** @param {string} logname */
function panelElement(logname) {
  const panel = document.createElement("article");
  panel.className = "panel";
  panel.dataset.logname = logname;
  panel.innerHTML = `
    <header>
      <h3></h3>
      <span class="badge" data-part="status"></span>
      <button type="button" class="close" data-part="close" title="Unsubscribe">✕</button>
    </header>
    <div class="stats">
      <span title="Live records in the last second (not the stored ones replayed)"><b data-part="rate">0</b> records/s</span>
      <span><b data-part="total">0</b> received</span>
      <span>last recno <b data-part="last">–</b></span>
    </div>
    <canvas class="chart" data-part="chart" hidden></canvas>
    <p class="readout" data-part="readout" hidden></p>
    <div class="error" data-part="error" role="alert" hidden></div>
    <div class="records" data-part="records">
      <table>
        <thead><tr><th>recno</th><th>time</th><th>data</th></tr></thead>
        <tbody data-part="rows"></tbody>
      </table>
      <p class="capped" data-part="capped" hidden>Showing the newest ${MAX_ROWS} records.</p>
    </div>`;
  const title = /** @type {HTMLElement} */ (panel.querySelector("h3"));
  title.textContent = logname;
  title.title = logname;
  return panel;
}

/**
 * The elements of a panel that change.
 * @typedef {{ status: HTMLElement, close: HTMLElement, rate: HTMLElement, total: HTMLElement,
 *   last: HTMLElement, chart: HTMLCanvasElement, readout: HTMLElement, error: HTMLElement,
 *   records: HTMLElement, rows: HTMLElement, capped: HTMLElement }} Parts
 */

/**
 * @param {HTMLElement} panel
 * @returns {Parts}
 */
function parts(panel) {
  const get = (/** @type {string} */ name) => {
    const element = panel.querySelector(`[data-part="${name}"]`);
    if (!(element instanceof HTMLElement)) {
      throw new Error(`the panel has no ${name}`);
    }
    return element;
  };
  return {
    status: get("status"),
    close: get("close"),
    rate: get("rate"),
    total: get("total"),
    last: get("last"),
    chart: /** @type {HTMLCanvasElement} */ (get("chart")),
    readout: get("readout"),
    error: get("error"),
    records: get("records"),
    rows: get("rows"),
    capped: get("capped"),
  };
}

/** @param {GdpRecord} record */
function row(record) {
  const tr = document.createElement("tr");
  tr.dataset.recno = String(record.recno);
  const recno = cell("recno", String(record.recno));
  const clock = record.date.toLocaleTimeString(undefined, { hour12: false });
  const ms = String(record.date.getMilliseconds()).padStart(3, "0");
  const time = cell("time", `${clock}.${ms}`);
  time.title = record.date.toISOString();
  const data = cell("data", "");
  if (record.encoding === "base64") {
    data.append(
      Object.assign(document.createElement("span"), {
        className: "enc",
        textContent: "hex",
      }),
    );
    data.append(hex(record.data));
  } else {
    data.append(
      record.data.length > 500 ? `${record.data.slice(0, 500)}…` : record.data,
    );
  }
  tr.append(recno, time, data);
  return tr;
}

/**
 * @param {string} className
 * @param {string} text
 */
function cell(className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

/** The first bytes of a base64 payload in hex. @param {string} base64 */
function hex(base64) {
  const bytes = atob(base64);
  let out = "";
  for (let i = 0; i < Math.min(bytes.length, 64); i++) {
    out += bytes.charCodeAt(i).toString(16).padStart(2, "0") + " ";
  }
  return bytes.length > 64 ? `${out}… (${bytes.length} bytes)` : out.trimEnd();
}
