/**
 * The cases every proxy configuration in deploy/ must pass (issue 22), run by
 * nginx_test.ts, haproxy_test.ts and caddy_test.ts: the real proxy, started
 * from the deploy file with only its ports, upstreams and certificate paths
 * substituted, in front of a real gateway process under the binary's grants,
 * on plain HTTP with `--public-origin https://gw.example.org` and
 * `--trust-proxy 127.0.0.1`. Clients speak TLS to the proxy, asking for
 * gw.example.org (a throwaway CA signed its certificate), and so does
 * Chromium, loading the console from the public origin.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { within } from "../helpers/edge.ts";
import { readResponse } from "../helpers/raw_http.ts";
import { RawWebSocket } from "../helpers/raw_ws.ts";
import { type ServeProcess } from "../helpers/process.ts";
import {
  deployFile,
  OTHER_ADDRESS,
  PROXIES,
  type ProxyKind,
  proxySkipReason,
  PUBLIC_NAME,
  type RunningProxy,
  startProxy,
  type ThrowawayCert,
  throwawayCert,
  tlsConnect,
} from "../helpers/proxies.ts";
import { serveShipped } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Debian's Chromium, as tests/gateway/console_browser_test.ts drives it. */
const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"];

/**
 * The console at https://gw.example.org:PORT/ in Chromium, the name mapped to
 * 127.0.0.1 (the throwaway CA is not in its store, so certificate errors are
 * ignored): its WebSocket goes live and an EventSource gets record 1.
 */
async function inChromium(proxy: RunningProxy): Promise<void> {
  if (!existsSync(CHROMIUM) && Deno.env.get("CI") !== "true") {
    console.log(`SKIPPED: the browser step needs Chromium at ${CHROMIUM}`);
    return;
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${PUBLIC_NAME} 127.0.0.1`],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`https://${PUBLIC_NAME}:${proxy.port}/`);
    await page.locator('#state[data-state="live"]').waitFor({ timeout: 15_000 });
    const data = await page.evaluate(() =>
      new Promise<string>((resolve, reject) => {
        const source = new EventSource("/logs/demo.proxied/events?start=1");
        source.onmessage = (event) => {
          source.close();
          resolve(JSON.parse(event.data).datum.data);
        };
        source.onerror = () => reject(new Error("the EventSource failed"));
      })
    );
    assert.equal(data, "through the proxy");
  } finally {
    await browser.close();
  }
}

/** Connections one client address may hold at the gateway in these tests. */
const PER_ADDRESS = 3;

/** The head of a request to the proxy for `path`, as a browser on the public origin sends it. */
function head(
  proxy: RunningProxy,
  path: string,
  { upgrade = false, origin = `https://${PUBLIC_NAME}:${proxy.port}`, extra = [] as string[] } = {},
): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${PUBLIC_NAME}:${proxy.port}`,
    `Origin: ${origin}`,
    ...(upgrade
      ? [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
      ]
      : []),
    ...extra,
  ];
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** A WebSocket through the proxy, from `from` (an address of this machine). */
async function socketThrough(
  proxy: RunningProxy,
  cert: ThrowawayCert,
  options: { origin?: string; extra?: string[]; from?: string } = {},
) {
  const conn = await tlsConnect(proxy.port, cert.ca, options.from);
  return await RawWebSocket.handshake(conn, head(proxy, "/", { upgrade: true, ...options }));
}

/** Reads an event stream's body as it arrives, chunked or not. */
class StreamReader {
  readonly #conn: Deno.Conn;
  #raw = "";
  #text = "";
  #chunked = false;
  #headDone = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #more(): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(buffer);
    if (n === null) throw new Error(`the stream ended; it had: ${JSON.stringify(this.#text)}`);
    this.#raw += decoder.decode(buffer.subarray(0, n), { stream: true });
    this.#decode();
  }

  #decode(): void {
    if (!this.#headDone) return;
    if (!this.#chunked) {
      this.#text += this.#raw;
      this.#raw = "";
      return;
    }
    for (;;) {
      const line = this.#raw.indexOf("\r\n");
      if (line < 0) return;
      const size = parseInt(this.#raw.slice(0, line), 16);
      if (this.#raw.length < line + 2 + size + 2) return;
      this.#text += this.#raw.slice(line + 2, line + 2 + size);
      this.#raw = this.#raw.slice(line + 2 + size + 2);
    }
  }

  /** The response head's status and headers. */
  async head(): Promise<{ status: number; headers: string }> {
    while (!this.#raw.includes("\r\n\r\n")) await this.#more();
    const end = this.#raw.indexOf("\r\n\r\n");
    const text = this.#raw.slice(0, end);
    this.#raw = this.#raw.slice(end + 4);
    this.#chunked = /^transfer-encoding:\s*chunked/im.test(text);
    this.#headDone = true;
    this.#decode();
    return { status: Number(text.split(" ")[1]), headers: text };
  }

  /** Reads until the body so far matches `pattern`. */
  async until(pattern: RegExp): Promise<string> {
    while (!pattern.test(this.#text)) await this.#more();
    return this.#text;
  }
}

/** Appends `text` to `name` at the gateway itself (a local client may). */
async function append(gateway: ServeProcess, name: string, text: string): Promise<number> {
  const url = `http://127.0.0.1:${gateway.port}/logs/${name}`;
  const response = await fetch(url, { method: "POST", body: text });
  const reply = await response.json() as { recno: number };
  assert.equal(response.status, 201, JSON.stringify(reply));
  return reply.recno;
}

/** Waits until the gateway counts `n` open connections (`/readyz`). */
async function connections(gateway: ServeProcess, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const readyz = await (await fetch(`http://127.0.0.1:${gateway.port}/readyz`)).json();
    if (readyz.connections === n) return;
    if (Date.now() > deadline) throw new Error(`${readyz.connections} connections, not ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Registers the test of deploy's configuration for `kind`. */
export function proxySuite(kind: ProxyKind): void {
  const { file, lang } = PROXIES[kind];
  Deno.test(`docs/deploy.md has deploy/${file} verbatim`, async () => {
    const docs = await Deno.readTextFile(new URL("../../docs/deploy.md", import.meta.url));
    const block = "```" + lang + "\n" + deployFile(kind) + "```\n";
    assert.ok(docs.includes(block), `docs/deploy.md lacks deploy/${file} as a ${lang} code block`);
  });
  const skip = proxySkipReason(kind);
  if (skip) console.log(`SKIPPED: ${skip}`);
  Deno.test({
    name:
      `${kind} from deploy/${file}: browser origin over TLS (raw and Chromium), unbuffered events, per-client limits`,
    ignore: skip !== undefined,
    fn: () => withTempDir(`gdp-ws-${kind}-`, (dir) => run(kind, dir)),
  });
}

async function run(kind: ProxyKind, dir: string): Promise<void> {
  const cert = await throwawayCert(dir);
  const data = join(dir, "data");
  await Deno.mkdir(data);
  const gateway = await serveShipped({ data }, [
    "--public-origin",
    `https://${PUBLIC_NAME}`,
    "--trust-proxy",
    "127.0.0.1",
    "--max-connections-per-address",
    String(PER_ADDRESS),
  ], { setup: "ulimit -n 1024" });
  const proxyDir = join(dir, kind);
  await Deno.mkdir(proxyDir);
  let proxy: RunningProxy | undefined;
  const open: RawWebSocket[] = [];
  try {
    proxy = await startProxy(kind, {
      dir: proxyDir,
      cert,
      upstreams: [`127.0.0.1:${gateway.port}`],
    });
    const through = proxy;

    // A page on https://gw.example.org:PORT is the gateway's own origin: the proxy says so.
    const page = await socketThrough(through, cert);
    assert.equal(page.status, 101, `the page's upgrade: ${page.head}`);
    open.push(page.ws!);
    await append(gateway, "demo.proxied", "through the proxy");
    await page.ws!.sendText(JSON.stringify({ logname: "demo.proxied", startrec: 1, numrec: 0 }));
    const frame = await within(page.ws!.nextFrame(), 10_000, "a DATA event");
    const event = JSON.parse(decoder.decode(frame.payload));
    assert.equal(event.datum?.data, "through the proxy");
    const foreign = await socketThrough(through, cert, { origin: "https://evil.example" });
    assert.equal(foreign.status, 403, "another origin is refused, through the proxy too");

    // Plain HTTP on the public name goes to HTTPS.
    const plain = await Deno.connect({ hostname: "127.0.0.1", port: through.httpPort });
    try {
      await plain.write(encoder.encode(
        `GET /logs HTTP/1.1\r\nHost: ${PUBLIC_NAME}\r\nConnection: close\r\n\r\n`,
      ));
      const redirect = await readResponse(plain, true);
      assert.ok([301, 308].includes(redirect.status), `redirect: ${redirect.status}`);
      assert.match(redirect.headers.get("location") ?? "", /^https:\/\/gw\.example\.org[:/]/);
    } finally {
      plain.close();
    }

    // Per client: this one has PER_ADDRESS sockets (the page's and more); one more is refused,
    // whatever forwarding headers it sends itself; a client from another address is not.
    for (let i = 1; i < PER_ADDRESS; i++) {
      const more = await socketThrough(through, cert);
      assert.equal(more.status, 101);
      open.push(more.ws!);
    }
    const spoofing = await socketThrough(through, cert, {
      extra: [
        "X-Forwarded-For: 203.0.113.9",
        "Forwarded: for=203.0.113.9",
        "X-Real-IP: 203.0.113.9",
      ],
    });
    assert.equal(
      spoofing.status,
      503,
      "one more from this client is refused, spoofed headers or not",
    );
    if (OTHER_ADDRESS) {
      const other = await socketThrough(through, cert, { from: OTHER_ADDRESS });
      assert.equal(
        other.status,
        101,
        `a client from ${OTHER_ADDRESS}, behind the same proxy, is not`,
      );
      open.push(other.ws!);
    } else {
      console.log("SKIPPED: the second client: this machine has no non-loopback IPv4 address");
    }
    // An event stream (this client may hold one more once its sockets are gone): each
    // event arrives while the stream goes on.
    for (const ws of open.splice(0)) ws.close();
    await connections(gateway, 0);
    const conn = await tlsConnect(through.port, cert.ca);
    try {
      await conn.write(encoder.encode(head(through, "/logs/demo.proxied/events?start=1")));
      const stream = new StreamReader(conn);
      const { status, headers } = await within(stream.head(), 10_000, "the stream's head");
      assert.equal(status, 200, headers);
      assert.match(headers, /content-type: text\/event-stream/i);
      await within(stream.until(/^id: 1$/m), 10_000, "record 1");
      await append(gateway, "demo.proxied", "live");
      const text = await within(stream.until(/^id: 2$/m), 10_000, "record 2, unbuffered");
      assert.match(text, /"data":"live"/);
    } finally {
      conn.close();
    }

    await inChromium(through);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
    assert.match(metrics, /gdpws_forwarded_requests_total\{result="trusted"\} [1-9]/);
    assert.doesNotMatch(metrics, /gdpws_forwarded_requests_total\{result="(refused|ignored)"\}/);
    const peers = gateway.logs.map((l) => (l.properties as { peer?: string } | undefined)?.peer);
    assert.ok(
      peers.some((p) => /^127\.0\.0\.1 via 127\.0\.0\.1:\d+$/.test(p ?? "")),
      "logs name the client",
    );
    if (OTHER_ADDRESS) {
      const pattern = new RegExp(
        `^${OTHER_ADDRESS.replaceAll(".", "\\.")} via 127\\.0\\.0\\.1:\\d+$`,
      );
      assert.ok(
        peers.some((p) => pattern.test(p ?? "")),
        "the log names the client behind the proxy",
      );
    }
  } catch (error) {
    throw new Error(`${error}\n--- ${kind} said:\n${proxy?.output() ?? ""}`, { cause: error });
  } finally {
    for (const ws of open) ws.close();
    await proxy?.stop();
    await gateway.stop();
  }
}
