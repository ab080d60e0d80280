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
import type { EncodedRecords, LogHandle, LogRecord, Unfollow } from "../backend.ts";
import type { LogRow } from "./store_sql.ts";

/** What a handle asks of its store, by the log's row id. */
export interface LogsById {
  lastRecnoOf(logId: number): number;
  readRange(logId: number, from: number, count: number): LogRecord[];
  readEvents(
    logId: number,
    from: number,
    count: number,
    template: RecordTemplate,
    options: { joined: boolean; budget: number },
  ): EncodedRecords | undefined;
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

  readEvents(
    from: number,
    count: number,
    template: RecordTemplate,
    options: { joined: boolean; budget: number },
  ): EncodedRecords | undefined {
    return this.#store.readEvents(this.#id, from, count, template, options);
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
