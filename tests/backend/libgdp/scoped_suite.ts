/**
 * The protocol suite against an already compiled libgdp double whose path is
 * the first script argument. libgdp_gateway_test.ts runs this file in a child
 * `deno test` with only `--allow-net --allow-ffi=<path>`: the compiled
 * gateway's grants. Not named *_test.ts, so `deno task test` does not run it
 * directly.
 */

import { libgdpFixtureAt } from "../../helpers/libgdp_double.ts";
import { protocolSuite } from "../../protocol_suite.ts";

const path = Deno.args[0];
if (!path) throw new Error("usage: deno test --allow-net --allow-ffi=LIB libgdp_suite.ts -- LIB");
await protocolSuite("libgdp (scoped)", () => libgdpFixtureAt(path));
