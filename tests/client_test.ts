/** The client library (client/gdp-ws.js) under Deno; client_node_test.ts runs the same tests under Node. */

import { clientTests } from "./client/suite.js";

Deno.test.sanitizer({ ops: true, resources: true });

for (const { name, fn } of clientTests) {
  Deno.test({ name: `deno: ${name}`, fn });
}
