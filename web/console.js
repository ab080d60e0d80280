// @ts-check
/**
 * The gdp-ws console, served at GET /: one client connection (client/gdp-ws.js) shared by every
 * panel, the log list from GET /logs, the subscribe and append forms, the connection state.
 *
 * @module
 */

import { connect } from "../client/gdp-ws.js";
import { Panel } from "./panel.js";

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
/** @type {Set<Panel>} */
const panels = new Set();
const stateBadge = byId("state");
byId("where").textContent = wsUrl;

const token = pageToken();

const client = connect(wsUrl, {
  ...(token ? { token } : {}),
  onState: (state) => {
    stateBadge.dataset.state = state;
    stateBadge.textContent = state;
    for (const panel of panels) panel.connection(state);
  },
});

/**
 * The token for a gateway that requires one: open the console as `/#token=JWT`. It is kept for
 * this tab only (sessionStorage) and taken out of the address bar.
 * @returns {string | undefined}
 */
function pageToken() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match?.[1]) {
    sessionStorage.setItem("gdp-ws-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("gdp-ws-token") ?? undefined;
}

/**
 * @param {string} logname
 * @param {number} start
 * @param {number} count
 */
function watch(logname, start, count) {
  const container = byId("panels");
  byId("no-panels").hidden = true;
  /** @type {Panel} */
  const panel = new Panel(client, { logname, start, count }, () => {
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
  watch(
    logname,
    Number(field(f, "startrec").value || 0),
    Number(field(f, "numrec").value || 0),
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
    void loadLogs();
  } catch (error) {
    const e = /** @type {{ code?: number, message: string }} */ (error);
    result.className = "result bad";
    result.textContent = e.code ? `${e.code}: ${e.message}` : e.message;
  }
});

byId("refresh").addEventListener("click", () => void loadLogs());

/** The log list (the embedded store lists its logs; the libgdp backend lists none). */
async function loadLogs() {
  const list = byId("logs");
  /** @type {{ name: string, human?: string, count: number }[]} */
  let logs;
  try {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const response = await fetch("/logs?limit=200", { headers });
    logs = await response.json();
    if (!response.ok) throw new Error(JSON.stringify(logs));
  } catch (error) {
    list.replaceChildren(
      item(
        "empty",
        `Cannot list logs: ${/** @type {Error} */ (error).message}`,
      ),
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

void loadLogs();
