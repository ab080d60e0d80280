/**
 * A WebSocket client on a bare TCP socket, so a test can stop reading (a slow
 * consumer) and later parse every frame the server sent, close frame included.
 */

const encoder = new TextEncoder();

/**
 * Sends a WebSocket upgrade request with extra `headers` and returns the
 * response's status and body, for handshakes the server refuses (401, 403).
 */
export async function upgradeStatus(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; head: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await conn.write(encoder.encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        `Sec-WebSocket-Version: 13\r\n${extra}\r\n`,
    ));
    const buffer = new Uint8Array(16 * 1024);
    const n = await conn.read(buffer);
    const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    return { status: Number(head.split(" ")[1]), head };
  } finally {
    conn.close();
  }
}

export class RawWebSocket {
  readonly #conn: Deno.Conn;
  #buffer = new Uint8Array(0);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects and completes the opening handshake. */
  static async connect(port: number, path = "/"): Promise<RawWebSocket> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const ws = new RawWebSocket(conn);
    try {
      await conn.write(encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ));
      const head = await ws.#readUntilHeaderEnd();
      if (!head.startsWith("HTTP/1.1 101")) throw new Error(`upgrade refused: ${head}`);
      return ws;
    } catch (error) {
      ws.close(); // a refused upgrade must not leave its connection open
      throw error;
    }
  }

  /**
   * Sends `head` (an upgrade request) on `conn`, a TLS connection say, and
   * reads the answer's head: a socket on 101, else the status (`conn` closed).
   */
  static async handshake(
    conn: Deno.Conn,
    head: string,
  ): Promise<{ status: number; head: string; ws?: RawWebSocket }> {
    const ws = new RawWebSocket(conn);
    try {
      await conn.write(encoder.encode(head));
      const answer = await ws.#readUntilHeaderEnd();
      const status = Number(answer.split(" ")[1]);
      if (status === 101) return { status, head: answer, ws };
      ws.close();
      return { status, head: answer };
    } catch (error) {
      ws.close();
      throw error;
    }
  }

  /** Sends each write at once (TCP_NODELAY): small writes stay small segments. */
  noDelay(): void {
    (this.#conn as Deno.TcpConn).setNoDelay(true);
  }

  /** Sends one masked text frame. */
  async sendText(text: string): Promise<void> {
    await this.sendBytes(maskedFrame(0x1, encoder.encode(text)));
  }

  /** Sends bytes as they are (a frame from {@linkcode maskedFrame}, or a part of one). */
  async sendBytes(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Reads the next frame, whatever its opcode. */
  nextFrame(): Promise<{ opcode: number; payload: Uint8Array }> {
    return this.#readFrame();
  }

  /** Reads frames until a close frame; returns its code and how many text frames came first. */
  async readUntilClose(): Promise<{ code: number; reason: string; textFrames: number }> {
    let textFrames = 0;
    for (;;) {
      const { opcode, payload } = await this.#readFrame();
      if (opcode === 0x1) textFrames++;
      if (opcode === 0x8) {
        const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
        return { code, reason: new TextDecoder().decode(payload.subarray(2)), textFrames };
      }
    }
  }

  /** Reads until `n` text frames have arrived; returns how many did before a close frame. */
  async readUntilText(n: number): Promise<number> {
    let count = 0;
    while (count < n) {
      const { opcode } = await this.#readFrame();
      if (opcode === 0x1) count++;
      if (opcode === 0x8) break;
    }
    return count;
  }

  /** Ends what this side sends (a TCP half-close); what the gateway sends can still be read. */
  async closeWrite(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch {
      // Already closed by the gateway.
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #fill(min: number): Promise<void> {
    while (this.#buffer.length < min) {
      const chunk = new Uint8Array(64 * 1024);
      const n = await this.#conn.read(chunk);
      if (n === null) throw new Error("connection closed without a close frame");
      const next = new Uint8Array(this.#buffer.length + n);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = next;
    }
  }

  #take(n: number): Uint8Array {
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  async #readUntilHeaderEnd(): Promise<string> {
    for (;;) {
      const text = new TextDecoder().decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#take(end + 4);
        return text.slice(0, end);
      }
      await this.#fill(this.#buffer.length + 1);
    }
  }

  async #readFrame(): Promise<{ opcode: number; payload: Uint8Array }> {
    await this.#fill(2);
    const opcode = this.#buffer[0]! & 0x0f;
    let length = this.#buffer[1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      await this.#fill(4);
      length = (this.#buffer[2]! << 8) | this.#buffer[3]!;
      header = 4;
    } else if (length === 127) {
      await this.#fill(10);
      length = Number(
        new DataView(this.#buffer.buffer, this.#buffer.byteOffset + 2, 8).getBigUint64(0),
      );
      header = 10;
    }
    await this.#fill(header + length);
    this.#take(header);
    return { opcode, payload: this.#take(length) };
  }
}

/** Options of {@linkcode maskedFrame}: how to break the rules on purpose. */
export interface FrameOptions {
  fin?: boolean;
  /** RSV1-3 bits (0 to 7). */
  rsv?: number;
  /** Send the frame unmasked, which clients must not. */
  unmasked?: boolean;
  /** The length written in the header, if not the payload's. */
  declaredLength?: number;
}

/** A client frame: masked, FIN set, unless `options` say otherwise. */
export function maskedFrame(
  opcode: number,
  payload: Uint8Array,
  options: FrameOptions = {},
): Uint8Array {
  const length = options.declaredLength ?? payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const maskBytes = options.unmasked ? 0 : 4;
  const header = 2 + lengthBytes + maskBytes;
  const frame = new Uint8Array(header + payload.length);
  frame[0] = (options.fin === false ? 0 : 0x80) | ((options.rsv ?? 0) << 4) | opcode;
  const maskBit = options.unmasked ? 0 : 0x80;
  if (lengthBytes === 0) frame[1] = maskBit | length;
  else if (lengthBytes === 2) {
    frame[1] = maskBit | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = maskBit | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  if (maskBytes) frame.set(mask, 2 + lengthBytes);
  payload.forEach((b, i) => frame[header + i] = options.unmasked ? b : b ^ mask[i % 4]!);
  return frame;
}
