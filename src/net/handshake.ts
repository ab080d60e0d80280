/**
 * The checks RFC 6455 §4.2.1 asks of a WebSocket opening handshake, made before
 * any upgrade, so a malformed one gets a 400 (or 426 for another version) that
 * names the problem instead of a 101 or a 500.
 *
 * @example
 * ```ts
 * function upgradeOrRefuse(request: Request): Response | undefined {
 *   const problem = handshakeProblem(request.method, "HTTP/1.1", request.headers);
 *   if (problem) return Response.json({ error: problem.error }, { status: problem.status });
 * }
 * ```
 *
 * @module
 */

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
