/**
 * What the log subcommands (`create`, `append`, `info`, `ls`) act on: a gateway
 * over its HTTP API (gateway_target.ts, the default), or, only when `--data DIR`
 * is given, the embedded store in that folder directly (store_target.ts). Both
 * give the same answers in the same shapes, so a command's output does not
 * depend on the path it took. log_commands.ts chooses one.
 *
 * @example
 * ```ts
 * async function names(target: LogTarget): Promise<string[]> {
 *   const out: string[] = [];
 *   for await (const info of target.list()) out.push(info.human ?? info.name);
 *   return out;
 * }
 * ```
 *
 * @module
 */

/** A log's info as `GET /logs/NAME` answers it: name, human, count, first, last. */
export type LogInfoObject = Record<string, unknown> & {
  name: string;
  human?: string;
  count: number;
};

/** What the log subcommands need of a gateway or a store. */
export interface LogTarget {
  /** Creates the log, or finds the one that exists; its info. */
  create(logname: string): Promise<LogInfoObject>;
  /** The log's info; a missing log is error 600. */
  info(logname: string): Promise<LogInfoObject>;
  /** Appends one record; its recno. Creates the log when the gateway or store may. */
  append(logname: string, data: Uint8Array): Promise<number>;
  /** Every log, a page at a time, in label order. */
  list(): AsyncIterable<LogInfoObject>;
  close(): Promise<void>;
}

/** The flags that choose a target. */
export const TARGET_FLAGS = { url: "value", token: "value", data: "value" } as const;
