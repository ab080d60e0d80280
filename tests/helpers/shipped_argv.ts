/**
 * Prints, as a JSON array, the `deno` arguments that run a gateway as the
 * binary built for the given paths runs it ({@linkcode shippedRun}): for
 * tests/client/gateway_process.js, which runs under Node too and so cannot
 * import TypeScript.
 *
 *   deno run --allow-read tests/helpers/shipped_argv.ts --data DIR [--auth-secret FILE]
 *
 * @example
 * ```ts
 * import { shippedRun } from "./shipped.ts";
 *
 * // What this script prints for --data /var/lib/gdp-ws:
 * console.log(JSON.stringify(shippedRun({ data: "/var/lib/gdp-ws" })));
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { shippedRun } from "./shipped.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { data: { type: "string" }, "auth-secret": { type: "string" } },
  });
  if (values.data === undefined) throw new Error("shipped_argv.ts: --data DIR is required");
  const authSecret = values["auth-secret"];
  console.log(JSON.stringify(shippedRun({
    data: values.data,
    ...(authSecret === undefined ? {} : { authSecret }),
  })));
}
