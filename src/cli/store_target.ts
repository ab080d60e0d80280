/**
 * The log subcommands on an embedded store folder directly (`--data DIR`), for
 * a store no gateway serves. A gateway serving the same folder sees the
 * changes (SQLite's WAL), but without a gateway's limits or tokens.
 *
 * @example
 * ```ts
 * const store = new StoreTarget("/tmp/gdp-ws-data");
 * console.log(await store.append("demo", new TextEncoder().encode("21.5"))); // its recno
 * await store.close();
 * ```
 *
 * @module
 */

import { type Backend, openOrCreate } from "../backend/backend.ts";
import { openEmbedded } from "../backend/embedded/store.ts";
import { infoObject } from "../wire/events.ts";
import type { LogInfoObject, LogTarget } from "./log_target.ts";

/** Logs read per page by {@linkcode StoreTarget.list}. */
const PAGE = 500;

/** An embedded store folder. */
export class StoreTarget implements LogTarget {
  readonly #store: Backend;

  constructor(dataDir: string) {
    // A one-shot command skips the start-up check (serve and check read the pages).
    this.#store = openEmbedded({ dataDir, check: false });
  }

  async create(logname: string): Promise<LogInfoObject> {
    return infoObject(await this.#store.create(logname)) as LogInfoObject;
  }

  async info(logname: string): Promise<LogInfoObject> {
    return infoObject(await this.#store.info(logname)) as LogInfoObject;
  }

  async append(logname: string, data: Uint8Array): Promise<number> {
    const handle = await openOrCreate(this.#store, logname);
    try {
      return (await handle.append(data)).recno;
    } finally {
      await handle.close();
    }
  }

  async *list(): AsyncIterable<LogInfoObject> {
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.list({ limit: PAGE, ...(after ? { after } : {}) });
      for (const info of page) yield infoObject(info) as LogInfoObject;
      const last = page.at(-1);
      if (page.length < PAGE || !last) return;
      after = last.human ?? last.name;
    }
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}
