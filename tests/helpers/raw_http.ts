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
export async function rawRequest(port: number, text: string): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(text));
    return await readResponse(conn);
  } finally {
    conn.close();
  }
}

/** Reads one response from `conn`. */
export async function readResponse(conn: Deno.Conn): Promise<RawResponse> {
  let bytes = new Uint8Array(0);
  const buffer = new Uint8Array(16 * 1024);
  const decoder = new TextDecoder();
  for (;;) {
    const text = decoder.decode(bytes);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
      const headers = new Headers();
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const length = Number(headers.get("content-length") ?? 0);
      const body = text.slice(end + 4);
      if (encoder.encode(body).length >= length) {
        return { status: Number(statusLine!.split(" ")[1]), headers, body };
      }
    }
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`closed before a full response: ${JSON.stringify(text)}`);
    const next = new Uint8Array(bytes.length + n);
    next.set(bytes);
    next.set(buffer.subarray(0, n), bytes.length);
    bytes = next;
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
