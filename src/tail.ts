/**
 * `gdp-ws tail`: a WebSocket client of a running gateway that prints a log's
 * records as they arrive, one line each: recno, ISO timestamp, data.
 *
 * @module
 */

export interface TailOptions {
  url: string;
  logname: string;
  startrec: number;
  numrec: number;
  /** Where lines go (standard output by default). */
  write?: (line: string) => void;
}

interface Event {
  type?: number;
  ep_stat?: [number, string];
  datum?: {
    recno: number;
    data: string;
    encoding?: string;
    ts: { tv_sec: number; tv_nsec: number };
  };
}

/** Subscribes and prints until DONE, an error, or the connection closes; resolves to the exit code. */
export function tail(options: TailOptions): Promise<number> {
  const write = options.write ?? ((line: string) => console.log(line));
  const { promise, resolve } = Promise.withResolvers<number>();
  const socket = new WebSocket(options.url);
  let code = 0;
  socket.onopen = () => {
    const { logname, startrec, numrec } = options;
    socket.send(JSON.stringify({ logname, startrec, numrec }));
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(String(message.data)) as Event;
    if (event.type === 1 && event.datum) return write(formatDatum(event.datum));
    if (event.type !== 2) {
      console.error(`gdp-ws: ${event.ep_stat?.[1] ?? "unexpected event"}`);
      code = 1;
    }
    socket.close();
  };
  socket.onerror = () => {
    console.error(`gdp-ws: cannot reach the gateway at ${options.url}`);
    code = 1;
  };
  socket.onclose = () => resolve(code);
  return promise;
}

function formatDatum(datum: NonNullable<Event["datum"]>): string {
  const ms = datum.ts.tv_sec * 1000 + Math.floor(datum.ts.tv_nsec / 1e6);
  const data = datum.encoding === "base64" ? `base64:${datum.data}` : datum.data;
  return `${datum.recno}\t${new Date(ms).toISOString()}\t${data}`;
}
