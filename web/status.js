// @ts-check
/**
 * The console's status card: the gateway's own state from GET /status (public, no token),
 * polled every POLL_MS: backend and readiness, uptime, connections, subscriptions, feeds, and
 * records per second in (appends) and out (deliveries), from the difference of its totals.
 *
 * @module
 */

/** How often the card asks, in ms. */
export const POLL_MS = 2000;

/**
 * @typedef {object} GatewayStatus
 * @property {string} backend
 * @property {boolean} ready
 * @property {string} state
 * @property {number} uptimeSec
 * @property {number} connections
 * @property {number} subscriptions
 * @property {number} feeds
 * @property {number} recordsIn
 * @property {number} recordsOut
 */

export class StatusCard {
  /** @type {HTMLElement} */ #root;
  /** @type {{ at: number, status: GatewayStatus } | undefined} */ #previous;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #timer;

  /** @param {HTMLElement} root the card, with `[data-stat]` cells and a `[data-part=state]` badge */
  constructor(root) {
    this.#root = root;
  }

  /** Polls until the page goes away (and while it is hidden, only on return). */
  start() {
    const poll = async () => {
      if (document.visibilityState === "visible") await this.refresh();
      this.#timer = setTimeout(poll, POLL_MS);
    };
    void poll();
  }

  /** Asks once and shows the answer. */
  async refresh() {
    /** @type {GatewayStatus} */
    let status;
    try {
      const response = await fetch("/status", { cache: "no-store" });
      status = await response.json();
    } catch {
      this.#show("state", "unreachable");
      this.#root.dataset.state = "down";
      this.#previous = undefined;
      return;
    }
    const now = performance.now();
    const previous = this.#previous;
    this.#previous = { at: now, status };
    this.#root.dataset.state = status.ready ? "ok" : "down";
    this.#show(
      "state",
      status.ready ? `${status.backend} · ready` : `${status.backend} · ${status.state}`,
    );
    this.#show("uptime", uptime(status.uptimeSec));
    this.#show("connections", String(status.connections));
    this.#show("subscriptions", String(status.subscriptions));
    this.#show("feeds", String(status.feeds));
    // A rate needs two answers; a restarted gateway (totals went down) starts again.
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const fresh = !previous || status.recordsIn < previous.status.recordsIn ||
      status.recordsOut < previous.status.recordsOut || seconds <= 0;
    this.#show("in", fresh ? "–" : rate((status.recordsIn - previous.status.recordsIn) / seconds));
    this.#show(
      "out",
      fresh ? "–" : rate((status.recordsOut - previous.status.recordsOut) / seconds),
    );
  }

  /** Stops polling. */
  stop() {
    clearTimeout(this.#timer);
  }

  /** @param {string} name @param {string} text */
  #show(name, text) {
    const cell = this.#root.querySelector(`[data-stat="${name}"]`);
    if (cell) cell.textContent = text;
  }
}

/** @param {number} perSecond */
function rate(perSecond) {
  if (perSecond >= 10_000) return `${Math.round(perSecond / 1000)}k`;
  return perSecond >= 100 ? String(Math.round(perSecond)) : String(Math.round(perSecond * 10) / 10);
}

/** @param {number} sec */
function uptime(sec) {
  const s = Math.floor(sec);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
