/**
 * Where the log subcommands (`create`, `append`, `info`, `ls`) act: a gateway
 * over its HTTP API (the default), or, only when `--data DIR` is given, the
 * embedded store in that folder directly. Both give the same answers in the
 * same shapes, so a command's output does not depend on the path it took.
 *
 * @example
 * ```ts
 * import { DEFAULTS } from "../config.ts";
 *
 * const target = openTarget(new Map([["url", "ws://127.0.0.1:8080/"]]), DEFAULTS);
 * try {
 *   for await (const info of target.list()) console.log(info.human ?? info.name);
 * } finally {
 *   await target.close();
 * }
 * ```
 *
 * @module
 */

import { type Config, ConfigError } from "../config.ts";
import { GatewayTarget } from "./gateway_target.ts";
import { gatewayAddress } from "./gateway_address.ts";
import { StoreTarget } from "./store_target.ts";

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

/** The store with `--data`, else the gateway `--url` (or its defaults) names. */
export function openTarget(values: ReadonlyMap<string, string>, defaults: Config): LogTarget {
  const data = values.get("data");
  if (data === undefined) return new GatewayTarget(gatewayAddress(values, defaults));
  for (const flag of ["url", "token"]) {
    if (values.has(flag)) {
      throw new ConfigError(`--data works on a store directly; it does not go with --${flag}`);
    }
  }
  return new StoreTarget(data);
}
