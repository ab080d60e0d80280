/**
 * One log of the embedded store as a {@linkcode LogHandle}: its row id and
 * the store that reads, follows and appends by it. Cheap, so every open gets
 * its own.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "./store.ts";
 *
 * const store = openEmbedded({ dataDir: Deno.makeTempDirSync() });
 * await store.create("demo");
 * const log = await store.open("demo"); // an EmbeddedLog
 * console.log(await log.last()); // 0
 * ```
 *
 * @module
 */

import type { GdpError } from "../../core/errors.ts";
import type { RecordTemplate } from "../../wire/events.ts";
import type { EncodedRecords, LogHandle, LogRecord, Timestamp, Unfollow } from "../backend.ts";
import { type EventStatements, readEvents } from "./event_sql.ts";
import type { LogRow } from "./store_sql.ts";
import { seekStored, type TimeStatements } from "./time_sql.ts";

/** The statements a handle reads with beside the store's own: events built in SQL, times. */
export interface StoreReads {
  events: EventStatements;
  times: TimeStatements;
}

/** What a handle asks of its store, by the log's row id. */
export interface LogsById {
  lastRecnoOf(logId: number): number;
  readRange(logId: number, from: number, count: number): LogRecord[];
  /** Runs `read` on {@linkcode StoreReads}; an error of SQLite's becomes a GdpError. */
  reading<T>(doing: string, read: (sql: StoreReads) => T): T;
  addFollower(
    logId: number,
    from: number,
    onRecord: (r: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow;
  appendTo(logId: number, data: Uint8Array): Promise<LogRecord>;
}

export class EmbeddedLog implements LogHandle {
  readonly name: string;
  readonly #store: LogsById;
  readonly #id: number;

  constructor(store: LogsById, row: LogRow) {
    this.#store = store;
    this.#id = row.id;
    this.name = row.name;
  }

  last(): Promise<number> {
    return Promise.resolve(this.#store.lastRecnoOf(this.#id));
  }

  async *read(from: number, count: number): AsyncIterable<LogRecord> {
    yield* this.#store.readRange(this.#id, Math.max(1, from), count);
  }

  /** Built by SQLite from `template` (event_sql.ts). */
  readEvents(
    from: number,
    count: number,
    template: RecordTemplate,
    options: { joined: boolean; budget: number; separator?: string },
  ): EncodedRecords | undefined {
    const query = { logId: this.#id, from, count, template, ...options };
    return this.#store.reading("reading records", (sql) => readEvents(sql.events, query));
  }

  /** One search of the timestamp index, and a look at the record before (time_sql.ts). */
  seek(ts: Timestamp, last: number): Promise<number> {
    const find = () =>
      this.#store.reading("finding a time", (sql) => seekStored(sql.times, this.#id, ts, last));
    return new Promise((resolve) => resolve(find()));
  }

  follow(
    from: number,
    onRecord: (record: LogRecord) => void,
    onError: (error: GdpError) => void,
  ): Unfollow {
    return this.#store.addFollower(this.#id, from, onRecord, onError);
  }

  append(data: Uint8Array): Promise<LogRecord> {
    return this.#store.appendTo(this.#id, data);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
