/**
 * A real WebSocket client for tests: queues every frame it receives and lets a
 * test await them one by one, with a timeout so a missing frame fails instead
 * of hanging.
 */

/** A response event as JSON, loosely typed for assertions. */
export interface WireEvent {
  logname?: string;
  id?: string | number;
  ep_stat: [number, string];
  type: number;
  datum?: {
    recno: number;
    data?: string;
    encoding?: string;
    ts: { tv_sec: number; tv_nsec: number; tv_accuracy: number };
  };
}

export class TestClient {
  readonly socket: WebSocket;
  /** Raw frames not yet taken. */
  readonly #frames: string[] = [];
  #waiter: (() => void) | undefined;
  readonly closed: Promise<CloseEvent>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => {
      this.#frames.push(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data));
      this.#waiter?.();
    };
    const { promise, resolve } = Promise.withResolvers<CloseEvent>();
    socket.onclose = (e) => {
      resolve(e);
      this.#waiter?.();
    };
    this.closed = promise;
  }

  /** Opens a socket; `headers` (Deno's extension) sets Origin or Authorization as a browser could not. */
  static connect(
    url: string,
    protocols?: string | string[],
    headers?: Record<string, string>,
  ): Promise<TestClient> {
    const socket = headers
      ? new WebSocket(url, { protocols, headers } as unknown as string[])
      : new WebSocket(url, protocols);
    const client = new TestClient(socket);
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(client);
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
  }

  /** Sends an object as JSON text, or a string or bytes as they are. */
  send(request: unknown): void {
    if (typeof request === "string" || request instanceof Uint8Array) this.socket.send(request);
    else this.socket.send(JSON.stringify(request));
  }

  /** The next raw frame. */
  async nextFrame(timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0) {
      if (this.socket.readyState === WebSocket.CLOSED) {
        throw new Error("socket closed while waiting");
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return this.#frames.shift()!;
  }

  /** The next event (one frame holding one JSON object). */
  async next(timeoutMs?: number): Promise<WireEvent> {
    return JSON.parse(await this.nextFrame(timeoutMs)) as WireEvent;
  }

  /** The next `n` events. */
  async take(n: number, timeoutMs?: number): Promise<WireEvent[]> {
    const out: WireEvent[] = [];
    while (out.length < n) out.push(await this.next(timeoutMs));
    return out;
  }

  /** True when no frame arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#frames.length === 0;
  }

  /** Frames received and not yet taken. */
  get pending(): number {
    return this.#frames.length;
  }

  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}

/** Polls `condition` every few ms until it holds; throws after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The recnos of the DATA events in `events`. */
export function recnos(events: WireEvent[]): number[] {
  return events.filter((e) => e.type === 1).map((e) => e.datum!.recno);
}

/** `from`, `from + 1`, … `to`. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
