/**
 * `gdp-ws tail`: prints a log's records as they arrive through a running
 * gateway, one line each: recno, ISO timestamp, data. It is a client of the
 * gateway through client/gdp-ws.js, so a dropped connection or a restarted
 * gateway costs no record: it reconnects and resumes after the last one printed.
 *
 * @module
 */

import { connect, type GdpRecord, type GdpWsError } from "../../client/gdp-ws.js";

export interface TailOptions {
  url: string;
  logname: string;
  startrec: number;
  numrec: number;
  /** A bearer token, sent as the `bearer.TOKEN` subprotocol. */
  token?: string;
  /** Where lines go (standard output by default). */
  write?: (line: string) => void;
}

/** Subscribes and prints until DONE or an error; resolves to the exit code. */
export function tail(options: TailOptions): Promise<number> {
  const write = options.write ?? ((line: string) => console.log(line));
  const { promise, resolve } = Promise.withResolvers<number>();
  const client = connect(options.url, {
    ...(options.token === undefined ? {} : { token: options.token }),
    onState: (state) => {
      if (state === "reconnecting") console.error(`gdp-ws: reconnecting to ${options.url}`);
    },
  });
  const finish = (code: number) => {
    client.close();
    resolve(code);
  };
  client.subscribe(options.logname, {
    start: options.startrec,
    count: options.numrec,
    onRecord: (record) => write(formatRecord(record)),
    onDone: () => finish(0),
    onError: (error: GdpWsError) => {
      console.error(`gdp-ws: ${error.message}`);
      finish(1);
    },
    onWarning: (error: GdpWsError) => console.error(`gdp-ws: ${error.message}`),
  });
  return promise;
}

/** `recno<TAB>ISO time<TAB>data`; a payload that is not UTF-8 is shown as `base64:…`. */
export function formatRecord(record: GdpRecord): string {
  const data = record.encoding === "base64" ? `base64:${record.data}` : record.data;
  return `${record.recno}\t${record.date.toISOString()}\t${data}`;
}
