/**
 * Raw HTTP/1.x over a bare TCP socket, for requests no HTTP client will send
 * (malformed upgrades, HTTP/1.0, partial heads).
 */

const encoder = new TextEncoder();

/** A response head and as much body as `content-length` says. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/** Sends `text` and reads one response; rejects if the server closes first. */
export function rawRequest(port: number, text: string): Promise<RawResponse> {
  return rawRequestAt("127.0.0.1", port, text);
}

/** {@linkcode rawRequest} to another address of this machine. */
export async function rawRequestAt(
  hostname: string,
  port: number,
  text: string,
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname, port });
  try {
    await conn.write(encoder.encode(text));
    return await readResponse(conn);
  } finally {
    conn.close();
  }
}

/** Reads one response from `conn` (only its head when it answers a HEAD request). */
export async function readResponse(conn: Deno.Conn, headOnly = false): Promise<RawResponse> {
  let bytes = new Uint8Array(0);
  const buffer = new Uint8Array(16 * 1024);
  const decoder = new TextDecoder();
  for (;;) {
    const end = indexOf(bytes, CRLF2);
    if (end >= 0) {
      const [statusLine, ...lines] = decoder.decode(bytes.subarray(0, end)).split("\r\n");
      const headers = new Headers();
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const status = Number(statusLine!.split(" ")[1]);
      const rest = bytes.subarray(end + 4);
      if (headOnly) return { status, headers, body: "" };
      const body = headers.get("transfer-encoding") === "chunked"
        ? dechunk(rest)
        : rest.length >= Number(headers.get("content-length") ?? 0)
        ? rest
        : undefined;
      if (body) return { status, headers, body: decoder.decode(body) };
    }
    const n = await conn.read(buffer);
    if (n === null) {
      throw new Error(`closed before a full response: ${JSON.stringify(decoder.decode(bytes))}`);
    }
    const next = new Uint8Array(bytes.length + n);
    next.set(bytes);
    next.set(buffer.subarray(0, n), bytes.length);
    bytes = next;
  }
}

const CRLF = encoder.encode("\r\n");
const CRLF2 = encoder.encode("\r\n\r\n");

function indexOf(bytes: Uint8Array, pattern: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= bytes.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

/** The body of a complete chunked message, or undefined while its last chunk is missing. */
function dechunk(bytes: Uint8Array): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const line = indexOf(bytes, CRLF, at);
    if (line < 0) return undefined;
    const size = parseInt(new TextDecoder().decode(bytes.subarray(at, line)), 16);
    if (size === 0) {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let offset = 0;
      for (const part of parts) {
        out.set(part, offset);
        offset += part.length;
      }
      return out;
    }
    if (bytes.length < line + 2 + size + 2) return undefined;
    parts.push(bytes.subarray(line + 2, line + 2 + size));
    at = line + 2 + size + 2;
  }
}

/** The request head of a WebSocket upgrade, with `extra` header lines and `drop`ped ones. */
export function upgradeHead(
  port: number,
  { method = "GET", version = "HTTP/1.1", drop = [] as string[], extra = [] as string[] } = {},
): string {
  const lines = [
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
  ].filter((line) => !drop.some((name) => line.toLowerCase().startsWith(name.toLowerCase())));
  return `${method} / ${version}\r\n${[...lines, ...extra].join("\r\n")}\r\n\r\n`;
}
