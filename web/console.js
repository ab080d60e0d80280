// @ts-check
/**
 * The gdp-ws console, served at GET /: one client connection (client/gdp-ws.js) shared by every
 * panel, the log list from GET /logs (kept current), the subscribe and append forms, the
 * connection state, the gateway's status card, and what to do when the gateway refuses the page:
 * a token form on 401 (the token is kept for the tab in sessionStorage, never in the address
 * bar), the reason in words otherwise.
 *
 * @module
 */

import { connect } from "../client/gdp-ws.js";
import { CODE_WORDS, Panel } from "./panel.js";
import { StatusCard } from "./status.js";

/** @typedef {import("../client/gdp-ws.js").GdpWsError} GdpWsError */

/** How often the log list is reloaded while the page is visible, in ms. */
const LOGS_POLL_MS = 5000;
const TOKEN_KEY = "gdp-ws-token";

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
/** @type {Set<Panel>} */
const panels = new Set();
const stateBadge = byId("state");
byId("where").textContent = wsUrl;

const token = pageToken();
showTokenInUse();

const client = connect(wsUrl, {
  ...(token ? { token } : {}),
  onState: (state) => {
    stateBadge.dataset.state = state;
    stateBadge.textContent = state;
    for (const panel of panels) panel.connection(state);
    if (state === "live") notice(undefined);
  },
  onError: (error) => {
    if (error.code === 401) askForToken(error);
    else notice(error, error.refused ? "" : " Retrying…");
  },
});

/**
 * The token for a gateway that requires one: typed into the token form, or given as
 * `/#token=JWT`. It is kept for this tab only (sessionStorage) and taken out of the address bar.
 * @returns {string | undefined}
 */
function pageToken() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match?.[1]) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** The request headers that carry the token. @returns {Record<string, string>} */
function authHeaders() {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * Shows why the gateway refused the page, or hides the notice.
 * @param {{ code: number, message: string } | undefined} error
 * @param {string} [after] a sentence after the reason
 */
function notice(error, after = "") {
  const box = byId("notice");
  box.hidden = !error;
  if (!error) return;
  box.dataset.code = String(error.code);
  const words = CODE_WORDS[error.code] ?? "The gateway cannot be used";
  box.replaceChildren(
    `${words} (code ${error.code}).${after}`,
    Object.assign(document.createElement("code"), { textContent: error.message }),
  );
}

/**
 * The gateway wants a token (401): the token form, with the gateway's reason.
 * @param {{ code: number, message: string }} error
 */
function askForToken(error) {
  const card = byId("token-card");
  card.hidden = false;
  card.dataset.mode = "ask";
  byId("token-why").textContent = token
    ? `The gateway refused this tab's token: ${error.message}. Enter another.`
    : "This gateway requires a token (a JWT with read and append claims).";
  notice(error);
  const input = field(form("token"), "token");
  if (document.activeElement !== input) input.focus();
}

/** With a token in use, the token card offers to forget it. */
function showTokenInUse() {
  const card = byId("token-card");
  card.hidden = !token;
  card.dataset.mode = "in-use";
  byId("token-why").textContent = "This tab uses a token.";
}

form("token").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = field(form("token"), "token").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  // A new page and connection with it; the address bar never holds it.
  location.reload();
});

byId("forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

/**
 * The log's record count now, or undefined when it cannot be known (then a panel tells live
 * records from the replay by their time). A log that does not exist yet has none.
 * @param {string} logname
 * @returns {Promise<number | undefined>}
 */
async function storedCount(logname) {
  try {
    const response = await fetch(`/logs/${encodeURIComponent(logname)}`, {
      headers: authHeaders(),
    });
    if (response.status === 404) return 0;
    if (!response.ok) return undefined;
    return /** @type {{ count: number }} */ (await response.json()).count;
  } catch {
    return undefined;
  }
}

/**
 * @param {string} logname
 * @param {number} start
 * @param {number} count
 * @param {Date} [since] instead of `start`: from the first record stamped at or after it
 */
function watch(logname, start, count, since) {
  const container = byId("panels");
  byId("no-panels").hidden = true;
  /** @type {Panel} */
  const panel = new Panel(client, {
    logname,
    start,
    count,
    ...(since ? { since } : {}),
    storedCount: storedCount(logname),
    onProgress: showCount,
  }, () => {
    panels.delete(panel);
    byId("no-panels").hidden = panels.size > 0;
  });
  panels.add(panel);
  container.prepend(panel.element);
}

/** @param {string} id */
function form(id) {
  return /** @type {HTMLFormElement} */ (byId(id));
}

/** @param {HTMLFormElement} f @param {string} name */
function field(f, name) {
  return /** @type {HTMLInputElement} */ (f.elements.namedItem(name));
}

form("subscribe").addEventListener("submit", (event) => {
  event.preventDefault();
  const f = form("subscribe");
  const logname = field(f, "logname").value.trim();
  if (!logname) return;
  // A datetime-local value has no zone: the browser reads it as local time.
  const since = field(f, "since").value;
  watch(
    logname,
    Number(field(f, "startrec").value || 0),
    Number(field(f, "numrec").value || 0),
    since ? new Date(since) : undefined,
  );
});

form("append").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = form("append");
  const result = byId("append-result");
  const logname = field(f, "logname").value.trim();
  result.className = "result";
  result.textContent = "…";
  try {
    const appended = await client.append(logname, field(f, "data").value);
    result.className = "result ok";
    result.textContent = `stored as record ${appended.recno}`;
    showCount(logname, appended.recno);
    void loadLogs();
  } catch (error) {
    const e = /** @type {{ code?: number, message: string }} */ (error);
    result.className = "result bad";
    result.textContent = e.code ? `${e.code}: ${e.message}` : e.message;
  }
});

byId("refresh").addEventListener("click", () => void loadLogs());

/** The log list's count of `logname`, raised to `recno` when a panel or an append saw more. */
function showCount(/** @type {string} */ logname, /** @type {number} */ recno) {
  for (const button of byId("logs").querySelectorAll("button[data-logname]")) {
    if (!(button instanceof HTMLElement) || button.dataset.logname !== logname) continue;
    const count = button.querySelector(".count");
    if (count && recno > Number(button.dataset.count ?? 0)) {
      button.dataset.count = String(recno);
      count.textContent = `${recno} rec`;
    }
  }
}

/** The log list (the embedded store lists its logs; the libgdp backend lists none). */
async function loadLogs() {
  const list = byId("logs");
  /** @type {{ name: string, human?: string, count: number }[]} */
  let logs;
  try {
    const response = await fetch("/logs?limit=200", { headers: authHeaders() });
    const body = await response.json();
    if (!response.ok) {
      const [code, message] = /** @type {{ ep_stat: [number, string] }} */ (body).ep_stat;
      if (code === 401) askForToken({ code, message });
      list.replaceChildren(
        item("empty", `${CODE_WORDS[code] ?? "Cannot list logs"} (code ${code}).`),
      );
      return;
    }
    logs = body;
  } catch (error) {
    list.replaceChildren(
      item("empty", `Cannot list logs: ${/** @type {Error} */ (error).message}`),
    );
    return;
  }
  if (logs.length === 0) {
    list.replaceChildren(
      item("empty", "No logs listed. Name one above to watch it."),
    );
    return;
  }
  list.replaceChildren(...logs.map((log) => {
    const name = log.human ?? log.name;
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.logname = name;
    button.dataset.count = String(log.count);
    button.title = `Watch the last 50 records of ${name}, then new ones`;
    button.append(span("name", name), span("count", `${log.count} rec`));
    button.addEventListener("click", () => {
      field(form("append"), "logname").value = name;
      watch(name, -50, 0);
    });
    const li = document.createElement("li");
    li.append(button);
    return li;
  }));
}

/** @param {string} className @param {string} text */
function item(className, text) {
  const li = document.createElement("li");
  li.className = className;
  li.textContent = text;
  return li;
}

/** @param {string} className @param {string} text */
function span(className, text) {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  return s;
}

/** Reloads the list every LOGS_POLL_MS while the page is visible. */
function pollLogs() {
  const again = () => setTimeout(pollLogs, LOGS_POLL_MS);
  if (document.visibilityState !== "visible") return void again();
  void loadLogs().finally(again);
}

pollLogs();
new StatusCard(byId("status-card")).start();
