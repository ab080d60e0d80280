/**
 * The checks RFC 6455 §4.2.1 asks of a WebSocket opening handshake, made before
 * any upgrade, so a malformed one gets a 400 (or 426 for another version) that
 * names the problem instead of a 101 or a 500; and the 101 that accepts one.
 *
 * @example
 * ```ts
 * function upgradeOrRefuse(request: Request): Response | undefined {
 *   const problem = handshakeProblem(request.method, "HTTP/1.1", request.headers);
 *   if (problem) return Response.json({ error: problem.error }, { status: problem.status });
 * }
 * switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", ""); // the 101, with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
 * ```
 *
 * @module
 */

import type { ServerWebSocket } from "./websocket/mod.ts";
import { createHash } from "node:crypto";

/** What an upgrade handler gets besides the request: the connection, to accept. */
export interface RawUpgrade {
  /** `HTTP/1.1`, or whatever the request line said. */
  readonly httpVersion: string;
  /** Takes the connection over as a WebSocket; the 101 is written when the handler returns. */
  accept(options: { protocol?: string }): ServerWebSocket;
}

/** Why a handshake is refused, and with which HTTP status. */
export interface HandshakeProblem {
  status: 400 | 405 | 426;
  error: string;
}

/** The one protocol version RFC 6455 defines. */
export const WEBSOCKET_VERSION = "13";

/** What is wrong with an upgrade request, or undefined when nothing is. */
export function handshakeProblem(
  method: string,
  httpVersion: string,
  headers: Headers,
): HandshakeProblem | undefined {
  if (method !== "GET") return { status: 405, error: "a WebSocket upgrade must be a GET" };
  if (httpVersion !== "HTTP/1.1") {
    return { status: 400, error: "a WebSocket upgrade needs HTTP/1.1" };
  }
  const connection = (headers.get("connection") ?? "").toLowerCase().split(",").map((t) =>
    t.trim()
  );
  if (!connection.includes("upgrade")) {
    return { status: 400, error: "the Connection header must include Upgrade" };
  }
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== WEBSOCKET_VERSION) {
    return {
      status: 426,
      error: `Sec-WebSocket-Version must be ${WEBSOCKET_VERSION}, not ${version ?? "missing"}`,
    };
  }
  if (!isWebSocketKey(headers.get("sec-websocket-key"))) {
    return { status: 400, error: "Sec-WebSocket-Key must be 16 bytes in base64" };
  }
  return undefined;
}

/** True for a base64 encoding of 16 bytes (24 characters ending in "=="). */
function isWebSocketKey(key: string | null): boolean {
  return key !== null && /^[A-Za-z0-9+/]{22}==$/.test(key.trim());
}

const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The 101 accepting an upgrade with Sec-WebSocket-Key `key`, agreeing on `protocol` unless empty. */
export function switchingProtocols(key: string, protocol: string): Uint8Array {
  const accept = createHash("sha1").update(key.trim() + WEBSOCKET_GUID).digest("base64");
  const lines = [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${accept}`,
    ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
  ];
  return new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
}
