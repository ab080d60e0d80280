/**
 * What the tests of the network edge share: clients that misbehave (silent
 * connections, heads whose body never comes), waits with deadlines, and what
 * a gateway process shows from outside (its /readyz, its RSS, its stderr).
 */

import net from "node:net";
import type { ServeProcess } from "./process.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Waits until `check` resolves true, polling; throws naming `what` after `timeoutMs`. */
export async function until(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The `front` and `limits` parts of a gateway's /readyz. */
export interface EdgeState {
  connections: number;
  front: {
    open: number;
    handshakes: number;
    refusing: number;
    acceptPauses: number;
  };
  limits: Record<string, { limit: number; refused: number }>;
}

export async function edgeState(port: number): Promise<EdgeState> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  return await response.json() as EdgeState;
}

/** `GET /healthz`'s status, or 0 when no answer came within `timeoutMs`. */
export async function healthz(port: number, timeoutMs = 5_000): Promise<number> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/** The resident set of process `pid`, in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}

/** Lines of a gateway's stderr that say it ran out of descriptors, panicked or threw. */
export function fatalLines(gateway: ServeProcess): string[] {
  return gateway.logs.map((l) => JSON.stringify(l))
    .filter((l) => /Too many open files|EMFILE|panicked|stacker|Uncaught/i.test(l));
}

/** Opens a TCP connection from `localAddress` (127.0.0.2: another client address on loopback). */
export function connectFrom(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Opens `n` connections, `wave` at a time, writing `text` on each (nothing when empty). */
export async function openMany(
  port: number,
  n: number,
  text = "",
  wave = 100,
): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i += wave) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(wave, n - i) }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        if (text) await conn.write(encoder.encode(text));
        return conn;
      }),
    );
    conns.push(...opened);
  }
  return conns;
}

/** A POST head announcing `length` bytes of body, none of which are sent. */
export function stalledPost(path = "/logs/stalled", length = 1_000_000): string {
  return `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\n\r\n`;
}

/** What the server sent until it closed (or reset) the connection, or `timeoutMs` passed. */
export async function readUntilClosed(
  conn: Deno.Conn,
  timeoutMs = 10_000,
): Promise<{ text: string; closed: boolean }> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(16 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    for (;;) {
      const n = await Promise.race([conn.read(buffer).catch(() => null), timeout]);
      if (n === "timeout") return { text: chunks.join(""), closed: false };
      if (n === null) return { text: chunks.join(""), closed: true };
      chunks.push(decoder.decode(buffer.subarray(0, n)));
    }
  } finally {
    clearTimeout(timer);
  }
}

export function closeAll(conns: Iterable<{ close(): void }>): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Closed by the server already.
    }
  }
}

/** `promise`, or a rejection saying `what` did not happen within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
