/**
 * Raw HTTP/1.1 exchanges for parser tests: send bytes (maybe several requests
 * in one write), then read every response the server sends until it closes,
 * or until it has been silent for a while. Responses are parsed strictly
 * enough to count them: a status line, headers, and a body framed by
 * content-length, chunked coding, or the connection's end.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

/** One response as read. */
export interface ExchangeResponse {
  /** The status line as sent: `HTTP/1.1 404 Not Found`. */
  statusLine: string;
  status: number;
  headers: Headers;
  body: string;
}

/** What a server did with a request's bytes. */
export interface Exchange {
  /** The client's port: what the server saw as the request's remote port. */
  localPort: number;
  responses: ExchangeResponse[];
  /** How the exchange ended: the server closed (or reset), or said nothing more for `quietMs`. */
  ended: "closed" | "quiet";
}

export interface ExchangeOptions {
  /** How long a server that keeps the connection open may stay silent: the exchange is over. */
  quietMs?: number;
  /** The first request is a HEAD: its answer has no body. */
  firstIsHead?: boolean;
  /** Writes the request in this many pieces. */
  pieces?: number;
  /** Ends the client's side after the request: the server sees the end of its input. */
  end?: boolean;
}

/** Bytes of a request written as text: each char a byte (latin1), so `\xa0` is one byte. */
export function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Sends `request` to 127.0.0.1:`port` and reads what comes back. */
export async function exchange(
  port: number,
  request: Uint8Array | string,
  { quietMs = 1_500, firstIsHead = false, pieces = 1, end = false }: ExchangeOptions = {},
): Promise<Exchange> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const localPort = (conn.localAddr as Deno.NetAddr).port;
  const bytes = typeof request === "string" ? bytesOf(request) : request;
  const responses: ExchangeResponse[] = [];
  let text = "";
  let ended: Exchange["ended"] = "quiet";
  try {
    // In `pieces` writes, each cut at a point of its own: the server must not care.
    let at = 0;
    for (let i = 1; i <= pieces && at < bytes.length; i++) {
      const next = i === pieces ? bytes.length : Math.floor((bytes.length * i) / pieces);
      await writeAll(conn, bytes.subarray(at, next)).catch(() => {});
      at = next;
    }
    if (end) await conn.closeWrite().catch(() => {});
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await readWithin(conn, buffer, quietMs);
      if (n === "quiet") break;
      if (n === null) {
        ended = "closed";
        break;
      }
      text += decoder.decode(buffer.subarray(0, n));
      for (;;) {
        const parsed = parseResponse(text, firstIsHead && responses.length === 0);
        if (!parsed) break;
        responses.push(parsed.response);
        text = text.slice(parsed.length);
      }
    }
  } finally {
    conn.close();
  }
  // A close-delimited body (no length, not chunked) ends with the connection.
  if (ended === "closed" && text.length > 0) {
    const head = parseHead(text);
    if (head) responses.push({ ...head.response, body: text.slice(head.length) });
  }
  return { localPort, responses, ended };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** A read, null at the end (or a reset), "quiet" after `ms` of nothing. */
async function readWithin(
  conn: Deno.Conn,
  buffer: Uint8Array,
  ms: number,
): Promise<number | null | "quiet"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<"quiet">((resolve) => timer = setTimeout(() => resolve("quiet"), ms));
  const read = conn.read(buffer).catch(() => null);
  try {
    return await Promise.race([read, quiet]);
  } finally {
    clearTimeout(timer);
  }
}

function parseHead(text: string): { response: ExchangeResponse; length: number } | undefined {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    } catch {
      // A header Headers will not take: not one the tests look at.
    }
  }
  const status = Number(statusLine.split(" ")[1]);
  return { response: { statusLine, status, headers, body: "" }, length: end + 4 };
}

/** One complete response at the start of `text`, and its length; undefined while incomplete. */
function parseResponse(
  text: string,
  headOnly: boolean,
): { response: ExchangeResponse; length: number } | undefined {
  const head = parseHead(text);
  if (!head) return undefined;
  const { response } = head;
  if (headOnly || response.status < 200 || response.status === 204 || response.status === 304) {
    return head;
  }
  const length = response.headers.get("content-length");
  if (length !== null) {
    const end = head.length + Number(length);
    if (text.length < end) return undefined;
    return { response: { ...response, body: text.slice(head.length, end) }, length: end };
  }
  if (response.headers.get("transfer-encoding")?.toLowerCase() !== "chunked") return undefined;
  let at = head.length;
  let body = "";
  for (;;) {
    const line = text.indexOf("\r\n", at);
    if (line < 0) return undefined;
    const size = parseInt(text.slice(at, line), 16);
    if (size === 0) {
      const end = text.indexOf("\r\n", line + 2);
      if (end < 0) return undefined;
      return { response: { ...response, body }, length: end + 2 };
    }
    if (text.length < line + 2 + size + 2) return undefined;
    body += text.slice(line + 2, line + 2 + size);
    at = line + 2 + size + 2;
  }
}

/** `text` as bytes (UTF-8), for callers that build requests as ordinary strings. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
