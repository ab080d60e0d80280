// @ts-check
/**
 * A subscriber as a user of the npm package writes it: it imports "gdp-ws-client" by its package
 * name, so it runs only from a project the packed tarball was installed into (package_test.ts
 * copies it there and runs it under Node and under Deno). Arguments: URL LOGNAME COUNT [TOKEN].
 * It prints one JSON line per state change and record, and the error that ended it, if any.
 */

import process from "node:process";
import { connect } from "gdp-ws-client";

const [url = "", logname = "", count = "0", token] = process.argv.slice(2);
const client = connect(url, {
  minDelayMs: 20,
  maxDelayMs: 200,
  ...(token ? { token } : {}),
  onState: (state) => console.log(JSON.stringify({ state })),
});
try {
  for await (const record of client.subscribe(logname, { start: 1, count: Number(count) })) {
    console.log(JSON.stringify({ recno: record.recno, data: record.data }));
  }
} catch (error) {
  const { name, code, message, refused } = /** @type {import("gdp-ws-client").GdpWsError} */ (
    error
  );
  console.log(JSON.stringify({ error: { name, code, message, refused } }));
  process.exitCode = 1;
} finally {
  client.close();
}
