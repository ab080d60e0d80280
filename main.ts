/**
 * gdp-ws: a WebSocket gateway onto the Global Data Plane. This entry point
 * parses the command line and runs a subcommand (`serve` by default); see
 * `gdp-ws --help`.
 *
 * @module
 */

import { run } from "./src/cli/cli.ts";

if (import.meta.main) Deno.exit(await run(Deno.args));
